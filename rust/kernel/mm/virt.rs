// SPDX-License-Identifier: GPL-2.0

//! Virtual memory areas (VMAs).
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h).
//!
//! Each type here stands for a VMA together with a lock that makes reading it meaningful:
//!
//! - [`VmaRef`]: under the mmap lock or the per-VMA read lock;
//! - [`VmaMixedMap`]: a [`VmaRef`] with `VM_MIXEDMAP` set, into which pages may be inserted;
//! - [`VmaWriteLocked`]: write-marked under the mmap write lock;
//! - [`VmaNew`]: being set up by an `mmap` file operation, before it is visible to anyone else.

use super::{
    vm_ops::{VmOperations, VmOpsTable},
    MmWithUser,
};
use crate::{
    bindings,
    error::{code::*, to_result, Result},
    fs::File,
    page::Page,
    sync::{Arc, ArcBorrow},
    types::{ForeignOwnable, Opaque},
};
use core::ptr;

/// VMA flags (`vm_flags_t`) and their values.
pub mod flags {
    /// A set of VMA flags.
    #[allow(non_camel_case_types)]
    pub type vm_flags_t = crate::bindings::vm_flags_t;

    /// Mapping is readable.
    pub const READ: vm_flags_t = crate::bindings::VM_READ as vm_flags_t;
    /// Mapping is writable.
    pub const WRITE: vm_flags_t = crate::bindings::VM_WRITE as vm_flags_t;
    /// Mapping is executable.
    pub const EXEC: vm_flags_t = crate::bindings::VM_EXEC as vm_flags_t;
    /// Mapping is shared.
    pub const SHARED: vm_flags_t = crate::bindings::VM_SHARED as vm_flags_t;
    /// `mprotect` may add `READ`.
    pub const MAYREAD: vm_flags_t = crate::bindings::VM_MAYREAD as vm_flags_t;
    /// `mprotect` may add `WRITE`.
    pub const MAYWRITE: vm_flags_t = crate::bindings::VM_MAYWRITE as vm_flags_t;
    /// `mprotect` may add `EXEC`.
    pub const MAYEXEC: vm_flags_t = crate::bindings::VM_MAYEXEC as vm_flags_t;
    /// Memory-mapped I/O or similar.
    pub const IO: vm_flags_t = crate::bindings::VM_IO as vm_flags_t;
    /// Do not copy this VMA on fork.
    pub const DONTCOPY: vm_flags_t = crate::bindings::VM_DONTCOPY as vm_flags_t;
    /// Cannot be expanded with `mremap`.
    pub const DONTEXPAND: vm_flags_t = crate::bindings::VM_DONTEXPAND as vm_flags_t;
    /// Do not include in core dumps.
    pub const DONTDUMP: vm_flags_t = crate::bindings::VM_DONTDUMP as vm_flags_t;
    /// Page-ranges managed without `struct page`, just pure PFN.
    pub const PFNMAP: vm_flags_t = crate::bindings::VM_PFNMAP as vm_flags_t;
    /// May contain both `struct page` and pure PFN pages.
    pub const MIXEDMAP: vm_flags_t = crate::bindings::VM_MIXEDMAP as vm_flags_t;
}

/// A VMA read under a lock.
///
/// # Invariants
///
/// The caller holds the mmap lock (read or write) of the VMA's address space or the VMA's read
/// lock for as long as the reference is used, so the VMA is valid and its fields are stable.
///
/// # Examples
///
/// Describing the VMA that contains an address:
///
/// ```
/// use kernel::mm::{virt::VmaRef, MmWithUser};
///
/// fn describe(vma: &VmaRef) -> (usize, usize, usize, bool) {
///     let writable = vma.flags() & kernel::mm::virt::flags::WRITE != 0;
///     (vma.start(), vma.end(), vma.pgoff(), writable)
/// }
///
/// fn lookup(mm: &MmWithUser, addr: usize) -> Option<(usize, usize, usize, bool)> {
///     mm.with_vma(addr, describe).map(|(d, _lock)| d)
/// }
/// ```
#[repr(transparent)]
pub struct VmaRef {
    vma: Opaque<bindings::vm_area_struct>,
}

impl VmaRef {
    /// Access a VMA given a raw pointer to it.
    ///
    /// # Safety
    ///
    /// For the lifetime `'a`, `vma` must be valid and one of the locks named in the type
    /// invariants must be held.
    #[inline]
    pub unsafe fn from_raw<'a>(vma: *const bindings::vm_area_struct) -> &'a Self {
        // SAFETY: The caller ensures the invariants are satisfied for `'a`.
        unsafe { &*vma.cast() }
    }

    /// Returns a raw pointer to this VMA.
    #[inline]
    pub fn as_ptr(&self) -> *mut bindings::vm_area_struct {
        self.vma.get()
    }

    /// Returns the address space of this VMA.
    #[inline]
    pub fn mm(&self) -> &MmWithUser {
        // SAFETY: A VMA in an address space keeps it alive and with users: `vm_mm` is valid and
        // has a non-zero `mm_users` while the VMA is locked.
        unsafe { MmWithUser::from_raw((*self.as_ptr()).vm_mm) }
    }

    /// Returns the flags of this VMA.
    #[inline]
    pub fn flags(&self) -> flags::vm_flags_t {
        // SAFETY: By the type invariants the VMA is valid and its flags cannot change while the
        // lock is held.
        unsafe { (*self.as_ptr()).__bindgen_anon_2.__vm_flags }
    }

    /// Returns the (inclusive) start address of this VMA.
    #[inline]
    pub fn start(&self) -> usize {
        // SAFETY: By the type invariants the VMA is valid and stable.
        unsafe { (*self.as_ptr()).__bindgen_anon_1.__bindgen_anon_1.vm_start }
    }

    /// Returns the (exclusive) end address of this VMA.
    #[inline]
    pub fn end(&self) -> usize {
        // SAFETY: By the type invariants the VMA is valid and stable.
        unsafe { (*self.as_ptr()).__bindgen_anon_1.__bindgen_anon_1.vm_end }
    }

    /// Returns the offset of this VMA in its file, in pages.
    #[inline]
    pub fn pgoff(&self) -> usize {
        // SAFETY: By the type invariants the VMA is valid and stable.
        unsafe { (*self.as_ptr()).vm_pgoff }
    }

    /// Returns the file this VMA maps, if any.
    #[inline]
    pub fn file(&self) -> Option<&File> {
        // SAFETY: By the type invariants the VMA is valid and stable.
        let file = unsafe { (*self.as_ptr()).vm_file };
        if file.is_null() {
            None
        } else {
            // SAFETY: The VMA holds a reference to its file for as long as it exists.
            Some(unsafe { File::from_raw_file(file) })
        }
    }

    /// Returns the private data installed with [`VmaNew::set_vm_ops::<T>`], if this VMA runs the
    /// `vm_operations` of `T`.
    ///
    /// VMAs are reused while RCU readers still see them: this re-identifies the VMA by its
    /// operations rather than by its address.
    ///
    /// `T`'s VMAs are recognised by the address of `T`'s `vm_operations_struct`. Were the
    /// compiler to emit a second copy of that table (Kbuild builds each crate as one codegen
    /// unit, so it does not), this would return `None` for some of `T`'s VMAs; it never returns
    /// another type's data, since the tables of different types hold different functions.
    pub fn vm_data<T: VmOperations>(&self) -> Option<ArcBorrow<'_, T::Data>> {
        // SAFETY: By the type invariants the VMA is valid and stable.
        let (ops, data) = unsafe { ((*self.as_ptr()).vm_ops, (*self.as_ptr()).vm_private_data) };
        if !ptr::eq(ops, VmOpsTable::<T>::vtable()) {
            return None;
        }
        // SAFETY: VMAs running the operations of `T` own an `Arc<T::Data>` in their private
        // data (installed by `set_vm_ops`, duplicated by `open`), which lives while the VMA does.
        Some(unsafe { <Arc<T::Data> as ForeignOwnable>::borrow(data) })
    }

    /// Unmaps the pages of `[address, address + size)`, which must lie within this VMA
    /// (`zap_page_range_single`). Returns `EINVAL` otherwise, changing nothing.
    ///
    /// The caller may hold the mmap lock or the VMA lock, as `zap_page_range_single` requires.
    pub fn zap_page_range_single(&self, address: usize, size: usize) -> Result {
        let end = address.checked_add(size).ok_or(EINVAL)?;
        if address < self.start() || end > self.end() || size == 0 {
            return Err(EINVAL);
        }
        // SAFETY: The range lies within the VMA, which is locked and valid.
        unsafe {
            bindings::zap_page_range_single(self.as_ptr(), address as _, size as _, ptr::null_mut())
        };
        Ok(())
    }

    /// Returns this VMA as a [`VmaMixedMap`] if it has `VM_MIXEDMAP` set.
    #[inline]
    pub fn as_mixedmap_vma(&self) -> Option<&VmaMixedMap> {
        if self.flags() & flags::MIXEDMAP != 0 {
            // SAFETY: We just checked that `VM_MIXEDMAP` is set; flags cannot change while the
            // lock is held.
            Some(unsafe { VmaMixedMap::from_raw(self.as_ptr()) })
        } else {
            None
        }
    }
}

/// A VMA with `VM_MIXEDMAP` set, into which pages can be inserted under a read lock.
///
/// # Invariants
///
/// The [`VmaRef`] invariants hold, and `VM_MIXEDMAP` is set (so `vm_insert_page` neither changes
/// the flags nor needs the mmap write lock, and reaches none of its `BUG_ON`s).
#[repr(transparent)]
pub struct VmaMixedMap {
    vma: VmaRef,
}

impl core::ops::Deref for VmaMixedMap {
    type Target = VmaRef;

    #[inline]
    fn deref(&self) -> &VmaRef {
        &self.vma
    }
}

impl VmaMixedMap {
    /// # Safety
    ///
    /// The [`VmaRef`] invariants must hold for `'a`, and `VM_MIXEDMAP` must be set.
    #[inline]
    unsafe fn from_raw<'a>(vma: *const bindings::vm_area_struct) -> &'a Self {
        // SAFETY: The caller ensures the invariants are satisfied for `'a`.
        unsafe { &*vma.cast() }
    }

    /// Maps `page` at `address` (`vm_insert_page`), taking a reference to the page.
    ///
    /// Returns `EFAULT` if `address` is outside the VMA and `EBUSY` if a page is already mapped
    /// there.
    #[inline]
    pub fn vm_insert_page(&self, address: usize, page: &Page) -> Result {
        // SAFETY: The VMA is locked and has `VM_MIXEDMAP` set, which is what `vm_insert_page`
        // requires under a read lock; `page` is a valid page we hold a reference to.
        to_result(unsafe { bindings::vm_insert_page(self.as_ptr(), address as _, page.as_ptr()) })
    }
}

/// A VMA write-marked under the mmap write lock, from [`super::MmapWriteGuard::vma_start_write`].
///
/// It is borrowed from the write guard: the mark ends, and the reference becomes unusable, when
/// the guard is dropped or downgraded. While it lives, no page fault or lookup holds this VMA's
/// per-VMA lock, and none can take it.
///
/// # Invariants
///
/// The mmap write lock of the VMA's address space is held and the VMA is write-marked.
#[repr(transparent)]
pub struct VmaWriteLocked {
    vma: VmaRef,
}

impl core::ops::Deref for VmaWriteLocked {
    type Target = VmaRef;

    #[inline]
    fn deref(&self) -> &VmaRef {
        &self.vma
    }
}

impl VmaWriteLocked {
    /// # Safety
    ///
    /// The VMA must be valid and write-marked under the held mmap write lock for `'a`.
    #[inline]
    pub(super) unsafe fn from_raw<'a>(vma: *const bindings::vm_area_struct) -> &'a Self {
        // SAFETY: The caller ensures the invariants are satisfied for `'a`.
        let this: &Self = unsafe { &*vma.cast() };
        this.assert_write_locked();
        this
    }

    /// Checks the write mark (`vma_assert_write_locked`, active with `CONFIG_DEBUG_VM`).
    #[inline]
    pub fn assert_write_locked(&self) {
        // SAFETY: The VMA is valid by the type invariants.
        unsafe { bindings::vma_assert_write_locked(self.as_ptr()) };
    }
}

/// A VMA being set up by an `mmap` file operation.
///
/// The mmap write lock is held and the VMA is not yet visible in the address space, so its
/// flags and operations may be changed. Only combinations that keep the kernel's invariants are
/// offered: no `VM_PFNMAP`, and `VM_MAYWRITE` can only be cleared on a VMA that is not writable.
///
/// # Invariants
///
/// The [`VmaRef`] invariants hold, the mmap write lock is held, and the VMA is not yet
/// reachable by other threads.
///
/// # Examples
///
/// A read-only, non-expandable mapping:
///
/// ```
/// use kernel::mm::virt::VmaNew;
///
/// fn mmap_readonly(vma: &VmaNew) -> Result {
///     vma.try_clear_maywrite()?;
///     vma.set_dontexpand();
///     vma.set_mixedmap();
///     Ok(())
/// }
/// ```
#[repr(transparent)]
pub struct VmaNew {
    vma: VmaRef,
}

impl core::ops::Deref for VmaNew {
    type Target = VmaRef;

    #[inline]
    fn deref(&self) -> &VmaRef {
        &self.vma
    }
}

impl VmaNew {
    /// Access a VMA being set up by an `mmap` file operation.
    ///
    /// # Safety
    ///
    /// `vma` must be the VMA passed to `f_op->mmap`, and `'a` must not outlast that call.
    #[inline]
    pub unsafe fn from_raw<'a>(vma: *mut bindings::vm_area_struct) -> &'a Self {
        // SAFETY: The caller ensures the invariants are satisfied for `'a`.
        unsafe { &*vma.cast() }
    }

    #[inline]
    fn set_flags(&self, flags: flags::vm_flags_t) {
        // SAFETY: The mmap write lock is held and the VMA is not yet visible.
        unsafe { bindings::vm_flags_set(self.as_ptr(), flags) };
    }

    /// Sets `VM_MIXEDMAP`, so pages can be inserted with [`VmaMixedMap::vm_insert_page`].
    #[inline]
    pub fn set_mixedmap(&self) {
        self.set_flags(flags::MIXEDMAP);
    }

    /// Sets `VM_IO`: the mapping is memory-mapped I/O, excluded from core dumps and `mlock`.
    #[inline]
    pub fn set_io(&self) {
        self.set_flags(flags::IO);
    }

    /// Sets `VM_DONTEXPAND`: `mremap` cannot grow the mapping.
    #[inline]
    pub fn set_dontexpand(&self) {
        self.set_flags(flags::DONTEXPAND);
    }

    /// Sets `VM_DONTCOPY`: the mapping is not inherited over `fork`.
    #[inline]
    pub fn set_dontcopy(&self) {
        self.set_flags(flags::DONTCOPY);
    }

    /// Sets `VM_DONTDUMP`: the mapping is excluded from core dumps.
    #[inline]
    pub fn set_dontdump(&self) {
        self.set_flags(flags::DONTDUMP);
    }

    /// Clears `VM_MAYWRITE`, so `mprotect` can never make the mapping writable.
    ///
    /// Returns `EINVAL`, changing nothing, if the mapping is already writable.
    #[inline]
    pub fn try_clear_maywrite(&self) -> Result {
        if self.flags() & flags::WRITE != 0 {
            return Err(EINVAL);
        }
        // SAFETY: The mmap write lock is held, the VMA is not yet visible, and clearing
        // `VM_MAYWRITE` on a VMA without `VM_WRITE` is a valid state.
        unsafe { bindings::vm_flags_clear(self.as_ptr(), flags::MAYWRITE) };
        Ok(())
    }

    /// Installs the `vm_operations` of `T` with `data` as the VMA's private data.
    ///
    /// Every VMA split or duplicated from this one takes its own reference to `data` (`open`),
    /// and each drops it when unmapped (`close`). Returns `EBUSY`, changing nothing, if
    /// operations or private data were already installed.
    ///
    /// Call it last in `mmap`: if `mmap` fails afterwards, the core replaces the operations
    /// (`mmap_file()`) and frees the VMA without calling `close`, leaking this VMA's reference
    /// to `data`. Without `VM_MIXEDMAP`, `VM_IO` or `VM_DONTEXPAND`, a VMA whose flags `mmap`
    /// changed may likewise be merged into its neighbour and freed without `close`.
    pub fn set_vm_ops<T: VmOperations>(&self, data: Arc<T::Data>) -> Result {
        if self.has_vm_ops() {
            return Err(EBUSY);
        }
        let vma = self.as_ptr();
        // SAFETY: The VMA is valid, only this thread can reach it, and it has neither operations
        // nor private data that would be overwritten.
        unsafe {
            (*vma).vm_private_data = data.into_foreign() as *mut _;
            (*vma).vm_ops = VmOpsTable::<T>::vtable();
        }
        Ok(())
    }

    // Not inline: `vma_dummy_vm_ops` is not exported to modules.
    #[inline(never)]
    fn has_vm_ops(&self) -> bool {
        // SAFETY: The VMA is valid and only this thread can reach it.
        let (ops, data) = unsafe { ((*self.as_ptr()).vm_ops, (*self.as_ptr()).vm_private_data) };
        let dummy = ptr::addr_of!(bindings::vma_dummy_vm_ops);
        !data.is_null() || !ops.is_null() && !ptr::eq(ops, dummy)
    }
}
