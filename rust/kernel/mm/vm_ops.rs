// SPDX-License-Identifier: GPL-2.0

//! VMA operations (`struct vm_operations_struct`) and page faults (`struct vm_fault`).
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h).
//!
//! A driver implements [`VmOperations`] and installs it from its `mmap_prepare` handler with
//! [`VmaDesc::set_vm_ops`]. Once the mapping's VMA exists, and only if it was neither merged
//! into another nor failed first, [`VmOperations::mapped`] makes the VMA's data, held in an
//! [`Arc`]; [`VmaRef::vm_data`] recognises the driver's own VMAs and returns that data. The
//! abstraction owns the `open`/`close` callbacks, so every VMA (the first one, and each one
//! split or duplicated from it) holds exactly one reference to the data.
//!
//! # `mmap_prepare`
//!
//! `f_op->mmap_prepare` (see `Documentation/filesystems/mmap_prepare.rst`) describes a mapping
//! before its VMA exists, in a [`VmaDesc`], and must allocate nothing: the mapping may still be
//! merged into a neighbour or fail. What must exist per mapping is made by `vm_ops->mapped`,
//! which the core calls once the VMA is linked, with the mmap write lock held and the VMA
//! write-marked, so that no fault can reach it yet. On kernels without those hooks the misc
//! device runs the same steps from its `f_op->mmap`.
//!
//! # Faults under the per-VMA lock
//!
//! A driver's `fault` handler only runs under the per-VMA lock if its operations also have
//! `map_pages`: otherwise `vmf_can_call_fault()` drops the VMA lock and
//! every fault is retried under the mmap lock. Implementing [`VmOperations::map_pages`] is
//! therefore the explicit opt-in to faults under the per-VMA lock. [`VmFault::lock`] tells a
//! handler which lock it runs under.

use super::{
    mmap_lock::VmaLockKind,
    virt::{flags, vm_flags_t, VmaRef},
};
use crate::fs::File;
use crate::{
    alloc::Flags,
    bindings, build_error,
    error::{code::*, from_result, Error, VTABLE_DEFAULT_ERROR},
    ffi::{c_int, c_ulong},
    page::Page,
    prelude::*,
    sync::{Arc, ArcBorrow},
    types::{ForeignOwnable, Opaque},
};
use core::{
    any::TypeId,
    ffi::c_void,
    marker::PhantomData,
    ptr,
    sync::atomic::{AtomicBool, Ordering::Relaxed},
};

/// The result of a fault handler.
// Each variant's discriminant is its `vm_fault_t` value, so that handing it to the core is a cast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum VmFaultResult {
    /// A page is mapped at the faulting address (`VM_FAULT_NOPAGE`).
    NoPage = bindings::vm_fault_reason_VM_FAULT_NOPAGE,
    /// Ask the core to retry the fault, under the mmap lock if it ran under the VMA lock
    /// (`VM_FAULT_RETRY`). The abstraction releases the fault's lock as the C contract requires.
    /// Only valid if [`VmFault::can_retry`]; otherwise the fault fails with `SIGBUS`.
    Retry = bindings::vm_fault_reason_VM_FAULT_RETRY,
    /// Deliver `SIGBUS` (`VM_FAULT_SIGBUS`).
    Sigbus = bindings::vm_fault_reason_VM_FAULT_SIGBUS,
    /// Out of memory (`VM_FAULT_OOM`).
    Oom = bindings::vm_fault_reason_VM_FAULT_OOM,
}

impl From<Error> for VmFaultResult {
    #[inline]
    fn from(err: Error) -> Self {
        if err == ENOMEM {
            VmFaultResult::Oom
        } else {
            VmFaultResult::Sigbus
        }
    }
}

/// Warns, once, that a handler returned [`VmFaultResult::Retry`] for a fault without
/// `FAULT_FLAG_ALLOW_RETRY`: a driver bug, repeated on every fault that hits it.
#[cold]
fn retry_not_allowed() {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Relaxed) {
        pr_warn!("fault handler asked for a retry that is not allowed\n");
    }
}

/// A page fault on a VMA running a driver's [`VmOperations`].
///
/// # Invariants
///
/// The fault is in progress: its VMA is valid and locked by the lock [`VmFault::lock`] names.
///
/// # Examples
///
/// See [`VmOperations`].
#[repr(transparent)]
pub struct VmFault {
    vmf: Opaque<bindings::vm_fault>,
}

impl VmFault {
    /// # Safety
    ///
    /// `vmf` must be the fault passed to a `->fault` handler, and `'a` must end before the
    /// handler returns.
    #[inline]
    unsafe fn from_raw<'a>(vmf: *mut bindings::vm_fault) -> &'a Self {
        // SAFETY: The caller ensures the invariants are satisfied for `'a`.
        unsafe { &*vmf.cast() }
    }

    /// The fault, as a raw pointer: the core writes some of its fields (`pte`, `ptl`,
    /// `orig_pte`, ...) during the calls a handler makes, so no `&bindings::vm_fault` may exist
    /// while the handler runs; the fields read here are not among them.
    #[inline]
    fn as_ptr(&self) -> *mut bindings::vm_fault {
        self.vmf.get()
    }

    /// Returns the VMA of the fault.
    #[inline]
    pub fn vma(&self) -> &VmaRef {
        // SAFETY: By the type invariants the fault is valid; `vma` is set before `->fault` is
        // called and never changed.
        let vma = unsafe { (*self.as_ptr()).__bindgen_anon_1.vma };
        // SAFETY: The fault holds the VMA lock or the mmap lock while `self` is borrowed.
        unsafe { VmaRef::from_raw(vma) }
    }

    /// Returns the page-aligned faulting address.
    #[inline]
    pub fn address(&self) -> usize {
        // SAFETY: By the type invariants the fault is valid; `address` is never changed.
        unsafe { (*self.as_ptr()).__bindgen_anon_1.address }
    }

    /// Returns the faulting page's offset in the file, in pages.
    #[inline]
    pub fn pgoff(&self) -> usize {
        // SAFETY: By the type invariants the fault is valid; `pgoff` is never changed.
        unsafe { (*self.as_ptr()).__bindgen_anon_1.pgoff }
    }

    #[inline]
    fn has_flag(&self, flag: bindings::fault_flag) -> bool {
        // SAFETY: By the type invariants the fault is valid; the core changes `flags` only
        // after the handler returned (`FAULT_FLAG_TRIED` on a retry).
        unsafe { (*self.as_ptr()).flags & flag != 0 }
    }

    /// Returns whether this is a write fault.
    #[inline]
    pub fn is_write(&self) -> bool {
        self.has_flag(bindings::fault_flag_FAULT_FLAG_WRITE)
    }

    /// Returns the lock the fault runs under.
    #[inline]
    pub fn lock(&self) -> VmaLockKind {
        if self.has_flag(bindings::fault_flag_FAULT_FLAG_VMA_LOCK) {
            VmaLockKind::Vma
        } else {
            VmaLockKind::Mmap
        }
    }

    /// Returns whether the handler may return [`VmFaultResult::Retry`] (`FAULT_FLAG_ALLOW_RETRY`).
    #[inline]
    pub fn can_retry(&self) -> bool {
        self.has_flag(bindings::fault_flag_FAULT_FLAG_ALLOW_RETRY)
    }

    /// Maps `page` at the faulting address.
    ///
    /// Fails with `SIGBUS` if the VMA has no `VM_MIXEDMAP`. A page that another thread mapped
    /// first counts as success.
    #[inline]
    pub fn insert_page(&self, page: &Page) -> VmFaultResult {
        let Some(vma) = self.vma().as_mixedmap_vma() else {
            return VmFaultResult::Sigbus;
        };
        match vma.vm_insert_page(self.address(), page) {
            Ok(()) => VmFaultResult::NoPage,
            Err(e) if e == EBUSY => VmFaultResult::NoPage,
            Err(e) => e.into(),
        }
    }

    /// Turns `res` into a `vm_fault_t`, releasing the fault's lock for a retry as the C contract
    /// requires. Consumes the borrow: the VMA may be gone afterwards.
    #[inline]
    fn finish(&self, res: VmFaultResult) -> bindings::vm_fault_t {
        if res == VmFaultResult::Retry {
            return self.retry();
        }
        res as bindings::vm_fault_t
    }

    /// [`VmFault::finish`] for [`VmFaultResult::Retry`]: `VM_FAULT_RETRY`, with the fault's lock
    /// released unless `FAULT_FLAG_RETRY_NOWAIT` is set, or `VM_FAULT_SIGBUS` (and a warning) if
    /// the fault cannot be retried. Must be the last use of the fault: once the lock is released
    /// the VMA may be gone.
    #[inline]
    fn retry(&self) -> bindings::vm_fault_t {
        if !self.can_retry() {
            retry_not_allowed();
            return VmFaultResult::Sigbus as bindings::vm_fault_t;
        }
        if !self.has_flag(bindings::fault_flag_FAULT_FLAG_RETRY_NOWAIT) {
            // SAFETY: The fault holds the lock named by its flags, and returning
            // `VM_FAULT_RETRY` without `FAULT_FLAG_RETRY_NOWAIT` means we release it.
            unsafe { bindings::release_fault_lock(self.as_ptr()) };
        }
        VmFaultResult::Retry as bindings::vm_fault_t
    }
}

/// A VMA as [`VmOperations::open`] and [`VmOperations::close`] see it: its range, offset,
/// flags and file, but not its address space.
///
/// `close` also runs from `exit_mmap()`, when `mm_users` is already zero, and from the teardown
/// of a failed `fork`; `open` runs for `fork` on the child's address space while it is being
/// built, and on some kernels a `fork` that fails later leaves that address space holding some
/// of the parent's VMAs. An `&MmWithUser` there would let safe code take a user reference on a dead
/// or half-built address space (`mmget()` after the last `mmput()`, a second `__mmput()` when
/// it is dropped, or VMA lookups that reach the parent's VMAs).
///
/// # Invariants
///
/// The [`VmaRef`] invariants hold (the VMA's mmap lock is held), but the address space may not
/// be usable: [`VmaRef::mm`] must not be called.
#[repr(transparent)]
pub struct VmaInfo {
    vma: VmaRef,
}

impl VmaInfo {
    /// # Safety
    ///
    /// `vma` must be the VMA passed to `vm_ops->open` or `vm_ops->close`, or the one
    /// `vm_ops->mapped` was called for, and `'a` must end before the callback returns.
    #[inline]
    unsafe fn from_raw<'a>(vma: *mut bindings::vm_area_struct) -> &'a Self {
        // SAFETY: `VmaInfo` is a transparent wrapper of `VmaRef`, which wraps the VMA; the
        // core calls `open` and `close` with the VMA's mmap lock held, and the caller ensures
        // `'a` ends before the callback returns.
        unsafe { &*vma.cast() }
    }

    /// Returns the VMA's start address.
    #[inline]
    pub fn start(&self) -> usize {
        self.vma.start()
    }

    /// Returns the VMA's end address (exclusive).
    #[inline]
    pub fn end(&self) -> usize {
        self.vma.end()
    }

    /// Returns the VMA's offset in its file, in pages.
    #[inline]
    pub fn pgoff(&self) -> usize {
        self.vma.pgoff()
    }

    /// Returns the VMA's flags.
    #[inline]
    pub fn flags(&self) -> vm_flags_t {
        self.vma.flags()
    }

    /// Returns the file the VMA maps, if any. The VMA holds a reference until after `close`.
    #[inline]
    pub fn file(&self) -> Option<&File> {
        self.vma.file()
    }
}

/// Operations of a driver's VMAs.
///
/// A value of the implementing type is what `mmap_prepare` hands to [`VmaDesc::set_vm_ops`],
/// borrowed from the open file: [`VmOperations::mapped`] makes the mapping's `Data` from it.
/// `Data` is shared by all VMAs created from that mapping (including the pieces of a split and
/// the copies made by `fork`); each holds an [`Arc`] reference that the abstraction takes in
/// `open` and drops in `close`.
///
/// # Examples
///
/// A mapping of one page, faulted in under the per-VMA lock:
///
/// ```
/// use kernel::mm::vm_ops::{VmFault, VmFaultResult, VmOperations, VmaInfo};
/// use kernel::page::Page;
/// use kernel::sync::{Arc, ArcBorrow};
///
/// struct OnePage;
///
/// #[vtable]
/// impl VmOperations for OnePage {
///     type Data = Page;
///
///     fn mapped(&self, _vma: &VmaInfo) -> Result<Arc<Page>> {
///         Ok(Arc::new(Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?, GFP_KERNEL)?)
///     }
///
///     fn fault(page: ArcBorrow<'_, Page>, vmf: &VmFault) -> VmFaultResult {
///         if vmf.pgoff() != 0 {
///             return VmFaultResult::Sigbus;
///         }
///         vmf.insert_page(&page)
///     }
///
///     // Present, so faults run under the per-VMA lock.
///     fn map_pages(_page: ArcBorrow<'_, Page>, _start_pgoff: usize, _end_pgoff: usize) {}
/// }
/// ```
#[vtable]
pub trait VmOperations: Sized + 'static {
    /// Data shared by the VMAs of one mapping.
    type Data: Send + Sync;

    /// Makes the data of a new mapping, once its VMA exists (`vm_ops->mapped`).
    ///
    /// `self` is what `mmap_prepare` passed to [`VmaDesc::set_vm_ops`]. It is not called if the
    /// mapping was merged into an existing VMA, or failed before its VMA was linked: then no
    /// data is made, and nothing needs undoing. It may allocate. If it fails, the core unmaps
    /// the VMA and `mmap()` returns the error. It runs with the mmap write lock held, before
    /// any fault can reach the VMA (it is write-marked, or, where the misc device runs this step
    /// from `f_op->mmap`, not yet linked).
    fn mapped(&self, _vma: &VmaInfo) -> Result<Arc<Self::Data>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Fills the VMA of a new mapping with the data [`VmOperations::mapped`] just made, before
    /// any fault can reach it: for example, maps pages the data owns with
    /// [`VmaMapped::remap_page`].
    ///
    /// If it fails, the abstraction removes every page table entry of the VMA and then drops
    /// the data, so entries to memory the data owns never outlive it; the core then unmaps
    /// the VMA and `mmap()` returns the error.
    ///
    /// [`VmaMapped::remap_page`]: VmaMapped::remap_page
    fn populate(_data: ArcBorrow<'_, Self::Data>, _vma: &VmaMapped) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Called when a VMA is created from an existing one (split, `mremap` move, `fork`).
    ///
    /// It runs with the mmap write lock of the new VMA's address space held. For `fork` that is
    /// the child's, which is still being built: `vma` is a [`VmaInfo`], which cannot reach it.
    fn open(_data: ArcBorrow<'_, Self::Data>, _vma: &VmaInfo) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Called when a VMA is removed from its address space, after its pages were unmapped.
    ///
    /// It runs with the mmap lock held for reading (`munmap` downgrades it before removing
    /// VMAs) or for writing (`exit_mmap`, with no users left, and the teardown of a failed
    /// `fork`): `vma` is a [`VmaInfo`], which cannot reach the address space.
    fn close(_data: ArcBorrow<'_, Self::Data>, _vma: &VmaInfo) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Handles a page fault.
    ///
    /// Without it, a fault on an address the driver has not mapped raises `SIGBUS` (a driver
    /// that maps every page itself, as Binder does, needs none); one that races with the
    /// driver's own insertion finds the page (`do_fault()`).
    fn fault(_data: ArcBorrow<'_, Self::Data>, _vmf: &VmFault) -> VmFaultResult {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Called before `fault` for read faults to map pages around the faulting one
    /// ("fault-around", `do_fault_around()`).
    ///
    /// Implementing it is what lets `fault` run under the per-VMA lock
    /// (`vmf_can_call_fault()`). The abstraction lets it map nothing: it only sees the data,
    /// and returns 0, so the core goes on to `fault`. That costs one indirect call per read
    /// fault (and none per write fault, which skips fault-around). It runs under
    /// `rcu_read_lock()` with the fault's lock held, so it must not sleep; the data it borrows
    /// is kept alive by the VMA, which the fault's lock keeps alive.
    fn map_pages(_data: ArcBorrow<'_, Self::Data>, _start_pgoff: usize, _end_pgoff: usize) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// The `vm_operations_struct` of a [`VmOperations`] implementation, followed by what the
/// abstraction needs to recognise it.
///
/// The callbacks never derive the table from `vma->vm_ops`: a stacking file system may run
/// them through a copy of `ops` (coda's `coda_vm_ops`), which is not a `RawVmOps`.
///
/// A VMA running these operations holds in its private data either a reference to its
/// `T::Data` made by `into_foreign`, or, from `mmap_prepare` until `mapped` succeeds, the
/// address of the `T` passed to [`VmaDesc::set_vm_ops`] with bit 0 set (see [`is_prepared`]):
/// `mapped` can fail, and the core then unmaps the VMA, calling `close`.
#[repr(C)]
pub(crate) struct RawVmOps {
    pub(crate) ops: bindings::vm_operations_struct,
    /// Makes the data of a new VMA running these operations: `T::mapped`, `T::populate`.
    pub(crate) commit: unsafe fn(*mut bindings::vm_area_struct, *mut *mut c_void) -> Result,
    /// `TypeId::of::<T>`: tells the tables of different implementations apart, even ones whose
    /// code and data layout are identical (see [`VmaRef::vm_data`]).
    type_id: fn() -> TypeId,
}

/// Whether the private data `data` of a VMA running a [`RawVmOps`] is still the `T` that
/// `mmap_prepare` passed (tagged with bit 0), rather than a reference to `T::Data`.
#[inline]
fn is_prepared(data: *const c_void) -> bool {
    data as usize & 1 != 0
}

/// The `vm_operations_struct` of a [`VmOperations`] implementation.
pub(crate) struct VmOpsTable<T>(PhantomData<T>);

impl<T: VmOperations> VmOpsTable<T> {
    const TABLE: RawVmOps = RawVmOps {
        // `vm_ops->mapped` where the kernel has it; elsewhere the misc device calls `commit`.
        ops: super::virt::vm_ops_with_mapped(
            bindings::vm_operations_struct {
                open: Some(Self::open),
                close: Some(Self::close),
                fault: if T::HAS_FAULT {
                    Some(Self::fault)
                } else {
                    None
                },
                map_pages: if T::HAS_MAP_PAGES {
                    Some(Self::map_pages)
                } else {
                    None
                },
                // SAFETY: All-zeroes is a valid `vm_operations_struct`: every other callback is
                // unset.
                ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
            },
            Self::mapped,
        ),
        commit: Self::commit,
        type_id: TypeId::of::<T>,
    };

    /// Returns the table installed on VMAs running `T`.
    pub(crate) fn table() -> &'static RawVmOps {
        &Self::TABLE
    }

    /// # Safety
    ///
    /// `vma` must run these operations, hold a reference to its data (not a prepared `T`), and
    /// be locked; `'a` must not outlast the callback.
    unsafe fn data<'a>(vma: *mut bindings::vm_area_struct) -> ArcBorrow<'a, T::Data> {
        // SAFETY: VMAs running these operations hold an `Arc<T::Data>` in their private data
        // until `close` returns, once `mapped` succeeded.
        unsafe { <Arc<T::Data> as ForeignOwnable>::borrow((*vma).vm_private_data) }
    }

    /// Whether `vma`, which runs these operations, still waits for `mapped`.
    ///
    /// # Safety
    ///
    /// `vma` must be valid and locked.
    unsafe fn prepared(vma: *mut bindings::vm_area_struct) -> bool {
        // SAFETY: The caller ensures the VMA is valid and locked.
        is_prepared(unsafe { (*vma).vm_private_data })
    }

    /// # Safety
    ///
    /// Called by mm as `vm_ops->open` of a VMA running these operations.
    unsafe extern "C" fn open(vma: *mut bindings::vm_area_struct) {
        // SAFETY: `open` is called with the mmap write lock held on a new VMA copied from one
        // running these operations (split, `mremap`, `fork`), so it carries the same private
        // data, which the original VMA keeps alive.
        if unsafe { Self::prepared(vma) } {
            // A VMA whose `mapped` never succeeded: 7.3 leaves it mapped if unmapping it after
            // the failure fails too (`mmap_action_finish()` ignores `do_munmap()`'s result).
            // The copy holds no reference, as the original holds none.
            return;
        }
        // SAFETY: As above; the VMA holds a reference to its data.
        let data = unsafe { Self::data(vma) };
        // The new VMA owns a reference of its own; `into_foreign` returns the same pointer as
        // the one already stored.
        let _ = Arc::<T::Data>::from(data).into_foreign();
        if T::HAS_OPEN {
            // SAFETY: This is `vm_ops->open`, called with the mmap write lock of the VMA's
            // address space held; the reference lives only during the callback.
            T::open(data, unsafe { VmaInfo::from_raw(vma) });
        }
    }

    /// # Safety
    ///
    /// Called by mm as `vm_ops->close` of a VMA running these operations.
    unsafe extern "C" fn close(vma: *mut bindings::vm_area_struct) {
        // SAFETY: `close` runs with the VMA's mmap lock held.
        if unsafe { Self::prepared(vma) } {
            // The core unmaps a VMA whose `mapped` failed (or was never reached): it holds no
            // data.
            return;
        }
        if T::HAS_CLOSE {
            // SAFETY: This is `vm_ops->close`, called once for each VMA running these
            // operations, with its mmap lock held (for reading after `munmap` downgraded it,
            // for writing in `exit_mmap` and a failed `fork`); the reference lives only during
            // the callback.
            let info = unsafe { VmaInfo::from_raw(vma) };
            // SAFETY: The VMA still holds its reference.
            T::close(unsafe { Self::data(vma) }, info);
        }
        // SAFETY: The VMA owns one reference, dropped here as the VMA goes away.
        drop(unsafe { <Arc<T::Data> as ForeignOwnable>::from_foreign((*vma).vm_private_data) });
    }

    /// Makes the data of `vma`, a new VMA running these operations whose private data `*data`
    /// is the prepared `T`, and replaces `*data` with a reference to it.
    ///
    /// # Safety
    ///
    /// `vma` must be a VMA the current `mmap` call just set up from a [`VmaDesc`] on which
    /// `set_vm_ops::<T>` was called, not yet reachable by faults: its mmap write lock is held,
    /// and it is write-marked or not yet linked. `data` must point to its private data, whose
    /// `T` is still borrowed from the open file being mapped.
    unsafe fn commit(vma: *mut bindings::vm_area_struct, data: *mut *mut c_void) -> Result {
        if !T::HAS_MAPPED {
            // Not reachable: `set_vm_ops` refuses to build for such a `T`, so no VMA runs its
            // table, which only exists for `vm_data` to compare against.
            return Err(EINVAL);
        }
        // SAFETY: By the safety requirements, `*data` is the tagged address of a `T` that the
        // file being mapped keeps alive during `mmap`.
        let source = unsafe { &*(*data).cast::<u8>().wrapping_sub(1).cast::<T>() };
        // SAFETY: `vma` is valid and its mmap write lock is held; the reference does not
        // outlive this call.
        let new = source.mapped(unsafe { VmaInfo::from_raw(vma) })?;
        if T::HAS_POPULATE {
            // SAFETY: `vma` was just set up by this `mmap` call and no fault can reach it.
            let mapped = unsafe { VmaMapped::from_raw(vma) };
            if let Err(err) = T::populate(new.as_arc_borrow(), mapped) {
                // SAFETY: The mmap write lock is held, and the VMA's zaps untrack nothing: the
                // remaps `VmaMapped` offers never track the VMA whole. The range is the whole
                // VMA, so this cannot fail.
                let _ = unsafe { mapped.zap_locked(mapped.start(), mapped.end() - mapped.start()) };
                // `new` is dropped after the entries to the memory it owns are gone.
                return Err(err);
            }
        }
        // `into_foreign()` returns a `*const` pointer on some kernels and `*mut` on others.
        let new: *const c_void = new.into_foreign();
        // SAFETY: `data` points to the VMA's private data (safety requirements).
        unsafe { *data = new.cast_mut() };
        Ok(())
    }

    /// # Safety
    ///
    /// Called by mm as `vm_ops->mapped` of a new VMA running these operations, which
    /// `mmap_prepare` installed with `set_vm_ops::<T>`, in `current`'s address space.
    unsafe extern "C" fn mapped(
        start: c_ulong,
        end: c_ulong,
        _pgoff: c_ulong,
        _file: *const bindings::file,
        data: *mut *mut c_void,
    ) -> c_int {
        from_result(|| {
            // SAFETY: `mapped` runs in the task doing the `mmap`, which has an address space.
            let mm = unsafe { (*bindings::get_current()).mm };
            // SAFETY: The core calls `mapped` with the mmap write lock held, after it linked
            // the VMA, so the lookup finds it.
            let vma = unsafe { bindings::vma_lookup(mm, start) };
            if vma.is_null() {
                // A stacked caller's VMA (`compat_vma_mmap()`) is not linked yet.
                return Err(EINVAL);
            }
            // SAFETY: A VMA returned by `vma_lookup` is valid under the mmap lock, which is
            // held until `mapped` returns.
            let (ours, whole) = unsafe {
                (
                    ptr::eq((*vma).vm_ops, &Self::table().ops)
                        && (*vma).vm_private_data == *data
                        && is_prepared(*data),
                    VmaRef::from_raw(vma).end() as c_ulong == end,
                )
            };
            // Only the new VMA runs these operations with this prepared value: an older VMA
            // of the same range would have its data.
            if !ours || !whole {
                return Err(EINVAL);
            }
            // SAFETY: This is the VMA the core calls `mapped` for, linked but write-marked, so
            // no fault reaches it until the mmap write lock is released; `data` is its private
            // data as `mmap_prepare` set it, the prepared `T`.
            unsafe { Self::commit(vma, data) }?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by mm as `vm_ops->fault` of a VMA running these operations.
    unsafe extern "C" fn fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        // SAFETY: The core calls `->fault` with a valid fault whose VMA is locked.
        let fault = unsafe { VmFault::from_raw(vmf) };
        // SAFETY: The VMA is locked during the fault.
        if unsafe { Self::prepared(fault.vma().as_ptr()) } {
            // A VMA whose `mapped` failed and that stayed mapped (see `open`): it has no data.
            return VmFaultResult::Sigbus as bindings::vm_fault_t;
        }
        // SAFETY: The VMA runs these operations, holds its data and is locked during the fault.
        let data = unsafe { Self::data(fault.vma().as_ptr()) };
        let res = T::fault(data, fault);
        fault.finish(res)
    }

    /// # Safety
    ///
    /// Called by mm as `vm_ops->map_pages` of a VMA running these operations.
    unsafe extern "C" fn map_pages(
        vmf: *mut bindings::vm_fault,
        start_pgoff: crate::ffi::c_ulong,
        end_pgoff: crate::ffi::c_ulong,
    ) -> bindings::vm_fault_t {
        // SAFETY: The core calls `->map_pages` with a valid fault whose VMA is locked.
        let vma = unsafe { (*vmf).__bindgen_anon_1.vma };
        // SAFETY: The VMA is locked during the call.
        if !unsafe { Self::prepared(vma) } {
            // SAFETY: The VMA runs these operations, holds its data and is locked.
            T::map_pages(unsafe { Self::data(vma) }, start_pgoff, end_pgoff);
        }
        0
    }
}

impl VmaRef {
    /// Returns the private data of this VMA, if it runs the `vm_operations` of `T`
    /// ([`VmaDesc::set_vm_ops::<T>`]) and its mapping is complete ([`VmOperations::mapped`]
    /// made the data).
    ///
    /// VMAs are reused while RCU readers still see them: this re-identifies the VMA by its
    /// operations rather than by its address.
    ///
    /// `T`'s VMAs are recognised by the address of `T`'s table and, before the private data is
    /// cast to `T::Data`, by the [`TypeId`] that table holds: Rust guarantees neither that a
    /// constant has one address nor that the constants of two types have different ones (LLVM
    /// merges identical constants and functions), but `TypeId::of::<T>()` differs for every
    /// type. This never returns another type's data. Were the compiler to emit a second copy
    /// of `T`'s table (Kbuild builds each crate as one codegen unit, so it does not), this
    /// would return `None` for some of `T`'s VMAs.
    ///
    /// [`VmaDesc::set_vm_ops::<T>`]: VmaDesc::set_vm_ops
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::mm::{virt::VmaRef, vm_ops::VmOperations};
    ///
    /// /// The start of `vma` if it is one of `T`'s, with its data.
    /// fn ours<T: VmOperations>(vma: &VmaRef) -> Option<usize> {
    ///     vma.vm_data::<T>().map(|_data| vma.start())
    /// }
    /// ```
    #[inline]
    pub fn vm_data<T: VmOperations>(&self) -> Option<ArcBorrow<'_, T::Data>> {
        // SAFETY: By the type invariants the VMA is valid and stable.
        let (ops, data) = unsafe { ((*self.as_ptr()).vm_ops, (*self.as_ptr()).vm_private_data) };
        let table = VmOpsTable::<T>::table();
        if !ptr::eq(ops, &table.ops) || is_prepared(data) {
            return None;
        }
        // SAFETY: `ops` is the `ops` field, and first field, of a `#[repr(C)]` `RawVmOps`:
        // `T`'s table, or one the compiler merged with it at the same address.
        let table = unsafe { &*ops.cast::<RawVmOps>() };
        if (table.type_id)() != TypeId::of::<T>() {
            return None;
        }
        // SAFETY: VMAs running the operations of `T` own an `Arc<T::Data>` in their private
        // data once `mapped` made it (installed by `commit`, duplicated by `open`), which lives
        // while the VMA does.
        Some(unsafe { <Arc<T::Data> as ForeignOwnable>::borrow(data) })
    }
}

/// A mapping being set up by `mmap_prepare`, before its VMA exists (`struct vm_area_desc`): the
/// fields the misc device copies from the C descriptor (or, where the kernel has no
/// `mmap_prepare`, from the new VMA) and back.
pub(crate) struct RawVmaDesc {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) pgoff: usize,
    pub(crate) flags: vm_flags_t,
    pub(crate) file: *mut bindings::file,
    /// The operations [`VmaDesc::set_vm_ops`] installed, if it was called.
    pub(crate) ops: Option<&'static RawVmOps>,
    /// The VMA's private data until `mapped`: the tagged address of the `T` the operations
    /// make their data from.
    pub(crate) private_data: *mut c_void,
    /// The pages [`VmaDesc::map_kernel_pages`] asked the core to map from the start of the
    /// mapping once the VMA exists: `(array, count)`, the array valid as long as the open file.
    pub(crate) kernel_pages: Option<(*const *mut bindings::page, usize)>,
}

impl RawVmaDesc {
    /// A descriptor of `[start, end)` at page offset `pgoff` of `file`, with `flags`.
    ///
    /// Fails with `EINVAL` if `flags` already make the mapping a mixed or a PFN map, which a
    /// [`VmaDesc`] of [`kind::Plain`] must not be (a stacked caller fills the descriptor from
    /// an existing VMA).
    pub(crate) fn new(
        start: usize,
        end: usize,
        pgoff: usize,
        flags: vm_flags_t,
        file: *mut bindings::file,
    ) -> Result<Self> {
        if flags & (flags::MIXEDMAP | flags::PFNMAP) != 0 {
            return Err(EINVAL);
        }
        Ok(Self {
            start,
            end,
            pgoff,
            flags,
            file,
            ops: None,
            private_data: ptr::null_mut(),
            kernel_pages: None,
        })
    }

    /// A descriptor of the mapping the C descriptor `desc` of `f_op->mmap_prepare` describes.
    pub(crate) fn from_c(desc: &bindings::vm_area_desc) -> Result<Self> {
        // `vma_flags_t` is one word of the legacy `vm_flags_t` bits (`vma_flags_to_legacy()`).
        let flags = desc.vma_flags.__vma_flags[0];
        Self::new(desc.start, desc.end, desc.pgoff, flags, desc.file)
    }

    /// Writes what the driver changed back to the C descriptor `desc`: only the mutable fields
    /// change, and the core merges or creates the VMA from them.
    pub(crate) fn to_c(&self, desc: &mut bindings::vm_area_desc) {
        desc.pgoff = self.pgoff;
        desc.vma_flags.__vma_flags[0] = self.flags;
        if let Some(ops) = self.ops {
            desc.vm_ops = &ops.ops;
            desc.private_data = self.private_data;
        }
        if let Some((pages, count)) = self.kernel_pages {
            // SAFETY: `desc` is a descriptor being prepared. `count` is the mapping's size in
            // pages, and `pages` points to `count` pointers to pages that `map_kernel_pages`
            // borrowed for `'a`, which lasts until the `mmap` call returns, after the core ran
            // the action (`VmaDesc` invariants; `prepare_raw`'s callers promise the same).
            unsafe {
                bindings::mmap_action_map_kernel_pages(
                    desc,
                    self.start as c_ulong,
                    pages.cast_mut(),
                    count as c_ulong,
                )
            };
        }
    }
}

/// Pages a driver owns and maps into user space whole, at `mmap` time, with the core's
/// `map_kernel_pages` mmap action ([`VmaDesc::map_kernel_pages`]).
///
/// Each mapped page holds a reference of its own, so the pages outlive this value for as long
/// as a mapping shows them. User space accesses them concurrently with the kernel; the driver
/// reaches their contents only through [`Page`]'s raw accessors, whose callers must account
/// for that.
///
/// # Invariants
///
/// `ptrs[i]` is the `struct page` of `pages[i]`, for every `i`, and `pages` is never changed.
pub struct KernelPages {
    pages: KVec<Page>,
    ptrs: KVec<*mut bindings::page>,
}

// SAFETY: The pointers only name the pages this value owns, which `Page` lets any thread free.
unsafe impl Send for KernelPages {}
// SAFETY: A shared reference only reads the pointers, or lends the pages.
unsafe impl Sync for KernelPages {}

impl KernelPages {
    /// Takes `pages`, for mappings to show.
    pub fn new(pages: KVec<Page>, flags: Flags) -> Result<Self> {
        let mut ptrs = KVec::with_capacity(pages.len(), flags)?;
        for page in pages.iter() {
            ptrs.push(page.as_ptr(), flags)?;
        }
        // INVARIANT: `ptrs` was made from `pages`, in order.
        Ok(Self { pages, ptrs })
    }

    /// Returns the pages, for example for a fault to map one again after a zap.
    pub fn pages(&self) -> &[Page] {
        &self.pages
    }
}

/// The kinds of mapping a [`VmaDesc`] can be set to: each kind is a type, so that a
/// descriptor is one kind at most.
pub mod kind {
    /// Neither a mixed map nor a PFN map (yet).
    pub struct Plain;
    /// `VM_MIXEDMAP`: pages are inserted with `vm_insert_page()`.
    pub struct MixedMap;
    /// `VM_PFNMAP`: page frames are inserted without a page reference.
    pub struct PfnMap;
}

/// A mapping being set up by a driver's `mmap_prepare`, before its VMA exists
/// (`struct vm_area_desc`).
///
/// `'a` is the `mmap_prepare` call, as the misc device lends it together with the open file's
/// data, which lives until the file is released: after every VMA of it is gone. `K` is the kind
/// of mapping: a descriptor becomes a mixed map or a PFN map by value ([`VmaDesc::set_mixedmap`],
/// [`VmaDesc::set_pfnmap`]), so it cannot become both.
///
/// # Examples
///
/// ```
/// use kernel::mm::virt::flags;
/// use kernel::mm::vm_ops::{kind::Plain, VmaDesc};
///
/// fn prepare(mut desc: VmaDesc<'_, Plain>) -> Result {
///     if desc.flags() & flags::SHARED == 0 {
///         // A private mapping gets copy-on-write copies: read-only only.
///         desc.try_clear_maywrite()?;
///     }
///     let _desc = desc.set_mixedmap();
///     Ok(())
/// }
/// ```
///
/// # Invariants
///
/// `raw` describes a mapping being prepared by the current `mmap` call, whose mmap write lock
/// is held; its `file` is the open file being mapped, valid for `'a`.
pub struct VmaDesc<'a, K = kind::Plain> {
    raw: &'a mut RawVmaDesc,
    _kind: PhantomData<K>,
    /// Makes `'a` invariant: `&'a mut` alone is covariant, so a driver could shorten `'a` (by
    /// moving the descriptor into a binding or a function with a shorter lifetime) and then
    /// pass `set_vm_ops` a value that dies before `mapped` runs.
    _invariant: PhantomData<fn(&'a ()) -> &'a ()>,
}

impl<'a> VmaDesc<'a> {
    /// Lends `raw` to a driver's `mmap_prepare`.
    ///
    /// # Safety
    ///
    /// `raw` must describe a mapping being prepared by the current `mmap` call, with its mmap
    /// write lock held and its `file` valid for `'a`, and the open file's data lent with it
    /// must live until the mapping's `mapped` step has run (or will not run).
    pub(crate) unsafe fn new(raw: &'a mut RawVmaDesc) -> Self {
        // INVARIANT: The caller ensures `raw` describes the mapping being prepared.
        Self {
            raw,
            _kind: PhantomData,
            _invariant: PhantomData,
        }
    }

    /// Makes the mapping a mixed map (`VM_MIXEDMAP`): its faults insert pages with
    /// [`VmFault::insert_page`].
    pub fn set_mixedmap(self) -> VmaDesc<'a, kind::MixedMap> {
        self.raw.flags |= flags::MIXEDMAP;
        self.into_kind()
    }
}

impl<'a> VmaDesc<'a, kind::MixedMap> {
    /// Asks the core to map the pages of `pages` from `first` over the whole mapping once its
    /// VMA exists (the `map_kernel_pages` mmap action), with the mapping's page protection,
    /// before the [`VmOperations::mapped`] step. If that fails, so does the `mmap` call, and
    /// nothing stays mapped. `pages` is borrowed for `'a`, as long as the open file's data the
    /// misc device lends with the descriptor: the core reads the page array after
    /// `mmap_prepare` returned.
    ///
    /// Fails with `EINVAL`, changing nothing, unless `pages` has a page at `first` and at every
    /// later page offset of the mapping, and with `EBUSY` if the mapping already has an action.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::mm::vm_ops::{kind::MixedMap, KernelPages, VmaDesc};
    /// use kernel::prelude::*;
    ///
    /// // Shows the first pages of `pages`, read-only, in every mapping.
    /// fn prepare<'a>(mut desc: VmaDesc<'a>, pages: &'a KernelPages) -> Result {
    ///     desc.try_clear_maywrite()?;
    ///     desc.set_mixedmap().map_kernel_pages(pages, 0)
    /// }
    /// ```
    pub fn map_kernel_pages(&mut self, pages: &'a KernelPages, first: usize) -> Result {
        let count = (self.raw.end - self.raw.start) >> crate::page::PAGE_SHIFT;
        let last = first.checked_add(count).ok_or(EINVAL)?;
        // INVARIANT of `KernelPages`: `ptrs` matches `pages`.
        let ptrs = pages.ptrs.get(first..last).ok_or(EINVAL)?;
        if self.raw.kernel_pages.is_some() {
            return Err(EBUSY);
        }
        self.raw.kernel_pages = Some((ptrs.as_ptr(), count));
        Ok(())
    }
}

impl VmaDesc<'_> {
    /// Runs `prepare`, the `f_op->mmap_prepare` step of a driver whose `file_operations` the
    /// kernel crate does not make (a misc device implements `MiscDevice::mmap_prepare`): lends
    /// it the file being mapped and a [`VmaDesc`] of `desc`, then writes back to `desc` what
    /// `prepare` changed, if it succeeded.
    ///
    /// Fails with `EINVAL`, without calling `prepare`, if `desc` describes a mixed or PFN map
    /// already.
    ///
    /// # Safety
    ///
    /// `desc` must be the descriptor passed to the current `f_op->mmap_prepare` call (whose file
    /// no `fdget_pos` region covers, as for every such call), and what `prepare` passes to
    /// [`VmaDesc::set_vm_ops`] or [`VmaDesc::map_kernel_pages`] must live until that `mmap` call
    /// returns: `prepare` can only pass values it borrows from its caller, which the borrow
    /// checker cannot follow past the call.
    pub unsafe fn prepare_raw(
        desc: *mut bindings::vm_area_desc,
        prepare: impl for<'a> FnOnce(&'a File, VmaDesc<'a>) -> Result,
    ) -> Result {
        // SAFETY: The caller passes the descriptor of the current `mmap_prepare` call, which
        // nothing else accesses until the call returns.
        let desc = unsafe { &mut *desc };
        let mut raw = RawVmaDesc::from_c(desc)?;
        // SAFETY: The file being mapped holds a reference during `mmap`, and no `fdget_pos`
        // region is open on it through this reference.
        let file = unsafe { File::from_raw_file(desc.file) };
        // SAFETY: `raw` describes the mapping this `mmap` call prepares, with the mmap write lock
        // held; the caller ensures what `prepare` installs lives until `mapped` has run.
        prepare(file, unsafe { VmaDesc::new(&mut raw) })?;
        raw.to_c(desc);
        Ok(())
    }
}

impl<'a, K> VmaDesc<'a, K> {
    /// Changes the kind of the descriptor.
    pub(crate) fn into_kind<L>(self) -> VmaDesc<'a, L> {
        VmaDesc {
            raw: self.raw,
            _kind: PhantomData,
            _invariant: PhantomData,
        }
    }

    /// The flags the descriptor has now.
    pub(crate) fn raw_flags(&self) -> vm_flags_t {
        self.raw.flags
    }

    /// Sets `set` in the flags.
    pub(crate) fn set_raw_flags(&mut self, set: vm_flags_t) {
        self.raw.flags |= set;
    }

    /// Returns the start address of the mapping.
    #[inline]
    pub fn start(&self) -> usize {
        self.raw.start
    }

    /// Returns the end address of the mapping (exclusive).
    #[inline]
    pub fn end(&self) -> usize {
        self.raw.end
    }

    /// Returns the offset of the mapping in its file, in pages.
    #[inline]
    pub fn pgoff(&self) -> usize {
        self.raw.pgoff
    }

    /// Returns the flags the mapping will have.
    #[inline]
    pub fn flags(&self) -> vm_flags_t {
        self.raw.flags
    }

    /// Returns the file being mapped.
    #[inline]
    pub fn file(&self) -> &'a File {
        // SAFETY: By the type invariants `file` is the open file being mapped, valid for `'a`.
        unsafe { File::from_raw_file(self.raw.file) }
    }

    /// Sets `VM_DONTEXPAND`: `mremap()` may not grow the mapping (`EFAULT`), nor duplicate it
    /// (`MREMAP_MAYMOVE` with an old size of 0). It is one of the `VM_SPECIAL` flags, which
    /// the core never merges.
    pub fn set_dontexpand(&mut self) {
        self.raw.flags |= flags::DONTEXPAND;
    }

    /// Sets `VM_DONTCOPY`: `fork` does not copy the mapping into the child.
    pub fn set_dontcopy(&mut self) {
        self.raw.flags |= flags::DONTCOPY;
    }

    /// Clears `VM_MAYWRITE`, so the mapping can never be made writable. Fails with `EINVAL`,
    /// changing nothing, if it is writable already.
    pub fn try_clear_maywrite(&mut self) -> Result {
        if self.raw.flags & flags::WRITE != 0 {
            return Err(EINVAL);
        }
        self.raw.flags &= !flags::MAYWRITE;
        Ok(())
    }

    /// Clears `VM_MAYEXEC`, so the mapping can never be made executable. Fails with `EINVAL`,
    /// changing nothing, if it is executable already.
    pub fn try_clear_mayexec(&mut self) -> Result {
        if self.raw.flags & flags::EXEC != 0 {
            return Err(EINVAL);
        }
        self.raw.flags &= !flags::MAYEXEC;
        Ok(())
    }

    /// Installs the `vm_operations` of `T`: once the VMA exists, [`VmOperations::mapped`] makes
    /// its data from `source`, which lives as long as the open file (`'a`, which is invariant:
    /// it cannot be shortened to fit a value that dies sooner).
    ///
    /// The core may still merge the mapping into a neighbour of the same file, flags and
    /// offset: that VMA grows, keeps its own operations and data, and neither `mapped` nor
    /// `populate` runs for the new range. Call [`VmaDesc::set_dontexpand`] (or make the
    /// mapping a mixed or PFN map) to keep each mapping a VMA of its own.
    ///
    /// Returns `EBUSY`, changing nothing, if operations were already installed.
    pub fn set_vm_ops<T: VmOperations>(&mut self, source: &'a T) -> Result {
        // `mapped` makes the data: without it the VMAs would have none.
        build_assert!(T::HAS_MAPPED, "set_vm_ops() needs VmOperations::mapped");
        // Bit 0 of the private data tells the prepared `source` from the data (`is_prepared`).
        build_assert!(core::mem::align_of::<T>() >= 2);
        if self.raw.ops.is_some() {
            return Err(EBUSY);
        }
        self.raw.ops = Some(VmOpsTable::<T>::table());
        self.raw.private_data = ptr::from_ref(source)
            .cast::<u8>()
            .wrapping_add(1)
            .cast_mut()
            .cast();
        Ok(())
    }
}

/// The VMA of a new mapping, as [`VmOperations::populate`] sees it: created by this `mmap`
/// call from a [`VmaDesc`], with the data [`VmOperations::mapped`] made.
///
/// # Invariants
///
/// The mmap write lock of the VMA's address space is held, and no fault can reach the VMA: it
/// is write-marked, or not yet linked. It was created by the current `mmap` call, which has
/// mapped nothing in it yet but what the driver maps through this type and, in a mixed map,
/// the pages of a [`VmaDesc::map_kernel_pages`] action.
#[repr(transparent)]
pub struct VmaMapped {
    vma: VmaRef,
}

impl core::ops::Deref for VmaMapped {
    type Target = VmaRef;

    #[inline]
    fn deref(&self) -> &VmaRef {
        &self.vma
    }
}

impl VmaMapped {
    /// # Safety
    ///
    /// `vma` must be a VMA the current `mmap` call just set up, with its mmap write lock held
    /// and no fault able to reach it, for `'a`.
    #[inline]
    unsafe fn from_raw<'a>(vma: *mut bindings::vm_area_struct) -> &'a Self {
        // SAFETY: `VmaMapped` is a transparent wrapper of the VMA; the caller ensures the
        // invariants for `'a`.
        unsafe { &*vma.cast() }
    }
}
