// SPDX-License-Identifier: GPL-2.0

//! Revoking every user mapping of a driver's memory.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h).
//!
//! A device driver must take every user mapping of its memory away when the device is reset,
//! suspended or unbound, in every process that maps it: forked children and processes that
//! received the file too. A [`DeviceMappings`] does that for the PFN maps of one open file.
//!
//! # The protocol
//!
//! A [`DeviceMappings`] holds an address space (`struct address_space`) that the file maps
//! through (`file->f_mapping`), a read-write semaphore, and the data its PFN maps show.
//!
//! - A fault maps a page of the data only with [`DeviceMappings::insert_pfn`]. It holds the
//!   semaphore for reading from the check that the data is present until the page table entry
//!   is installed, and only maps into a VMA of a file that maps through this address space.
//! - [`DeviceMappings::revoke`] takes the data out with the semaphore held for writing, which
//!   waits for the faults inside their section, and then removes the entries of every VMA in
//!   the address space (`unmap_mapping_range()`), in every process. Later faults see no data
//!   and fail with `SIGBUS`. So when `revoke` returns no entry is left and none can appear; it
//!   returns the data, which the driver may then free.
//! - The core keeps every entry inside the address space's VMAs: a VMA joins the address space
//!   before it can fault, `fork` links the child's VMA into it before copying the entries (right
//!   after the parent's, in the order `unmap_mapping_range()` walks), and `mremap` moves entries
//!   under the address space's lock.
//!
//! - An eager view maps the data at `mmap` time only with [`DeviceMappings::remap`], from
//!   [`VmOperations::populate`]. The core calls that step (through `vm_ops->mapped`) after it
//!   linked the new VMA into the address space, and the remap holds the semaphore for reading
//!   like a fault, so a revocation either finds its entries or makes it fail. Entries made from
//!   `f_op->mmap` (`remap_pfn_range()`) cannot be covered: that VMA joins the address space
//!   only after the handler returned, and a revocation in between would miss them.
//!
//! [`VmOperations::populate`]: super::vm_ops::VmOperations::populate

use super::{
    virt::VmaRef,
    vm_ops::{VmFault, VmFaultResult, VmaMapped},
};
use crate::{
    bindings,
    fs::File,
    page::{Page, PAGE_SIZE},
    prelude::*,
    sync::Arc,
    types::Opaque,
};
use core::{cell::UnsafeCell, ptr};

/// An address space whose PFN maps of some data can all be revoked at once.
///
/// See the [module documentation](self) for the protocol.
///
/// # Invariants
///
/// `mapping` and `sem` are initialised. `data` is only read with `sem` held and only changed
/// with `sem` held for writing. While `data` is `Some`, the pages borrowed from it may be mapped
/// by [`DeviceMappings::insert_pfn`]; it only becomes `None` in [`DeviceMappings::revoke`],
/// which removes every entry of the address space before it returns the data.
///
/// # Examples
///
/// ```
/// use kernel::mm::revoke::DeviceMappings;
/// use kernel::page::Page;
/// use kernel::prelude::*;
/// use kernel::sync::Arc;
///
/// fn revoke_and_restore() -> Result {
///     let page = Arc::new(Page::alloc_page(GFP_KERNEL)?, GFP_KERNEL)?;
///     let mapping = KBox::pin_init(DeviceMappings::new(Some(page)), GFP_KERNEL)?;
///     assert!(!mapping.is_revoked());
///     let page = mapping.revoke().ok_or(EINVAL)?;
///     assert!(mapping.is_revoked());
///     assert!(mapping.revoke().is_none());
///     mapping.restore(page)?;
///     assert!(!mapping.is_revoked());
///     Ok(())
/// }
/// # revoke_and_restore().unwrap();
/// ```
#[pin_data]
pub struct DeviceMappings<T: Send + Sync> {
    #[pin]
    mapping: Opaque<bindings::address_space>,
    #[pin]
    sem: Opaque<bindings::rw_semaphore>,
    data: UnsafeCell<Option<Arc<T>>>,
}

// SAFETY: The address space and the semaphore may be used from any thread, and `data` is
// protected by the semaphore; `T` is `Send + Sync`.
unsafe impl<T: Send + Sync> Send for DeviceMappings<T> {}
// SAFETY: See above.
unsafe impl<T: Send + Sync> Sync for DeviceMappings<T> {}

/// Holds the semaphore of a [`DeviceMappings`] for reading or writing.
///
/// # Invariants
///
/// `sem` is held, for writing if `write`.
struct SemGuard {
    sem: *mut bindings::rw_semaphore,
    write: bool,
}

impl Drop for SemGuard {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: By the type invariants the semaphore is held in this mode.
        unsafe {
            if self.write {
                bindings::up_write(self.sem)
            } else {
                bindings::up_read(self.sem)
            }
        }
    }
}

/// Initialises the semaphore of a [`DeviceMappings`] in `slot`.
///
/// Not generic, so that the name and the lock class key live in this crate whichever module
/// uses the type: lockdep wants one name per key, also after a module is reloaded.
fn init_sem(slot: *mut bindings::rw_semaphore) {
    let key = crate::static_lock_class!();
    let name = c"DeviceMappings::sem";
    // SAFETY: `__init_rwsem()` initialises the semaphore in `slot`; the name and the lock class
    // key are static.
    unsafe { bindings::__init_rwsem(slot, name.as_char_ptr(), key.as_ptr()) }
}

impl<T: Send + Sync> DeviceMappings<T> {
    /// Creates an address space whose PFN maps show `data`; `None` starts it revoked.
    pub fn new(data: Option<Arc<T>>) -> impl PinInit<Self> {
        // INVARIANT: Both C objects are initialised below, and `data` is not yet shared.
        pin_init!(Self {
            // SAFETY: `address_space_init_once()` initialises the address space in `slot`.
            mapping <- Opaque::ffi_init(|slot| unsafe { bindings::address_space_init_once(slot) }),
            sem <- Opaque::ffi_init(init_sem),
            data: UnsafeCell::new(data),
        })
    }

    fn lock(&self, write: bool) -> SemGuard {
        let sem = self.sem.get();
        // SAFETY: By the type invariants the semaphore is initialised.
        unsafe {
            if write {
                bindings::down_write(sem)
            } else {
                bindings::down_read(sem)
            }
        }
        // INVARIANT: We just took the semaphore in this mode.
        SemGuard { sem, write }
    }

    /// Makes `file` map through this address space, so that [`DeviceMappings::revoke`] reaches
    /// its mappings in every process.
    ///
    /// # Safety
    ///
    /// Must be called from the file's `open`, before the file is reachable by other threads, and
    /// `self` must outlive the file (for example, the file's private data owns it): every VMA
    /// mapping the file links into this address space until it is unmapped.
    pub unsafe fn attach(&self, file: &File) {
        let mapping = self.mapping.get();
        let file = file.as_ptr();
        // SAFETY: The file is valid and only this thread can reach it (safety requirements),
        // and the address space lives as long as the file. As for an inode's own address space,
        // the host is the file's inode and the operations are empty: the file has no page
        // cache, and no VMA mapping it ever looks one up.
        unsafe {
            (*mapping).host = (*file).f_inode;
            (*mapping).a_ops = ptr::addr_of!(bindings::empty_aops);
            (*file).f_mapping = mapping;
        }
    }

    /// Whether `vma` maps a file attached to this address space.
    fn maps(&self, vma: &VmaRef) -> bool {
        let Some(file) = vma.file() else {
            return false;
        };
        // SAFETY: The file is valid while its VMA is, and its `f_mapping` only changes in its
        // `open`, before it can be mapped.
        let mapping = unsafe { (*file.as_ptr()).f_mapping };
        ptr::eq(mapping, self.mapping.get())
    }

    /// Maps a page of the data at the faulting address of a PFN map, with the VMA's page
    /// protection, unless the data is revoked.
    ///
    /// `page` picks the page from the data. Fails with `SIGBUS` if the data is revoked, if the
    /// VMA is not a PFN map of a file attached to this address space, or if `page` returns
    /// `None`. An entry that another thread installed first counts as success.
    pub fn insert_pfn(
        &self,
        vmf: &VmFault,
        page: impl FnOnce(&T) -> Option<&Page>,
    ) -> VmFaultResult {
        let vma = vmf.vma();
        let Some(pfnmap) = vma.as_pfnmap_vma().filter(|_| self.maps(vma)) else {
            return VmFaultResult::Sigbus;
        };
        let _guard = self.lock(false);
        // SAFETY: The semaphore is held for reading, so `data` does not change.
        let Some(data) = (unsafe { &*self.data.get() }) else {
            return VmFaultResult::Sigbus;
        };
        let Some(page) = page(data) else {
            return VmFaultResult::Sigbus;
        };
        // SAFETY: `page` is borrowed from the data (or is `'static`). The VMA is in this
        // address space, and `revoke` only takes the data out after this section ended and
        // removes every entry of the address space, this one included, before the data can be
        // dropped.
        unsafe { vmf.insert_page_pfn(pfnmap, page) }
    }

    /// Maps pages of the data into `vma` now, a new PFN map of a file attached to this address
    /// space, unless the data is revoked: an eager view, mapped from
    /// [`VmOperations::populate`]. Faults of the view map the data with
    /// [`DeviceMappings::insert_pfn`] once a zap or a revocation removed the entries.
    ///
    /// `pages` picks one page of the data for each page of the VMA, in order; they replace
    /// whatever the VMA mapped before. Fails with `ENODEV` if the data is revoked, and with
    /// `EINVAL` if the VMA is not a PFN map of a file attached to this address space, if
    /// `pages` returns `None` or a slice of another length, or as [`VmaMapped::remap_page`]
    /// fails. After a failure the VMA maps nothing.
    ///
    /// [`VmOperations::populate`]: super::vm_ops::VmOperations::populate
    pub fn remap(&self, vma: &VmaMapped, pages: impl FnOnce(&T) -> Option<&[Page]>) -> Result {
        if vma.as_pfnmap_vma().is_none() || !self.maps(vma) {
            return Err(EINVAL);
        }
        let (start, size) = (vma.start(), vma.end() - vma.start());
        let _guard = self.lock(false);
        // SAFETY: The semaphore is held for reading, so `data` does not change.
        let Some(data) = (unsafe { &*self.data.get() }) else {
            return Err(ENODEV);
        };
        let pages = pages(data)
            .filter(|pages| pages.len() == size / PAGE_SIZE)
            .ok_or(EINVAL)?;
        // SAFETY: The mmap write lock is held (`VmaMapped` invariants), and the zap untracks
        // nothing (`vma_zap_untracks_pfnmap()` is false): `VmaMapped` never remaps a VMA
        // whole. The range is the whole VMA, so this cannot fail.
        let zap = || unsafe { vma.zap_locked(start, size) };
        zap()?;
        for (i, page) in pages.iter().enumerate() {
            // SAFETY: `page` is borrowed from the data. The core linked the VMA into this
            // address space before the step that gives us `vma`, and `revoke` only takes the
            // data out after this section ended and removes every entry of the address space,
            // these included, before the data can be dropped. The zap above emptied the VMA,
            // and each address is mapped once.
            if let Err(err) = unsafe { vma.remap_page(start + i * PAGE_SIZE, page) } {
                zap()?;
                return Err(err);
            }
        }
        Ok(())
    }

    /// Revokes the data: removes every page table entry of every VMA in this address space, in
    /// every process, and makes later faults fail with `SIGBUS`.
    ///
    /// Returns the data, which no user mapping shows any more, or `None` (changing nothing) if
    /// it was already revoked. Sleeps: it waits for faults mapping the data.
    pub fn revoke(&self) -> Option<Arc<T>> {
        let data = {
            let _guard = self.lock(true);
            // SAFETY: The semaphore is held for writing.
            unsafe { (*self.data.get()).take() }?
        };
        // SAFETY: The address space is initialised; `unmap_mapping_range()` takes its own locks.
        // A length of 0 means up to the end, and `even_cows` removes private copies too.
        unsafe { bindings::unmap_mapping_range(self.mapping.get(), 0, 0, 1) };
        Some(data)
    }

    /// Shows `data` again after [`DeviceMappings::revoke`]; pages fault in again.
    ///
    /// Fails with `EBUSY`, dropping `data`, if the data is not revoked.
    pub fn restore(&self, data: Arc<T>) -> Result {
        let _guard = self.lock(true);
        // SAFETY: The semaphore is held for writing.
        let slot = unsafe { &mut *self.data.get() };
        if slot.is_some() {
            return Err(EBUSY);
        }
        *slot = Some(data);
        Ok(())
    }

    /// Whether the data is revoked.
    pub fn is_revoked(&self) -> bool {
        let _guard = self.lock(false);
        // SAFETY: The semaphore is held for reading.
        unsafe { (*self.data.get()).is_none() }
    }
}
