// SPDX-License-Identifier: GPL-2.0

//! Files (`struct file`), as seen by file operations.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h).

use crate::{bindings, types::Opaque};

/// An open file, borrowed for the duration of a file operation.
///
/// # Invariants
///
/// The file is valid and its reference count is non-zero for as long as the reference is used.
///
/// # Examples
///
/// ```
/// use kernel::fs::File;
///
/// fn is_nonblocking(file: &File) -> bool {
///     file.flags() & kernel::bindings::O_NONBLOCK != 0
/// }
/// ```
#[repr(transparent)]
pub struct File {
    inner: Opaque<bindings::file>,
}

impl File {
    /// Creates a reference to a [`File`] from a valid pointer.
    ///
    /// # Safety
    ///
    /// The caller must ensure that `ptr` points at a valid file and that its refcount does not
    /// reach zero during `'a`.
    #[inline]
    pub unsafe fn from_raw_file<'a>(ptr: *const bindings::file) -> &'a File {
        // SAFETY: `File` is a transparent wrapper and the caller guarantees validity for `'a`.
        unsafe { &*ptr.cast() }
    }

    /// Returns a raw pointer to the inner C struct.
    #[inline]
    pub fn as_ptr(&self) -> *mut bindings::file {
        self.inner.get()
    }

    /// Returns the flags the file was opened with (`O_*`).
    #[inline]
    pub fn flags(&self) -> u32 {
        // SAFETY: By the type invariants the file is valid. `f_flags` is only changed by
        // `fcntl(F_SETFL)`; a racy read sees either value.
        unsafe { core::ptr::addr_of!((*self.as_ptr()).f_flags).read_volatile() }
    }
}
