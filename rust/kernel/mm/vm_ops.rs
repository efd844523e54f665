// SPDX-License-Identifier: GPL-2.0

//! VMA operations (`struct vm_operations_struct`) and page faults (`struct vm_fault`).
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h).
//!
//! A driver implements [`VmOperations`] and installs it from its `mmap` handler with
//! [`VmaNew::set_vm_ops`], together with per-VMA data held in an [`Arc`]; [`VmaRef::vm_data`]
//! recognises the driver's own VMAs and returns that data. The abstraction owns the
//! `open`/`close` callbacks, so every VMA (the first one, and each one split or duplicated from
//! it) holds exactly one reference to the data.
//!
//! # Faults under the per-VMA lock
//!
//! A driver's `fault` handler only runs under the per-VMA lock if its operations also have
//! `map_pages` (on 6.12 and 7.3 alike): otherwise `vmf_can_call_fault()` drops the VMA lock and
//! every fault is retried under the mmap lock. Implementing [`VmOperations::map_pages`] is
//! therefore the explicit opt-in to faults under the per-VMA lock. [`VmFault::lock`] tells a
//! handler which lock it runs under.

use super::virt::{VmaNew, VmaRef};
use crate::{
    bindings, build_error,
    error::{code::*, Error, VTABLE_DEFAULT_ERROR},
    page::Page,
    prelude::*,
    sync::{Arc, ArcBorrow},
    types::{ForeignOwnable, Opaque},
};
use core::{ffi::c_void, marker::PhantomData, ptr};

/// The lock a page fault runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultLock {
    /// The per-VMA read lock (`FAULT_FLAG_VMA_LOCK`).
    Vma,
    /// The mmap read lock.
    Mmap,
}

/// The result of a fault handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmFaultResult {
    /// A page is mapped at the faulting address (`VM_FAULT_NOPAGE`).
    NoPage,
    /// Ask the core to retry the fault, under the mmap lock if it ran under the VMA lock
    /// (`VM_FAULT_RETRY`). The abstraction releases the fault's lock as the C contract requires.
    /// Only valid if [`VmFault::can_retry`]; otherwise the fault fails with `SIGBUS`.
    Retry,
    /// Deliver `SIGBUS` (`VM_FAULT_SIGBUS`).
    Sigbus,
    /// Out of memory (`VM_FAULT_OOM`).
    Oom,
}

impl From<Error> for VmFaultResult {
    fn from(err: Error) -> Self {
        if err == ENOMEM {
            VmFaultResult::Oom
        } else {
            VmFaultResult::Sigbus
        }
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
    unsafe fn from_raw<'a>(vmf: *mut bindings::vm_fault) -> &'a Self {
        // SAFETY: The caller ensures the invariants are satisfied for `'a`.
        unsafe { &*vmf.cast() }
    }

    fn raw(&self) -> &bindings::vm_fault {
        // SAFETY: By the type invariants the fault is valid; its fields are not changed
        // concurrently.
        unsafe { &*self.vmf.get() }
    }

    /// Returns the VMA of the fault.
    #[inline]
    pub fn vma(&self) -> &VmaRef {
        // SAFETY: The fault holds the VMA lock or the mmap lock while `self` is borrowed.
        unsafe { VmaRef::from_raw(self.raw().__bindgen_anon_1.vma) }
    }

    /// Returns the page-aligned faulting address.
    #[inline]
    pub fn address(&self) -> usize {
        self.raw().__bindgen_anon_1.address
    }

    /// Returns the faulting page's offset in the file, in pages.
    #[inline]
    pub fn pgoff(&self) -> usize {
        self.raw().__bindgen_anon_1.pgoff
    }

    #[inline]
    fn has_flag(&self, flag: bindings::fault_flag) -> bool {
        self.raw().flags & flag != 0
    }

    /// Returns whether this is a write fault.
    #[inline]
    pub fn is_write(&self) -> bool {
        self.has_flag(bindings::fault_flag_FAULT_FLAG_WRITE)
    }

    /// Returns the lock the fault runs under.
    #[inline]
    pub fn lock(&self) -> FaultLock {
        if self.has_flag(bindings::fault_flag_FAULT_FLAG_VMA_LOCK) {
            FaultLock::Vma
        } else {
            FaultLock::Mmap
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
    fn finish(&self, res: VmFaultResult) -> bindings::vm_fault_t {
        let ret = match res {
            VmFaultResult::NoPage => bindings::vm_fault_reason_VM_FAULT_NOPAGE,
            VmFaultResult::Sigbus => bindings::vm_fault_reason_VM_FAULT_SIGBUS,
            VmFaultResult::Oom => bindings::vm_fault_reason_VM_FAULT_OOM,
            VmFaultResult::Retry if !self.can_retry() => {
                pr_warn!("fault handler asked for a retry that is not allowed\n");
                bindings::vm_fault_reason_VM_FAULT_SIGBUS
            }
            VmFaultResult::Retry => {
                if !self.has_flag(bindings::fault_flag_FAULT_FLAG_RETRY_NOWAIT) {
                    // SAFETY: The fault holds the lock named by its flags, and returning
                    // `VM_FAULT_RETRY` without `FAULT_FLAG_RETRY_NOWAIT` means we release it.
                    unsafe { bindings::release_fault_lock(self.vmf.get()) };
                }
                bindings::vm_fault_reason_VM_FAULT_RETRY
            }
        };
        ret as bindings::vm_fault_t
    }
}

/// Operations of a driver's VMAs.
///
/// `Data` is shared by all VMAs created from one `mmap` call (including the pieces of a split
/// and the copies made by `fork`); each holds an [`Arc`] reference that the abstraction takes in
/// `open` and drops in `close`.
///
/// # Examples
///
/// A mapping of one page, faulted in under the per-VMA lock:
///
/// ```
/// use kernel::mm::vm_ops::{VmFault, VmFaultResult, VmOperations};
/// use kernel::page::Page;
/// use kernel::sync::ArcBorrow;
///
/// struct OnePage;
///
/// #[vtable]
/// impl VmOperations for OnePage {
///     type Data = Page;
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

    /// Called when a VMA is created from an existing one (split, `mremap` move, `fork`).
    fn open(_data: ArcBorrow<'_, Self::Data>, _vma: &VmaRef) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Called when a VMA is removed from its address space.
    fn close(_data: ArcBorrow<'_, Self::Data>, _vma: &VmaRef) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Handles a page fault.
    fn fault(data: ArcBorrow<'_, Self::Data>, vmf: &VmFault) -> VmFaultResult;

    /// Called before `fault` for read faults to map pages around the faulting one.
    ///
    /// It runs under `rcu_read_lock()`, so it must not sleep, and it maps nothing here.
    /// Implementing it is what lets `fault` run under the per-VMA lock on 6.12.
    fn map_pages(_data: ArcBorrow<'_, Self::Data>, _start_pgoff: usize, _end_pgoff: usize) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// The `vm_operations_struct` of a [`VmOperations`] implementation, followed by what the
/// abstraction needs to recognise it and to undo [`VmaNew::set_vm_ops`].
///
/// Every table has the same `close` callback, [`vm_ops_close`], which is not generic: a VMA
/// whose `vm_ops->close` is that function runs a `RawVmOps`, whatever its `T`.
#[repr(C)]
struct RawVmOps {
    ops: bindings::vm_operations_struct,
    /// Runs `T::close`, then drops the VMA's reference to its data.
    close: unsafe fn(*mut bindings::vm_area_struct),
    /// Drops a reference to `T::Data` made by `into_foreign`.
    put_data: unsafe fn(*mut c_void),
}

/// The `vm_ops->close` callback of every [`RawVmOps`].
///
/// Never inlined: [`VmaNew::undo_vm_ops`] recognises the tables by this function's address.
///
/// # Safety
///
/// Called by mm as `vm_ops->close` of a VMA whose `vm_ops` points to the `ops` of a `RawVmOps`.
#[inline(never)]
unsafe extern "C" fn vm_ops_close(vma: *mut bindings::vm_area_struct) {
    // SAFETY: `ops` is the first field of a `#[repr(C)]` `RawVmOps`, so the pointers are equal;
    // the table is `'static`.
    let table = unsafe { &*(*vma).vm_ops.cast::<RawVmOps>() };
    // SAFETY: `table.close` belongs to the operations this VMA runs, and mm calls `close` once
    // for each VMA, with the mmap write lock held.
    unsafe { (table.close)(vma) };
}

/// The `vm_operations_struct` of a [`VmOperations`] implementation.
pub(crate) struct VmOpsTable<T>(PhantomData<T>);

impl<T: VmOperations> VmOpsTable<T> {
    const TABLE: RawVmOps = RawVmOps {
        ops: bindings::vm_operations_struct {
            open: Some(Self::open),
            close: Some(vm_ops_close),
            fault: Some(Self::fault),
            map_pages: if T::HAS_MAP_PAGES {
                Some(Self::map_pages)
            } else {
                None
            },
            // SAFETY: All-zeroes is a valid `vm_operations_struct`: every other callback is
            // unset.
            ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
        },
        close: Self::close,
        put_data: Self::put_data,
    };

    /// Returns the table. Its address identifies VMAs running `T` (see [`VmaRef::vm_data`]).
    pub(crate) fn vtable() -> &'static bindings::vm_operations_struct {
        &Self::table().ops
    }

    fn table() -> &'static RawVmOps {
        &Self::TABLE
    }

    /// # Safety
    ///
    /// `vma` must run these operations and be locked; `'a` must not outlast the callback.
    unsafe fn data<'a>(vma: *mut bindings::vm_area_struct) -> ArcBorrow<'a, T::Data> {
        // SAFETY: VMAs running these operations hold an `Arc<T::Data>` in their private data
        // until `close` returns.
        unsafe { <Arc<T::Data> as ForeignOwnable>::borrow((*vma).vm_private_data) }
    }

    /// # Safety
    ///
    /// `data` must come from `Arc::<T::Data>::into_foreign`, and the caller gives up that
    /// reference.
    unsafe fn put_data(data: *mut c_void) {
        // SAFETY: By the safety requirements, this reference is ours to drop.
        drop(unsafe { <Arc<T::Data> as ForeignOwnable>::from_foreign(data) });
    }

    /// # Safety
    ///
    /// Called by mm as `vm_ops->open` of a VMA running these operations.
    unsafe extern "C" fn open(vma: *mut bindings::vm_area_struct) {
        // SAFETY: `open` is called with the mmap write lock held on a new VMA copied from one
        // running these operations, so it carries the same private data.
        let data = unsafe { Self::data(vma) };
        // The new VMA owns a reference of its own; `into_foreign` returns the same pointer as
        // the one already stored.
        let _ = Arc::<T::Data>::from(data).into_foreign();
        if T::HAS_OPEN {
            // SAFETY: The VMA is valid and the mmap write lock is held during the callback.
            T::open(data, unsafe { VmaRef::from_raw(vma) });
        }
    }

    /// # Safety
    ///
    /// Called by [`vm_ops_close`] for a VMA running these operations.
    unsafe fn close(vma: *mut bindings::vm_area_struct) {
        // SAFETY: `close` is called once for each VMA running these operations, with the mmap
        // write lock held.
        let vma_ref = unsafe { VmaRef::from_raw(vma) };
        if T::HAS_CLOSE {
            // SAFETY: The VMA still holds its reference.
            T::close(unsafe { Self::data(vma) }, vma_ref);
        }
        // SAFETY: The VMA owns one reference, dropped here as the VMA goes away.
        unsafe { Self::put_data((*vma).vm_private_data) };
    }

    /// # Safety
    ///
    /// Called by mm as `vm_ops->fault` of a VMA running these operations.
    unsafe extern "C" fn fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        // SAFETY: The core calls `->fault` with a valid fault whose VMA is locked.
        let fault = unsafe { VmFault::from_raw(vmf) };
        // SAFETY: The VMA runs these operations and is locked during the fault.
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
        // SAFETY: The VMA runs these operations and is locked during the call.
        T::map_pages(unsafe { Self::data(vma) }, start_pgoff, end_pgoff);
        0
    }
}

impl VmaRef {
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
    ///
    /// [`VmaNew::set_vm_ops::<T>`]: VmaNew::set_vm_ops
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
}

impl VmaNew {
    /// Installs the `vm_operations` of `T` with `data` as the VMA's private data.
    ///
    /// Every VMA split or duplicated from this one takes its own reference to `data` (`open`),
    /// and each drops it when unmapped (`close`). Returns `EBUSY`, changing nothing, if
    /// operations or private data were already installed.
    ///
    /// It may be called anywhere in `mmap`: if `mmap` fails afterwards, the core frees the VMA
    /// without calling `close`, so the file operation that called `mmap` (see
    /// [`MiscDevice::mmap`]) drops this VMA's reference itself. Set one of `VM_MIXEDMAP`,
    /// `VM_IO`, `VM_PFNMAP` or `VM_DONTEXPAND` too: without them a new mapping may be merged
    /// into its neighbour, sharing that VMA's data, and 6.12 even retries the merge after an
    /// `mmap` that changed the flags, freeing this VMA without `close`.
    ///
    /// [`MiscDevice::mmap`]: crate::miscdevice::MiscDevice::mmap
    pub fn set_vm_ops<T: VmOperations>(&self, data: Arc<T::Data>) -> Result {
        if self.has_vm_ops() {
            return Err(EBUSY);
        }
        let vma = self.as_ptr();
        // `into_foreign()` returns a `*const` pointer on some kernels and `*mut` on others.
        let data: *const c_void = data.into_foreign();
        // SAFETY: The VMA is valid, only this thread can reach it, and it has neither operations
        // nor private data that would be overwritten.
        unsafe {
            (*vma).vm_private_data = data.cast_mut();
            (*vma).vm_ops = VmOpsTable::<T>::vtable();
        }
        Ok(())
    }

    /// Undoes [`VmaNew::set_vm_ops`], if it was called: drops the VMA's reference to its data
    /// and leaves the VMA without operations.
    ///
    /// The file operations that pass a [`VmaNew`] to a driver's `mmap` call this when the
    /// driver fails.
    ///
    /// # Safety
    ///
    /// The driver's `mmap` of this VMA has failed, and this is called before the failure is
    /// returned to the core, which then removes the VMA and its page table entries without
    /// calling any of its operations.
    // Not inline: `vma_dummy_vm_ops` is not exported to modules.
    #[inline(never)]
    pub(crate) unsafe fn undo_vm_ops(&self) {
        let vma = self.as_ptr();
        // SAFETY: The VMA is valid and only this thread can reach it.
        let (ops, data) = unsafe { ((*vma).vm_ops, (*vma).vm_private_data) };
        let close = if ops.is_null() {
            None
        } else {
            // SAFETY: A non-null `vm_ops` points to a `vm_operations_struct` that outlives the
            // VMA.
            unsafe { (*ops).close }
        };
        // Only the tables of `set_vm_ops` have this `close`.
        let ours = vm_ops_close as *const ();
        if !matches!(close, Some(f) if ptr::eq(f as *const (), ours)) {
            return;
        }
        // SAFETY: `ops` is the `ops` field, and first field, of a `#[repr(C)]` `RawVmOps`.
        let table = unsafe { &*ops.cast::<RawVmOps>() };
        // SAFETY: The VMA is valid and only this thread can reach it. The core calls none of its
        // operations after a failed `mmap`; these are the values `vma_init()` set.
        unsafe {
            (*vma).vm_ops = ptr::addr_of!(bindings::vma_dummy_vm_ops);
            (*vma).vm_private_data = ptr::null_mut();
        }
        // SAFETY: `set_vm_ops` stored this reference, which belongs to the VMA; the VMA no
        // longer points to it.
        unsafe { (table.put_data)(data) };
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
