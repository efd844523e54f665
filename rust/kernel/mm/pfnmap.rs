// SPDX-License-Identifier: GPL-2.0

//! PFN maps (`VM_PFNMAP`): VMAs that map page frames without taking references on them.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h).
//!
//! Drivers map device memory and MMIO this way, and sometimes RAM they own. Since a PFN map
//! takes no reference, whatever backs a page frame must outlive every page table entry that
//! maps it. The abstraction offers two ways to get that right:
//!
//! - [`VmFault::insert_pfn`] maps a [`Page`] borrowed from the VMA's own data (the
//!   [`VmOperations::Data`] made for it by [`VmOperations::mapped`]). Every VMA holds a
//!   reference to that data until its `close` callback, and the core removes a VMA's page
//!   table entries before it calls `close` (`munmap`, `exit_mmap`, a failed `mremap`), moves
//!   them only to VMAs that took their own reference (`mremap`, `fork`), so the page outlives
//!   its entries. This needs no `unsafe` and is checked by the borrow checker.
//! - [`VmaPfnMap::insert_pfn`], [`VmaNew::remap_pfn_range`] and [`VmaMapped::remap_page`] map
//!   any page frame, for example a device's registers, or a page of the VMA's data before its
//!   first fault, and are `unsafe`: the caller promises the memory stays valid until every
//!   entry is gone.
//!
//! # Page protections and RAM
//!
//! [`Pgprot`] has the VMA's own protection and its non-cached and write-combined variants. Those
//! variants are for device memory: on x86 the PAT makes the caching mode of a RAM page its
//! memory type, write-back unless the driver changed its linear mapping with `set_memory_wc()`
//! or `set_memory_uc()`. `vmf_insert_pfn_prot()` then silently maps it write-back, and
//! `remap_pfn_range()` does so with a warning ("x86/PAT: ... map pfn RAM range req ..."). The
//! safe path therefore maps RAM with the VMA's own protection only; the raw paths take a
//! [`Pgprot`] and are `unsafe` anyway.
//!
//! # The kernel's invariants
//!
//! `vmf_insert_pfn_prot()` calls `BUG()` on a VMA with neither or both of `VM_PFNMAP` and
//! `VM_MIXEDMAP`, and on a copy-on-write PFN map. [`VmaNew::set_pfnmap`] refuses a
//! copy-on-write VMA and one with `VM_MIXEDMAP`; a [`VmaPfnMap`] only exists for a VMA with
//! `VM_PFNMAP`; and since a driver may still call [`VmaNew::set_mixedmap`] after
//! [`VmaNew::set_pfnmap`], both insert functions refuse a VMA that has both flags. A
//! [`VmaDesc`] is one kind of mapping at most, by its type, and [`VmaDesc::set_pfnmap`]
//! refuses a copy-on-write mapping.

use super::{
    virt::{flags, vm_flags_t, VmaNew, VmaRef},
    vm_ops::{kind, VmFault, VmFaultResult, VmOperations, VmaDesc, VmaMapped},
};
use crate::{
    bindings,
    error::to_result,
    ffi::c_ulong,
    page::{Page, PAGE_SIZE},
    prelude::*,
};

/// A page protection (`pgprot_t`): the access and caching bits of a page table entry.
///
/// # Examples
///
/// ```
/// use kernel::mm::{pfnmap::Pgprot, virt::VmaRef};
///
/// fn register_prot(vma: &VmaRef) -> Pgprot {
///     // Device registers: not cached, whatever the VMA's default.
///     Pgprot::of(vma).noncached()
/// }
/// ```
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct Pgprot(bindings::pgprot_t);

impl Pgprot {
    /// The protection of the VMA's pages (`vm_page_prot`): its access rights, cached.
    #[inline]
    pub fn of(vma: &VmaRef) -> Self {
        // SAFETY: By the type invariants of `VmaRef` the VMA is valid. `vm_page_prot` only
        // changes under the mmap write lock with the VMA write-marked, which the holder of a
        // `VmaRef` excludes.
        Self(unsafe { (*vma.as_ptr()).vm_page_prot })
    }

    /// The same access rights, not cached (`pgprot_noncached()`): for device registers.
    #[inline]
    pub fn noncached(self) -> Self {
        // SAFETY: `pgprot_noncached()` only computes a value.
        Self(unsafe { bindings::pgprot_noncached(self.0) })
    }

    /// The same access rights, write-combined (`pgprot_writecombine()`): for frame buffers and
    /// other device memory written in bursts.
    #[inline]
    pub fn writecombine(self) -> Self {
        // SAFETY: `pgprot_writecombine()` only computes a value.
        Self(unsafe { bindings::pgprot_writecombine(self.0) })
    }
}

/// A VMA with `VM_PFNMAP` set that is not a copy-on-write mapping.
///
/// # Invariants
///
/// The [`VmaRef`] invariants hold, `VM_PFNMAP` is set and the VMA is not a copy-on-write
/// mapping (it is shared or cannot become writable).
#[repr(transparent)]
pub struct VmaPfnMap {
    vma: VmaRef,
}

impl core::ops::Deref for VmaPfnMap {
    type Target = VmaRef;

    #[inline]
    fn deref(&self) -> &VmaRef {
        &self.vma
    }
}

/// Whether `vm_flags` are those of a copy-on-write mapping (`is_cow_mapping()`).
#[inline]
fn is_cow(vm_flags: vm_flags_t) -> bool {
    vm_flags & (flags::SHARED | flags::MAYWRITE) == flags::MAYWRITE
}

impl VmaPfnMap {
    /// Access a PFN map given a raw pointer to its VMA.
    ///
    /// # Safety
    ///
    /// The [`VmaRef`] invariants must hold for `'a`, `VM_PFNMAP` must be set and the VMA must
    /// not be a copy-on-write mapping.
    #[inline]
    pub unsafe fn from_raw<'a>(vma: *const bindings::vm_area_struct) -> &'a Self {
        // SAFETY: The caller ensures the invariants are satisfied for `'a`.
        unsafe { &*vma.cast() }
    }

    /// Maps the page frame `pfn` at `address` with `prot` (`vmf_insert_pfn_prot()`), taking no
    /// reference on it.
    ///
    /// An entry that another thread installed first counts as success. Fails with `EINVAL` if
    /// the VMA also has `VM_MIXEDMAP`, `EFAULT` if `address` is outside the VMA or the
    /// architecture refuses the page frame, and `ENOMEM` if a page table cannot be allocated.
    ///
    /// # Safety
    ///
    /// The memory at `pfn` must stay valid, and must not be reused for anything else, until
    /// every page table entry mapping it is gone: until the VMA and every VMA it is split,
    /// moved or forked into is closed, or until the driver removed the entries (for example
    /// with `unmap_mapping_range()`) in a way that no fault can undo.
    #[inline]
    pub unsafe fn insert_pfn(&self, address: usize, pfn: usize, prot: Pgprot) -> Result {
        if self.flags() & flags::MIXEDMAP != 0 {
            return Err(EINVAL);
        }
        // SAFETY: The VMA is locked and has `VM_PFNMAP` but not `VM_MIXEDMAP` and is not a
        // copy-on-write mapping (type invariants and the check above), so none of the function's
        // `BUG_ON`s fires. The caller keeps the memory valid as long as it is mapped.
        let ret = unsafe {
            bindings::vmf_insert_pfn_prot(self.as_ptr(), address as c_ulong, pfn as c_ulong, prot.0)
        };
        if ret == bindings::vm_fault_reason_VM_FAULT_NOPAGE as bindings::vm_fault_t {
            Ok(())
        } else if ret == bindings::vm_fault_reason_VM_FAULT_OOM as bindings::vm_fault_t {
            Err(ENOMEM)
        } else {
            Err(EFAULT)
        }
    }
}

impl VmaRef {
    /// Returns this VMA as a PFN map if it has `VM_PFNMAP` set and is not a copy-on-write
    /// mapping.
    #[inline]
    pub fn as_pfnmap_vma(&self) -> Option<&VmaPfnMap> {
        let vm_flags = self.flags();
        if vm_flags & flags::PFNMAP == 0 || is_cow(vm_flags) {
            return None;
        }
        // SAFETY: We just checked the flags, which do not change while the VMA is locked.
        Some(unsafe { VmaPfnMap::from_raw(self.as_ptr()) })
    }
}

impl VmaNew {
    /// Makes the VMA a PFN map, setting the flags `remap_pfn_range()` sets: `VM_PFNMAP`,
    /// `VM_IO` (no one may look at the memory behind it), `VM_DONTEXPAND` and `VM_DONTDUMP`.
    ///
    /// Fails with `EINVAL`, changing nothing, on a copy-on-write mapping (a private mapping
    /// that may become writable: call [`VmaNew::try_clear_maywrite`] first) or a VMA with
    /// `VM_MIXEDMAP`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::mm::{pfnmap::VmaPfnMap, virt::{flags, VmaNew}};
    ///
    /// fn mmap_pfn(vma: &VmaNew) -> Result<&VmaPfnMap> {
    ///     if vma.flags() & flags::SHARED == 0 {
    ///         // Private mappings of device memory are read-only.
    ///         vma.try_clear_maywrite()?;
    ///     }
    ///     vma.set_pfnmap()
    /// }
    /// ```
    pub fn set_pfnmap(&self) -> Result<&VmaPfnMap> {
        let vm_flags = self.flags();
        if vm_flags & flags::MIXEDMAP != 0 || is_cow(vm_flags) {
            return Err(EINVAL);
        }
        let set = flags::PFNMAP | flags::IO | flags::DONTEXPAND | flags::DONTDUMP;
        // SAFETY: The VMA has no `VM_MIXEDMAP` and is not a copy-on-write mapping, the two
        // states `VM_PFNMAP` excludes.
        unsafe { self.update_flags(set, 0) };
        // SAFETY: We just set `VM_PFNMAP` on a VMA that is not a copy-on-write mapping, and
        // `VmaNew` cannot make it one (it can only clear the `VM_MAY*` flags).
        Ok(unsafe { VmaPfnMap::from_raw(self.as_ptr()) })
    }

    /// Maps `size` bytes of page frames from `pfn` on at `address` with `prot`, now
    /// (`remap_pfn_range()`), so that they never fault.
    ///
    /// Fails with `EINVAL` unless the VMA is a PFN map ([`VmaNew::set_pfnmap`]) without
    /// `VM_MIXEDMAP`, or if the range is not page-aligned or not inside the VMA. On x86 it
    /// also fails with `EINVAL`, mapping nothing, if the range is the whole VMA: the kernel
    /// then tracks the VMA's PAT memtype as a whole and untracks it later, when the VMA is
    /// freed, after the memory may have gone to another owner (or, on older kernels, in every
    /// zap, whatever lock the zap holds). Remap such a VMA in parts, or from faults; a part
    /// then gets the memory type PAT already has for its frames (for MMIO nobody reserved,
    /// uncached-minus even if `prot` asks for write-combining). If the
    /// `mmap` handler fails afterwards, the entries are removed before `mmap` returns to the
    /// core's error path (`unmap_region()`), which other threads of the process can race with
    /// until then.
    ///
    /// # Safety
    ///
    /// - The memory at the page frames must stay valid, and must not be reused for anything
    ///   else, until every page table entry mapping it is gone, as for
    ///   [`VmaPfnMap::insert_pfn`]. If `mmap` fails, that is when the core's error path ran.
    /// - No address of the range may be mapped (`remap_pfn_range()` calls `BUG()` on a
    ///   present entry): each address is mapped once per `mmap` call, or again only after a
    ///   remap that failed (which removed its entries).
    pub unsafe fn remap_pfn_range(
        &self,
        address: usize,
        pfn: usize,
        size: usize,
        prot: Pgprot,
    ) -> Result {
        // SAFETY: The mmap write lock is held on a VMA being set up (type invariants), not yet
        // in its file's address space; the caller keeps the memory valid and has not mapped the
        // range yet.
        unsafe { remap_locked(self, address, pfn, size, prot) }
    }

    /// Maps `page` at `address` now, with the VMA's protection (`remap_pfn_range()` of one
    /// page), taking no reference on it.
    ///
    /// Fails as [`VmaNew::remap_pfn_range`] does, so on x86 for a VMA of one page.
    ///
    /// # Safety
    ///
    /// As for [`VmaNew::remap_pfn_range`]: `page` must not be freed until every page table
    /// entry mapping it is gone, and `address` must not have been mapped already in this `mmap`
    /// call.
    pub unsafe fn remap_page(&self, address: usize, page: &Page) -> Result {
        // SAFETY: The caller keeps the page valid while it is mapped and has not mapped
        // `address` yet.
        unsafe { self.remap_pfn_range(address, page_pfn(page), PAGE_SIZE, Pgprot::of(self)) }
    }
}

/// Maps `size` bytes of page frames from `pfn` on at `address` of `vma`, a PFN map, with `prot`
/// (`remap_pfn_range()`).
///
/// Fails with `EINVAL`, mapping nothing, unless the VMA is a PFN map without `VM_MIXEDMAP` and
/// the range is page-aligned and inside it, and if the range is the whole VMA where the kernel
/// tracks the memtype of such a remap as a whole (x86, `remap_tracks_whole_vma()`): it untracks
/// it only when the VMA is freed (`pfnmap_track_ctx`), after `close` dropped the data that
/// owned the pages, writing the memtype of pages that may be another owner's by then; older
/// kernels untrack it in every zap, whatever lock the zap holds (`VM_PAT`).
///
/// # Safety
///
/// The mmap write lock of `vma` is held, no fault can reach it yet, and it was created by the
/// current `mmap` call. The memory at the page frames stays valid until every entry mapping it
/// is gone, and no address of the range is mapped yet.
unsafe fn remap_locked(
    vma: &VmaRef,
    address: usize,
    pfn: usize,
    size: usize,
    prot: Pgprot,
) -> Result {
    let pfnmap = vma.as_pfnmap_vma().ok_or(EINVAL)?;
    let end = address.checked_add(size).ok_or(EINVAL)?;
    let page_mask = PAGE_SIZE - 1;
    if pfnmap.flags() & flags::MIXEDMAP != 0
        || size == 0
        || (address | size) & page_mask != 0
        || address < vma.start()
        || end > vma.end()
    {
        return Err(EINVAL);
    }
    // SAFETY: The helper only tests the architecture's configuration.
    if address == vma.start() && end == vma.end() && unsafe { bindings::remap_tracks_whole_vma() } {
        return Err(EINVAL);
    }
    // SAFETY: The mmap write lock is held on a VMA no fault reaches, which is a PFN map that is
    // not copy-on-write, so `remap_pfn_range()` keeps its offset and only sets flags it has; the
    // range is inside it and, where tracking would make it so, not the whole VMA, so nothing
    // tracks its memtype beyond its entries. The caller keeps the memory valid and has not
    // mapped the range yet.
    to_result(unsafe {
        bindings::remap_pfn_range(
            vma.as_ptr(),
            address as c_ulong,
            pfn as c_ulong,
            size as c_ulong,
            prot.0,
        )
    })?;
    Ok(())
}

impl<'a> VmaDesc<'a> {
    /// Makes the mapping a PFN map, with the flags `remap_pfn_range()` sets: `VM_PFNMAP`,
    /// `VM_IO` (no one may look at the memory behind it), `VM_DONTEXPAND` and `VM_DONTDUMP`.
    ///
    /// Fails with `EINVAL`, changing nothing, on a copy-on-write mapping (a private mapping
    /// that may become writable: call [`VmaDesc::try_clear_maywrite`] first).
    pub fn set_pfnmap(mut self) -> Result<VmaDesc<'a, kind::PfnMap>> {
        if is_cow(self.raw_flags()) {
            return Err(EINVAL);
        }
        self.set_raw_flags(flags::PFNMAP | flags::IO | flags::DONTEXPAND | flags::DONTDUMP);
        Ok(self.into_kind())
    }
}

impl VmaMapped {
    /// Maps `page` at `address` now, with the VMA's protection (`remap_pfn_range()` of one
    /// page), taking no reference on it: for a page of the data [`VmOperations::mapped`] made,
    /// from [`VmOperations::populate`].
    ///
    /// Fails with `EINVAL` unless the VMA is a PFN map ([`VmaDesc::set_pfnmap`]) and `address`
    /// a page of it, and on x86 for a VMA of one page (see [`VmaNew::remap_pfn_range`]).
    ///
    /// # Safety
    ///
    /// `page` must not be freed until every page table entry mapping it is gone: a page the
    /// VMA's data owns qualifies (each VMA holding the entries holds the data until `close`, and
    /// if `populate` fails the abstraction removes the entries before it drops the data).
    /// `address` must not have been mapped already.
    pub unsafe fn remap_page(&self, address: usize, page: &Page) -> Result {
        // SAFETY: The mmap write lock is held and no fault reaches the VMA, which this `mmap`
        // call created (type invariants). The caller keeps the page valid while it is mapped
        // and has not mapped `address` yet.
        unsafe { remap_locked(self, address, page_pfn(page), PAGE_SIZE, Pgprot::of(self)) }
    }
}

/// The page frame number of `page`.
#[inline]
fn page_pfn(page: &Page) -> usize {
    // SAFETY: `page` is a valid page.
    unsafe { bindings::page_to_pfn(page.as_ptr()) as usize }
}

impl VmFault {
    /// Maps a page of the VMA's own data at the faulting address of a PFN map, with the VMA's
    /// page protection.
    ///
    /// `page` picks the page from the data the VMA runs `T` with; the page must be borrowed
    /// from that data (or be `'static`), which keeps it alive until the VMA's entries are gone
    /// (see the [module documentation](self)). Fails with `SIGBUS` if the VMA does not run `T`,
    /// is not a PFN map, or `page` returns `None`. An entry that another thread installed first
    /// counts as success.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::mm::vm_ops::{VmFault, VmFaultResult, VmOperations};
    /// use kernel::page::Page;
    /// use kernel::prelude::*;
    /// use kernel::sync::ArcBorrow;
    ///
    /// struct Pages;
    ///
    /// #[vtable]
    /// impl VmOperations for Pages {
    ///     type Data = KVec<Page>;
    ///
    ///     fn fault(_pages: ArcBorrow<'_, KVec<Page>>, vmf: &VmFault) -> VmFaultResult {
    ///         let index = vmf.pgoff();
    ///         vmf.insert_pfn::<Self>(|pages| pages.get(index))
    ///     }
    /// }
    /// ```
    pub fn insert_pfn<T: VmOperations>(
        &self,
        page: impl FnOnce(&T::Data) -> Option<&Page>,
    ) -> VmFaultResult {
        let vma = self.vma();
        let (Some(data), Some(pfnmap)) = (vma.vm_data::<T>(), vma.as_pfnmap_vma()) else {
            return VmFaultResult::Sigbus;
        };
        let Some(page) = page(&data) else {
            return VmFaultResult::Sigbus;
        };
        // SAFETY: `page` is borrowed from the data of a VMA running `T`'s operations (or is
        // `'static`). Each VMA holding its entries holds a reference to that data until
        // `close`, which the core calls only after removing the VMA's entries.
        unsafe { self.insert_page_pfn(pfnmap, page) }
    }

    /// Maps `page` at the faulting address of `pfnmap`, the fault's VMA, with the VMA's page
    /// protection.
    ///
    /// # Safety
    ///
    /// As for [`VmaPfnMap::insert_pfn`]: `page` must not be freed until every page table entry
    /// mapping it is gone.
    #[inline]
    pub(crate) unsafe fn insert_page_pfn(&self, pfnmap: &VmaPfnMap, page: &Page) -> VmFaultResult {
        // SAFETY: The caller keeps the page valid while it is mapped.
        match unsafe { pfnmap.insert_pfn(self.address(), page_pfn(page), Pgprot::of(pfnmap)) } {
            Ok(()) => VmFaultResult::NoPage,
            Err(e) => e.into(),
        }
    }
}
