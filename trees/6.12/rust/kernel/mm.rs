// SPDX-License-Identifier: GPL-2.0

//! Memory management: address spaces, the mmap lock and the per-VMA lock.
//!
//! C headers: [`include/linux/mm.h`](srctree/include/linux/mm.h),
//! [`include/linux/mmap_lock.h`](srctree/include/linux/mmap_lock.h) and
//! [`include/linux/sched/mm.h`](srctree/include/linux/sched/mm.h).
//!
//! An address space ([`MmWithUser`]) has one `mmap_lock` and, since 6.4, a read lock per VMA.
//! Page faults and lookups first try the per-VMA read lock
//! ([`MmWithUser::lock_vma_under_rcu`]) and fall back to the mmap read lock ([`MmapReadGuard`]).
//! A [`VmaRef`] can only be reached through a guard and does not outlive it. The write side is
//! in [`mmap_lock`].
//!
//! This file gives 6.12 the types and names that later kernels have upstream.

use crate::{
    bindings,
    sync::aref::{ARef, AlwaysRefCounted},
    types::{NotThreadSafe, Opaque},
};
use core::{ops::Deref, ptr::NonNull};

pub mod virt;
use virt::VmaRef;

/// A memory-management context (`struct mm_struct`) that may have no users left.
///
/// A reference obtained with `mmgrab()` keeps the `mm_struct` allocated but not its address
/// space: page tables and VMAs may already be gone. Use [`Mm::mmget_not_zero`] to get an
/// [`MmWithUser`] before touching them.
///
/// # Invariants
///
/// Values of this type are always refcounted using `mmgrab`.
#[repr(transparent)]
pub struct Mm {
    mm: Opaque<bindings::mm_struct>,
}

// SAFETY: It is safe to call `mmdrop` on another thread than where `mmgrab` was called.
unsafe impl Send for Mm {}
// SAFETY: All methods on `Mm` can be called in parallel from several threads.
unsafe impl Sync for Mm {}

// SAFETY: By the type invariants, this type is always refcounted with `mmgrab`.
unsafe impl AlwaysRefCounted for Mm {
    fn inc_ref(&self) {
        // SAFETY: The pointer is valid since self is a reference.
        unsafe { bindings::mmgrab(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller is giving up their refcount.
        unsafe { bindings::mmdrop(obj.cast().as_ptr()) };
    }
}

impl Mm {
    /// Creates a reference to an `mm_struct` from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point at an `mm_struct` whose `mm_count` is non-zero for the lifetime `'a`.
    #[inline]
    pub unsafe fn from_raw<'a>(ptr: *const bindings::mm_struct) -> &'a Mm {
        // SAFETY: `Mm` is a transparent wrapper and the caller guarantees validity for `'a`.
        unsafe { &*ptr.cast() }
    }

    /// Returns the raw pointer to the inner `mm_struct`.
    #[inline]
    pub fn as_raw(&self) -> *mut bindings::mm_struct {
        self.mm.get()
    }

    /// Takes a user reference (`mmget_not_zero`), failing if the address space is gone.
    #[inline]
    pub fn mmget_not_zero(&self) -> Option<ARef<MmWithUser>> {
        // SAFETY: The pointer is valid since self is a reference.
        let success = unsafe { bindings::mmget_not_zero(self.as_raw()) };
        if success {
            // SAFETY: We just took a user reference, which `ARef` now owns.
            Some(unsafe { ARef::from_raw(NonNull::new_unchecked(self.as_raw().cast())) })
        } else {
            None
        }
    }
}

/// A memory-management context with a live address space (`mm_users` is non-zero).
///
/// # Invariants
///
/// Values of this type are always refcounted using `mmget`, or borrowed from a context that holds
/// such a reference (for example from a VMA, which belongs to a live address space).
///
/// # Examples
///
/// Looking up the VMA that contains an address, first under the per-VMA lock, then, if that fails,
/// under the mmap read lock:
///
/// ```
/// use kernel::mm::MmWithUser;
///
/// fn vma_start(mm: &MmWithUser, addr: usize) -> Option<usize> {
///     if let Some(vma) = mm.lock_vma_under_rcu(addr) {
///         return Some(vma.start());
///     }
///     let guard = mm.mmap_read_lock();
///     guard.vma_lookup(addr).map(|vma| vma.start())
/// }
///
/// // The KUnit thread has no address space of its own: make an empty one.
/// // SAFETY: `mm_alloc` returns an `mm_struct` with one user reference, or NULL.
/// let raw = unsafe { kernel::bindings::mm_alloc() };
/// let raw = core::ptr::NonNull::new(raw).ok_or(ENOMEM)?;
/// // SAFETY: We own the user reference returned by `mm_alloc`.
/// let mm: kernel::sync::aref::ARef<MmWithUser> =
///     unsafe { kernel::sync::aref::ARef::from_raw(raw.cast()) };
/// assert_eq!(vma_start(&mm, 0x10000), None);
/// let read = mm.mmap_read_lock();
/// assert!(mm.mmap_read_trylock().is_some());
/// drop(read);
/// # Ok::<(), Error>(())
/// ```
#[repr(transparent)]
pub struct MmWithUser {
    mm: Mm,
}

// SAFETY: It is safe to call `mmput` on another thread than where `mmget` was called.
unsafe impl Send for MmWithUser {}
// SAFETY: All methods on `MmWithUser` can be called in parallel from several threads.
unsafe impl Sync for MmWithUser {}

// SAFETY: By the type invariants, this type is always refcounted with `mmget`.
unsafe impl AlwaysRefCounted for MmWithUser {
    fn inc_ref(&self) {
        // SAFETY: The pointer is valid since self is a reference.
        unsafe { bindings::mmget(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller is giving up their refcount.
        unsafe { bindings::mmput(obj.cast().as_ptr()) };
    }
}

impl Deref for MmWithUser {
    type Target = Mm;

    #[inline]
    fn deref(&self) -> &Mm {
        &self.mm
    }
}

impl MmWithUser {
    /// Creates a reference to an `mm_struct` with users from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point at an `mm_struct` whose `mm_users` is non-zero for the lifetime `'a`.
    #[inline]
    pub unsafe fn from_raw<'a>(ptr: *const bindings::mm_struct) -> &'a MmWithUser {
        // SAFETY: `MmWithUser` is a transparent wrapper and the caller guarantees validity.
        unsafe { &*ptr.cast() }
    }

    /// Takes the per-VMA read lock of the VMA containing `addr`, without the mmap lock.
    ///
    /// Returns `None` if there is no such VMA, or if the lock could not be taken right now (the
    /// VMA is write-marked or being changed, or a spurious failure); callers then fall back to
    /// [`MmWithUser::mmap_read_lock`], or use [`MmWithUser::with_vma`], which does both.
    ///
    /// `lock_vma_under_rcu()` is not exported to modules: this function is deliberately not
    /// inline, so that the call lives in the kernel crate, which modules may call.
    ///
    /// Without `CONFIG_PER_VMA_LOCK` there is no per-VMA lock, and this always returns `None`.
    #[inline(never)]
    pub fn lock_vma_under_rcu(&self, addr: usize) -> Option<VmaReadGuard<'_>> {
        #[cfg(CONFIG_PER_VMA_LOCK)]
        {
            // SAFETY: We hold a user reference to the mm, so it has an address space.
            let vma = unsafe { bindings::lock_vma_under_rcu(self.as_raw(), addr) };
            if !vma.is_null() {
                // INVARIANT: A non-NULL return is read-locked, and the lock is ours to release.
                return Some(VmaReadGuard {
                    // SAFETY: The VMA is valid while its read lock, which the guard owns, is
                    // held.
                    vma: unsafe { VmaRef::from_raw(vma) },
                    _nts: NotThreadSafe,
                });
            }
        }
        #[cfg(not(CONFIG_PER_VMA_LOCK))]
        let _ = addr;
        None
    }

    /// Takes the mmap read lock.
    #[inline]
    pub fn mmap_read_lock(&self) -> MmapReadGuard<'_> {
        // SAFETY: The pointer is valid since self is a reference.
        unsafe { bindings::mmap_read_lock(self.as_raw()) };
        // INVARIANT: We just took the read lock.
        MmapReadGuard {
            mm: self,
            _nts: NotThreadSafe,
        }
    }

    /// Tries to take the mmap read lock without sleeping.
    #[inline]
    pub fn mmap_read_trylock(&self) -> Option<MmapReadGuard<'_>> {
        // SAFETY: The pointer is valid since self is a reference.
        if unsafe { bindings::mmap_read_trylock(self.as_raw()) } {
            // INVARIANT: We just took the read lock.
            Some(MmapReadGuard {
                mm: self,
                _nts: NotThreadSafe,
            })
        } else {
            None
        }
    }
}

/// A per-VMA read lock, released on drop (`vma_end_read`).
///
/// Holding it keeps the VMA from being changed or freed, without holding the mmap lock. Do not
/// take the mmap lock of the same address space while holding it: writers take the mmap write
/// lock first and then wait for VMA readers.
///
/// # Invariants
///
/// `vma` is read-locked with the per-VMA lock and that lock is owned by this guard.
pub struct VmaReadGuard<'a> {
    vma: &'a VmaRef,
    // The lock is released by the thread that took it.
    _nts: NotThreadSafe,
}

impl Deref for VmaReadGuard<'_> {
    type Target = VmaRef;

    #[inline]
    fn deref(&self) -> &VmaRef {
        self.vma
    }
}

impl Drop for VmaReadGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: By the type invariants we own the VMA read lock.
        unsafe { bindings::vma_end_read(self.vma.as_ptr()) };
    }
}

/// The mmap read lock of an address space, released on drop.
///
/// # Invariants
///
/// The mmap read lock of `mm` is held and owned by this guard.
pub struct MmapReadGuard<'a> {
    mm: &'a MmWithUser,
    // The lock is released by the thread that took it.
    _nts: NotThreadSafe,
}

impl<'a> MmapReadGuard<'a> {
    /// Returns the VMA containing `addr`, if any.
    #[inline]
    pub fn vma_lookup(&self, addr: usize) -> Option<&VmaRef> {
        // SAFETY: By the type invariants we hold the mmap read lock, as `vma_lookup` requires.
        let vma = unsafe { bindings::vma_lookup(self.mm.as_raw(), addr) };
        if vma.is_null() {
            return None;
        }
        // SAFETY: The VMA is valid while the mmap read lock is held, that is while `self` is
        // borrowed.
        Some(unsafe { VmaRef::from_raw(vma) })
    }
}

impl Drop for MmapReadGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: By the type invariants we own the mmap read lock.
        unsafe { bindings::mmap_read_unlock(self.mm.as_raw()) };
    }
}
