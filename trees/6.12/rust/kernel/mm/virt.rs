// SPDX-License-Identifier: GPL-2.0

//! Virtual memory areas (VMAs).
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h).
//!
//! Each type here stands for a VMA together with a lock that makes reading it meaningful:
//!
//! - [`VmaRef`]: under the mmap lock or the per-VMA read lock;
//! - [`VmaMixedMap`]: a [`VmaRef`] with `VM_MIXEDMAP` set, into which pages may be inserted;
//! - [`VmaNew`]: being set up by an `mmap` file operation, before it is visible to anyone else.
//!
//! The write-marked VMA, [`VmaWriteLocked`](super::mmap_lock::VmaWriteLocked), is in
//! [`mmap_lock`](super::mmap_lock). This file gives 6.12 the names later kernels have upstream.

use super::MmWithUser;
use crate::{
    bindings,
    error::{code::*, to_result, Result},
    fs::File,
    page::Page,
    types::Opaque,
};

/// The integer type of VMA flags.
#[doc(inline)]
pub use bindings::vm_flags_t;

/// VMA flags and their values.
pub mod flags {
    use super::vm_flags_t;
    use crate::bindings;

    /// No flags.
    pub const NONE: vm_flags_t = bindings::VM_NONE as vm_flags_t;
    /// Mapping is readable.
    pub const READ: vm_flags_t = bindings::VM_READ as vm_flags_t;
    /// Mapping is writable.
    pub const WRITE: vm_flags_t = bindings::VM_WRITE as vm_flags_t;
    /// Mapping is executable.
    pub const EXEC: vm_flags_t = bindings::VM_EXEC as vm_flags_t;
    /// Mapping is shared.
    pub const SHARED: vm_flags_t = bindings::VM_SHARED as vm_flags_t;
    /// `mprotect` may add `READ`.
    pub const MAYREAD: vm_flags_t = bindings::VM_MAYREAD as vm_flags_t;
    /// `mprotect` may add `WRITE`.
    pub const MAYWRITE: vm_flags_t = bindings::VM_MAYWRITE as vm_flags_t;
    /// `mprotect` may add `EXEC`.
    pub const MAYEXEC: vm_flags_t = bindings::VM_MAYEXEC as vm_flags_t;
    /// `mprotect` may add `SHARED`.
    pub const MAYSHARE: vm_flags_t = bindings::VM_MAYSHARE as vm_flags_t;
    /// Page ranges managed without `struct page`, just pure PFNs.
    pub const PFNMAP: vm_flags_t = bindings::VM_PFNMAP as vm_flags_t;
    /// Memory-mapped I/O or similar.
    pub const IO: vm_flags_t = bindings::VM_IO as vm_flags_t;
    /// Do not copy this VMA on fork.
    pub const DONTCOPY: vm_flags_t = bindings::VM_DONTCOPY as vm_flags_t;
    /// Cannot be expanded with `mremap`.
    pub const DONTEXPAND: vm_flags_t = bindings::VM_DONTEXPAND as vm_flags_t;
    /// Pages are locked when they are faulted in.
    pub const LOCKONFAULT: vm_flags_t = bindings::VM_LOCKONFAULT as vm_flags_t;
    /// The mapping is accounted.
    pub const ACCOUNT: vm_flags_t = bindings::VM_ACCOUNT as vm_flags_t;
    /// The mapping is not accounted.
    pub const NORESERVE: vm_flags_t = bindings::VM_NORESERVE as vm_flags_t;
    /// A hugetlb mapping.
    pub const HUGETLB: vm_flags_t = bindings::VM_HUGETLB as vm_flags_t;
    /// Synchronous page faults (DAX).
    pub const SYNC: vm_flags_t = bindings::VM_SYNC as vm_flags_t;
    /// Architecture-specific flag.
    pub const ARCH_1: vm_flags_t = bindings::VM_ARCH_1 as vm_flags_t;
    /// The child gets zeroed memory on fork.
    pub const WIPEONFORK: vm_flags_t = bindings::VM_WIPEONFORK as vm_flags_t;
    /// Do not include in core dumps.
    pub const DONTDUMP: vm_flags_t = bindings::VM_DONTDUMP as vm_flags_t;
    /// May contain both `struct page` and pure PFN pages.
    pub const MIXEDMAP: vm_flags_t = bindings::VM_MIXEDMAP as vm_flags_t;
    /// `MADV_HUGEPAGE` was applied.
    pub const HUGEPAGE: vm_flags_t = bindings::VM_HUGEPAGE as vm_flags_t;
    /// `MADV_NOHUGEPAGE` was applied.
    pub const NOHUGEPAGE: vm_flags_t = bindings::VM_NOHUGEPAGE as vm_flags_t;
    /// KSM may merge identical pages.
    pub const MERGEABLE: vm_flags_t = bindings::VM_MERGEABLE as vm_flags_t;
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
/// fn describe(mm: &MmWithUser, addr: usize) -> Option<(usize, usize, usize)> {
///     let guard = mm.mmap_read_lock();
///     let vma: &VmaRef = guard.vma_lookup(addr)?;
///     Some((vma.start(), vma.end(), vma.pgoff()))
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
    pub fn flags(&self) -> vm_flags_t {
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

    /// Unmaps the pages of `[address, address + size)`, freeing what the VMA referenced there
    /// (`zap_page_range_single`; `zap_vma_range` on later kernels). Page tables stay.
    ///
    /// Does nothing unless the range lies within this VMA; callers check it first. The caller may
    /// hold the mmap lock or the VMA lock. On this kernel it also does nothing on x86 for a VMA
    /// that `remap_pfn_range()` mapped whole (`VM_PAT`), whose zap untracks the PAT memtype of the
    /// whole VMA under whatever lock the zap holds, racing with other zaps:
    /// `VmaRef::try_zap_vma_range()` says so with `EINVAL`.
    #[inline]
    pub fn zap_vma_range(&self, address: usize, size: usize) {
        let (end, did_overflow) = address.overflowing_add(size);
        if did_overflow || address < self.start() || self.end() < end {
            return;
        }
        // SAFETY: By the type invariants the VMA is valid; the helper reads its flags.
        if unsafe { bindings::vma_zap_untracks_pfnmap(self.as_ptr()) } {
            return;
        }
        // SAFETY: The range lies within the VMA, which is valid and locked (type invariants),
        // and its zap untracks nothing.
        unsafe { bindings::zap_vma_range(self.as_ptr(), address as _, size as _) };
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
    /// Access a VMA with `VM_MIXEDMAP` set given a raw pointer to it.
    ///
    /// # Safety
    ///
    /// The [`VmaRef`] invariants must hold for `'a`, and `VM_MIXEDMAP` must be set.
    #[inline]
    pub unsafe fn from_raw<'a>(vma: *const bindings::vm_area_struct) -> &'a Self {
        // SAFETY: The caller ensures the invariants are satisfied for `'a`.
        unsafe { &*vma.cast() }
    }

    /// Maps `page` at `address` (`vm_insert_page`), taking a reference to the page.
    ///
    /// Returns `EFAULT` if `address` is outside the VMA and `EBUSY` if a page is already mapped
    /// there.
    ///
    /// Fails with `EINVAL` if the VMA is also a PFN map: see [`VmaNew::set_pfnmap`].
    #[inline]
    pub fn vm_insert_page(&self, address: usize, page: &Page) -> Result {
        if self.flags() & flags::PFNMAP != 0 {
            return Err(EINVAL);
        }
        // SAFETY: The VMA is locked and has `VM_MIXEDMAP` but not `VM_PFNMAP` set, which is
        // what `vm_insert_page` requires under a read lock; `page` is a valid page we hold a
        // reference to.
        to_result(unsafe { bindings::vm_insert_page(self.as_ptr(), address as _, page.as_ptr()) })
    }
}

/// A VMA being set up by an `mmap` file operation.
///
/// The mmap write lock is held and the VMA is not yet visible in the address space, so its
/// flags and operations may be changed. Only combinations that keep the kernel's invariants are
/// offered: `VM_PFNMAP` only on a VMA that is not copy-on-write ([`VmaNew::set_pfnmap`]), and
/// `VM_MAYWRITE` can only be cleared on a VMA that is not writable.
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

    /// Sets `set` and clears `clear` in the flags.
    ///
    /// # Safety
    ///
    /// The resulting flags must be a valid state for this VMA.
    #[inline]
    pub(crate) unsafe fn update_flags(&self, set: vm_flags_t, clear: vm_flags_t) {
        // SAFETY: The mmap write lock is held and the VMA is not yet visible (type invariants);
        // the caller ensures the result is valid.
        unsafe {
            bindings::vm_flags_set(self.as_ptr(), set);
            bindings::vm_flags_clear(self.as_ptr(), clear);
        }
    }

    /// Sets `VM_MIXEDMAP`, so pages can be inserted with [`VmaMixedMap::vm_insert_page`].
    #[inline]
    pub fn set_mixedmap(&self) -> &VmaMixedMap {
        // SAFETY: `VM_MIXEDMAP` excludes `VM_PFNMAP`. Both are set if the driver called
        // `set_pfnmap()` before this; then `vm_insert_page()` and `VmaPfnMap::insert_pfn()` both
        // refuse the VMA, so no insert function reaches the `BUG_ON`s of that state.
        unsafe { self.update_flags(flags::MIXEDMAP, 0) };
        // SAFETY: We just set `VM_MIXEDMAP`, and the VMA is valid while `self` is borrowed.
        unsafe { VmaMixedMap::from_raw(self.as_ptr()) }
    }

    /// Sets `VM_IO`: the mapping is memory-mapped I/O, excluded from core dumps and `mlock`.
    #[inline]
    pub fn set_io(&self) {
        // SAFETY: `VM_IO` combines with every other flag.
        unsafe { self.update_flags(flags::IO, 0) };
    }

    /// Sets `VM_DONTEXPAND`: `mremap` cannot grow the mapping.
    #[inline]
    pub fn set_dontexpand(&self) {
        // SAFETY: `VM_DONTEXPAND` combines with every other flag.
        unsafe { self.update_flags(flags::DONTEXPAND, 0) };
    }

    /// Sets `VM_DONTCOPY`: the mapping is not inherited over `fork` (permanent only with
    /// `VM_IO`).
    #[inline]
    pub fn set_dontcopy(&self) {
        // SAFETY: `VM_DONTCOPY` combines with every other flag.
        unsafe { self.update_flags(flags::DONTCOPY, 0) };
    }

    /// Sets `VM_DONTDUMP`: the mapping is excluded from core dumps (permanent only with
    /// `VM_IO`).
    #[inline]
    pub fn set_dontdump(&self) {
        // SAFETY: `VM_DONTDUMP` combines with every other flag.
        unsafe { self.update_flags(flags::DONTDUMP, 0) };
    }

    /// Returns whether the mapping is readable (`VM_READ`).
    #[inline]
    pub fn readable(&self) -> bool {
        self.flags() & flags::READ != 0
    }

    /// Clears `VM_MAYREAD`, so `mprotect` can never make the mapping readable. Irreversible.
    ///
    /// Returns `EINVAL`, changing nothing, if the mapping is readable.
    #[inline]
    pub fn try_clear_mayread(&self) -> Result {
        if self.readable() {
            return Err(EINVAL);
        }
        // SAFETY: Without `VM_READ`, a VMA without `VM_MAYREAD` is valid.
        unsafe { self.update_flags(0, flags::MAYREAD) };
        Ok(())
    }

    /// Returns whether the mapping is writable (`VM_WRITE`).
    #[inline]
    pub fn writable(&self) -> bool {
        self.flags() & flags::WRITE != 0
    }

    /// Clears `VM_MAYWRITE`, so `mprotect` can never make the mapping writable. Irreversible.
    ///
    /// Returns `EINVAL`, changing nothing, if the mapping is writable.
    #[inline]
    pub fn try_clear_maywrite(&self) -> Result {
        if self.writable() {
            return Err(EINVAL);
        }
        // SAFETY: Without `VM_WRITE`, a VMA without `VM_MAYWRITE` is valid.
        unsafe { self.update_flags(0, flags::MAYWRITE) };
        Ok(())
    }

    /// Returns whether the mapping is executable (`VM_EXEC`).
    #[inline]
    pub fn executable(&self) -> bool {
        self.flags() & flags::EXEC != 0
    }

    /// Clears `VM_MAYEXEC`, so `mprotect` can never make the mapping executable. Irreversible.
    ///
    /// Returns `EINVAL`, changing nothing, if the mapping is executable.
    #[inline]
    pub fn try_clear_mayexec(&self) -> Result {
        if self.executable() {
            return Err(EINVAL);
        }
        // SAFETY: Without `VM_EXEC`, a VMA without `VM_MAYEXEC` is valid.
        unsafe { self.update_flags(0, flags::MAYEXEC) };
        Ok(())
    }
}

/// The type of `vm_operations_struct::mapped` in kernels that have it.
pub(crate) type VmMappedFn = unsafe extern "C" fn(
    crate::ffi::c_ulong,
    crate::ffi::c_ulong,
    crate::ffi::c_ulong,
    *const bindings::file,
    *mut *mut crate::ffi::c_void,
) -> crate::ffi::c_int;

/// Returns `ops` with `mapped` as its `vm_ops->mapped` callback, where the kernel has one.
///
/// This kernel has neither `f_op->mmap_prepare` nor `vm_ops->mapped`: `ops` is returned as it
/// is, and the misc device runs the `mapped` step itself from `f_op->mmap`.
pub(crate) const fn vm_ops_with_mapped(
    ops: bindings::vm_operations_struct,
    _mapped: VmMappedFn,
) -> bindings::vm_operations_struct {
    ops
}
