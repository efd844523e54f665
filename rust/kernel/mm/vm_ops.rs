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

use super::virt::{vm_flags_t, VmaNew, VmaRef};
use crate::fs::File;
use crate::{
    bindings, build_error,
    error::{code::*, Error, VTABLE_DEFAULT_ERROR},
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
                // A driver bug, repeated on every fault that hits it: say it once.
                static WARNED: AtomicBool = AtomicBool::new(false);
                if !WARNED.swap(true, Relaxed) {
                    pr_warn!("fault handler asked for a retry that is not allowed\n");
                }
                bindings::vm_fault_reason_VM_FAULT_SIGBUS
            }
            VmFaultResult::Retry => {
                if !self.has_flag(bindings::fault_flag_FAULT_FLAG_RETRY_NOWAIT) {
                    // SAFETY: The fault holds the lock named by its flags, and returning
                    // `VM_FAULT_RETRY` without `FAULT_FLAG_RETRY_NOWAIT` means we release it.
                    unsafe { bindings::release_fault_lock(self.as_ptr()) };
                }
                bindings::vm_fault_reason_VM_FAULT_RETRY
            }
        };
        ret as bindings::vm_fault_t
    }
}

/// A VMA as [`VmOperations::open`] and [`VmOperations::close`] see it: its range, offset,
/// flags and file, but not its address space.
///
/// `close` also runs from `exit_mmap()`, when `mm_users` is already zero, and from the teardown
/// of a failed `fork`; `open` runs for `fork` on the child's address space while it is being
/// built, and on 6.12 a `fork` that fails later leaves that address space holding some of the
/// parent's VMAs. An `&MmWithUser` there would let safe code take a user reference on a dead
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
    /// `vma` must be the VMA passed to `vm_ops->open` or `vm_ops->close`, and `'a` must end
    /// before the callback returns.
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
    fn fault(data: ArcBorrow<'_, Self::Data>, vmf: &VmFault) -> VmFaultResult;

    /// Called before `fault` for read faults to map pages around the faulting one
    /// ("fault-around", `do_fault_around()`).
    ///
    /// Implementing it is what lets `fault` run under the per-VMA lock, on 6.12 and 7.3 alike
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
    /// `TypeId::of::<T>`: tells the tables of different implementations apart, even ones whose
    /// code and data layout are identical (see [`VmaRef::vm_data`]).
    type_id: fn() -> TypeId,
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
    // for each VMA, with its mmap lock held.
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
        type_id: TypeId::of::<T>,
    };

    /// Returns the table installed on VMAs running `T`.
    pub(crate) fn vtable() -> &'static bindings::vm_operations_struct {
        &Self::TABLE.ops
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
        // running these operations (split, `mremap`, `fork`), so it carries the same private
        // data, which the original VMA keeps alive.
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
    /// Called by [`vm_ops_close`] for a VMA running these operations.
    unsafe fn close(vma: *mut bindings::vm_area_struct) {
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
    /// `T`'s VMAs are recognised by the address of `T`'s table and, before the private data is
    /// cast to `T::Data`, by the [`TypeId`] that table holds: Rust guarantees neither that a
    /// constant has one address nor that the constants of two types have different ones (LLVM
    /// merges identical constants and functions), but `TypeId::of::<T>()` differs for every
    /// type. This never returns another type's data. Were the compiler to emit a second copy
    /// of `T`'s table (Kbuild builds each crate as one codegen unit, so it does not), this
    /// would return `None` for some of `T`'s VMAs.
    ///
    /// [`VmaNew::set_vm_ops::<T>`]: VmaNew::set_vm_ops
    ///
    /// # Examples
    ///
    /// Two implementations with identical code and data layout, each on a VMA of its own: each
    /// one's `vm_data` finds its own data and not the other's.
    ///
    /// ```
    /// use core::ptr;
    /// use kernel::bindings;
    /// use kernel::mm::virt::{flags, VmaNew};
    /// use kernel::mm::{vm_ops::{VmFault, VmFaultResult, VmOperations}, MmWithUser};
    /// use kernel::page::PAGE_SIZE;
    /// use kernel::sync::{aref::ARef, Arc, ArcBorrow};
    ///
    /// struct A;
    /// struct B;
    ///
    /// #[vtable]
    /// impl VmOperations for A {
    ///     type Data = u64;
    ///     fn fault(_data: ArcBorrow<'_, u64>, _vmf: &VmFault) -> VmFaultResult {
    ///         VmFaultResult::Sigbus
    ///     }
    /// }
    ///
    /// #[vtable]
    /// impl VmOperations for B {
    ///     type Data = u64;
    ///     fn fault(_data: ArcBorrow<'_, u64>, _vmf: &VmFault) -> VmFaultResult {
    ///         VmFaultResult::Sigbus
    ///     }
    /// }
    ///
    /// // An address space of the KUnit thread's own, with two private anonymous pages.
    /// // SAFETY: `mm_alloc` returns an `mm_struct` with one user reference, or NULL.
    /// let raw = ptr::NonNull::new(unsafe { bindings::mm_alloc() }).ok_or(ENOMEM)?;
    /// // SAFETY: We own the user reference returned by `mm_alloc`.
    /// let mm: ARef<MmWithUser> = unsafe { ARef::from_raw(raw.cast()) };
    /// // SAFETY: This kernel thread has no address space; it gives `mm` back below.
    /// unsafe { bindings::kthread_use_mm(mm.as_raw()) };
    /// let (a, b) = (0x100000, 0x200000);
    /// for addr in [a, b] {
    ///     // PROT_READ, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS (asm-generic values).
    ///     // SAFETY: The current address space is `mm`, which has nothing at `addr`.
    ///     let ret = unsafe { bindings::vm_mmap(ptr::null_mut(), addr, PAGE_SIZE, 0x1, 0x32, 0) };
    ///     assert_eq!(ret, addr);
    /// }
    /// {
    ///     let guard = mm.mmap_write_lock();
    ///     for addr in [a, b] {
    ///         let vma = guard.vma_lookup(addr).ok_or(EINVAL)?;
    ///         // SAFETY: We hold the mmap write lock of an address space no other thread knows,
    ///         // and the VMA has no pages, operations or private data: nothing can observe it
    ///         // being set up, as in `mmap`.
    ///         let new = unsafe { VmaNew::from_raw(vma.as_ptr()) };
    ///         if addr == a {
    ///             new.set_vm_ops::<A>(Arc::new(1, GFP_KERNEL)?)?;
    ///         } else {
    ///             new.set_vm_ops::<B>(Arc::new(2, GFP_KERNEL)?)?;
    ///         }
    ///     }
    ///     let (va, vb) = (guard.vma_lookup(a).ok_or(EINVAL)?, guard.vma_lookup(b).ok_or(EINVAL)?);
    ///     // `set_vm_ops` keeps the VMAs from ever merging.
    ///     assert!(va.flags() & vb.flags() & flags::DONTEXPAND != 0);
    ///     assert_eq!(va.vm_data::<A>().map(|d| *d), Some(1));
    ///     assert_eq!(vb.vm_data::<B>().map(|d| *d), Some(2));
    ///     assert!(va.vm_data::<B>().is_none());
    ///     assert!(vb.vm_data::<A>().is_none());
    /// }
    ///
    /// // SAFETY: `a` and `b` are our mappings (their `close` drops the data); the thread then
    /// // leaves `mm` as it found it.
    /// unsafe {
    ///     assert_eq!(bindings::vm_munmap(a, PAGE_SIZE), 0);
    ///     assert_eq!(bindings::vm_munmap(b, PAGE_SIZE), 0);
    ///     bindings::kthread_unuse_mm(mm.as_raw());
    /// }
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    pub fn vm_data<T: VmOperations>(&self) -> Option<ArcBorrow<'_, T::Data>> {
        // SAFETY: By the type invariants the VMA is valid and stable.
        let (ops, data) = unsafe { ((*self.as_ptr()).vm_ops, (*self.as_ptr()).vm_private_data) };
        if !ptr::eq(ops, VmOpsTable::<T>::vtable()) {
            return None;
        }
        // SAFETY: `ops` is the `ops` field, and first field, of a `#[repr(C)]` `RawVmOps`:
        // `T`'s table, or one the compiler merged with it at the same address.
        let table = unsafe { &*ops.cast::<RawVmOps>() };
        if (table.type_id)() != TypeId::of::<T>() {
            return None;
        }
        // SAFETY: VMAs running the operations of `T` own an `Arc<T::Data>` in their private
        // data (installed by `set_vm_ops`, duplicated by `open`), which lives while the VMA does.
        Some(unsafe { <Arc<T::Data> as ForeignOwnable>::borrow(data) })
    }
}

impl VmaNew {
    /// Installs the `vm_operations` of `T` with `data` as the VMA's private data, and sets
    /// `VM_DONTEXPAND`.
    ///
    /// Every VMA split or duplicated from this one takes its own reference to `data` (`open`),
    /// and each drops it when unmapped (`close`). Returns `EBUSY`, changing nothing, if
    /// operations or private data were already installed.
    ///
    /// `VM_DONTEXPAND` is one of the `VM_SPECIAL` flags, which the core never merges: without
    /// it a later `mmap` of the same file next to this VMA could be merged into it without the
    /// driver's `mmap` running, sharing this VMA's data, and 6.12 retries a merge after an
    /// `mmap` that changed the flags, freeing the VMA without `close`. Like every `VM_SPECIAL`
    /// VMA it then refuses `mremap` growth (`EFAULT`), which the driver's data would not cover,
    /// and `MREMAP_DONTUNMAP` and `MADV_DODUMP` (`EINVAL`), and `mlock()` leaves it alone.
    ///
    /// It may be called anywhere in `mmap`: if `mmap` fails afterwards, the core frees the VMA
    /// without calling `close`, so the file operation that called `mmap` (see
    /// [`MiscDevice::mmap`]) removes the VMA's page table entries and drops this VMA's
    /// reference itself.
    ///
    /// [`MiscDevice::mmap`]: crate::miscdevice::MiscDevice::mmap
    pub fn set_vm_ops<T: VmOperations>(&self, data: Arc<T::Data>) -> Result {
        if self.has_vm_ops() {
            return Err(EBUSY);
        }
        self.set_dontexpand();
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

    /// Undoes [`VmaNew::set_vm_ops`], if it was called: removes the VMA's page table entries,
    /// drops the VMA's reference to its data and leaves the VMA without operations.
    ///
    /// The file operations that pass a [`VmaNew`] to a driver's `mmap` call this when the
    /// driver fails. The entries go first: the core would remove them only after `mmap`
    /// returned (`unmap_region()`), and until then another thread of the process could reach
    /// pages the data owned through them, with no fault, after this reference freed them.
    ///
    /// # Safety
    ///
    /// The driver's `mmap` of this VMA has failed, and this is called before the failure is
    /// returned to the core, which then removes the VMA without calling any of its operations.
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
        // SAFETY: `mmap` holds the mmap write lock, and the VMA is not yet in its file's address
        // space. The range is the whole VMA, so this cannot fail.
        let _ = unsafe { self.zap_locked(self.start(), self.end() - self.start()) };
        // SAFETY: The VMA is valid and only this thread can reach it. The core calls none of its
        // operations after a failed `mmap`; these are the values `vma_init()` set.
        unsafe {
            (*vma).vm_ops = ptr::addr_of!(bindings::vma_dummy_vm_ops);
            (*vma).vm_private_data = ptr::null_mut();
        }
        // SAFETY: `set_vm_ops` stored this reference, which belongs to the VMA; the VMA no
        // longer points to it, nor does any page table entry to pages the data owns.
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
