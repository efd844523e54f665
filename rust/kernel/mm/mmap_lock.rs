// SPDX-License-Identifier: GPL-2.0

//! The write side of the mmap lock and per-VMA write marking.
//!
//! C header: [`include/linux/mmap_lock.h`](srctree/include/linux/mmap_lock.h).
//!
//! Page faults and lookups run under the per-VMA read lock ([`MmWithUser::lock_vma_under_rcu`])
//! and fall back to the mmap read lock. A writer takes the mmap write lock and *write-marks*
//! each VMA it changes ([`MmapWriteGuard::vma_start_write`]): the mark waits for the VMA's
//! readers to leave and keeps new ones out until the mmap write lock is released or downgraded,
//! which ends all marks at once. The types make that protocol a matter of borrows:
//!
//! - write marking exists only on [`MmapWriteGuard`], and the [`VmaWriteLocked`] it returns is
//!   borrowed from that guard, so no write mark is used after the guard is dropped or
//!   downgraded;
//! - no guard can be sent to another thread (locks are released by the thread that took them).
//!
//! The lock order (never take the mmap lock while holding a VMA read lock) cannot be expressed
//! in types; lockdep checks it. See `Documentation/rust/vma-locks.rst`.

use super::{virt::VmaRef, MmWithUser, MmapReadGuard, VmaReadGuard};
use crate::{
    bindings,
    error::{code::*, Result},
    ffi::c_ulong,
    types::NotThreadSafe,
};
use core::{marker::PhantomData, mem::ManuallyDrop, ops::Deref, ptr};

/// Which lock served an access to a VMA: a lookup ([`MmWithUser::with_vma`]) or a page fault
/// (`VmFault::lock()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmaLockKind {
    /// The per-VMA read lock (for a fault, `FAULT_FLAG_VMA_LOCK`).
    Vma,
    /// The mmap read lock (the per-VMA lock was contended, or the VMA was being changed).
    Mmap,
}

impl MmWithUser {
    /// Runs `f` on the VMA containing `addr` under the per-VMA read lock, or, if that cannot be
    /// taken, under the mmap read lock.
    ///
    /// Returns `None` if no VMA contains `addr`, otherwise what `f` returned and which lock served
    /// it. The caller can count [`VmaLockKind::Mmap`] returns to observe per-VMA lock fallbacks.
    /// Without `CONFIG_PER_VMA_LOCK` the mmap read lock always serves.
    ///
    /// The fallback waits for the mmap lock, uninterruptibly; [`MmWithUser::with_vma_killable`]
    /// stops waiting on a fatal signal. Never call either with a VMA of the same address space
    /// locked, as a fault handler ([`VmFault`]) has: a writer holding the mmap write lock waits
    /// in `vma_start_write()` for that VMA's readers, and the fallback waits for the writer
    /// (lockdep reports it).
    ///
    /// [`VmFault`]: super::vm_ops::VmFault
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::mm::{virt::VmaRef, MmWithUser};
    ///
    /// fn describe(vma: &VmaRef) -> (usize, usize, usize, bool) {
    ///     (vma.start(), vma.end(), vma.pgoff(), vma.flags() & kernel::mm::virt::flags::WRITE != 0)
    /// }
    ///
    /// fn lookup(mm: &MmWithUser, addr: usize) -> Option<(usize, usize, usize, bool)> {
    ///     mm.with_vma(addr, describe).map(|(d, _lock)| d)
    /// }
    /// ```
    pub fn with_vma<T>(
        &self,
        addr: usize,
        f: impl FnOnce(&VmaRef) -> T,
    ) -> Option<(T, VmaLockKind)> {
        if let Some(vma) = self.lock_vma_under_rcu(addr) {
            return Some((f(&vma), VmaLockKind::Vma));
        }
        let guard = self.mmap_read_lock();
        let vma = guard.vma_lookup(addr)?;
        Some((f(vma), VmaLockKind::Mmap))
    }

    /// As [`MmWithUser::with_vma`], but returns `EINTR`, without calling `f`, if a fatal signal
    /// arrives while it waits for the mmap read lock.
    pub fn with_vma_killable<T>(
        &self,
        addr: usize,
        f: impl FnOnce(&VmaRef) -> T,
    ) -> Result<Option<(T, VmaLockKind)>> {
        if let Some(vma) = self.lock_vma_under_rcu(addr) {
            return Ok(Some((f(&vma), VmaLockKind::Vma)));
        }
        // SAFETY: The pointer is valid since self is a reference.
        if unsafe { bindings::mmap_read_lock_killable(self.as_raw()) } != 0 {
            return Err(EINTR);
        }
        // INVARIANT: We just took the read lock, which the guard releases.
        let guard = MmapReadGuard {
            mm: self,
            _nts: NotThreadSafe,
        };
        Ok(guard
            .vma_lookup(addr)
            .map(|vma| (f(vma), VmaLockKind::Mmap)))
    }

    /// Takes the mmap write lock.
    #[inline]
    pub fn mmap_write_lock(&self) -> MmapWriteGuard<'_> {
        // SAFETY: The pointer is valid since self is a reference.
        unsafe { bindings::mmap_write_lock(self.as_raw()) };
        // INVARIANT: We just took the write lock.
        MmapWriteGuard {
            mm: self,
            _nts: NotThreadSafe,
        }
    }

    /// Takes the mmap write lock, or returns `EINTR` if a fatal signal arrives while waiting.
    #[inline]
    pub fn mmap_write_lock_killable(&self) -> Result<MmapWriteGuard<'_>> {
        // SAFETY: The pointer is valid since self is a reference.
        if unsafe { bindings::mmap_write_lock_killable(self.as_raw()) } != 0 {
            return Err(EINTR);
        }
        // INVARIANT: We just took the write lock.
        Ok(MmapWriteGuard {
            mm: self,
            _nts: NotThreadSafe,
        })
    }

    /// Returns the VMA containing `addr`, if any.
    ///
    /// # Safety
    ///
    /// The caller must hold the mmap lock (read or write) for as long as the result is used.
    #[inline]
    unsafe fn vma_lookup_locked<'g>(&self, addr: usize) -> Option<&'g VmaRef> {
        // SAFETY: The caller holds the mmap lock, as `vma_lookup` requires.
        let vma = unsafe { bindings::vma_lookup(self.as_raw(), addr) };
        if vma.is_null() {
            return None;
        }
        // SAFETY: The VMA is valid while the mmap lock is held, which the caller ensures for `'g`.
        Some(unsafe { VmaRef::from_raw(vma) })
    }
}

impl VmaRef {
    /// Removes the pages mapped in `[address, address + size)`, which must lie within this VMA,
    /// under whichever lock the caller holds on it (`zap_vma_range()`). Page tables stay.
    ///
    /// Unlike [`VmaRef::zap_vma_range`] it says why it did nothing: `EINVAL` if the range is
    /// empty or not within the VMA, or if the zap would untrack the VMA's PFN map memtype.
    /// That is the case on x86 kernels that track a whole-VMA `remap_pfn_range()` with
    /// `VM_PAT` (another driver's VMA: this API never makes one): every zap of it untracks the
    /// PAT memtype of the whole VMA, walking its page tables and clearing `VM_PAT`
    /// non-atomically, under whatever lock that zap holds, so that two zaps (this one and
    /// `unmap_mapping_range()`, which holds only `i_mmap_rwsem`) free it twice. Not even the
    /// mmap write lock excludes that. Kernels that untrack when the VMA is freed
    /// (`pfnmap_track_ctx`) never refuse.
    #[inline]
    pub fn try_zap_vma_range(&self, address: usize, size: usize) -> Result {
        // SAFETY: By the type invariants the VMA is valid; the helper reads its flags.
        if unsafe { bindings::vma_zap_untracks_pfnmap(self.as_ptr()) } {
            return Err(EINVAL);
        }
        // SAFETY: The VMA is locked (type invariants), and its zap untracks nothing.
        unsafe { self.zap_locked(address, size) }
    }

    /// Zaps `[address, address + size)`, if it lies within this VMA.
    ///
    /// # Safety
    ///
    /// The caller holds the VMA's per-VMA lock or mmap lock. If `vma_zap_untracks_pfnmap()` is
    /// true for the VMA, the caller also holds the mmap write lock and the VMA is not yet in
    /// its file's address space (a VMA being set up in `mmap`), so that no other zap can reach
    /// it.
    #[inline]
    pub(crate) unsafe fn zap_locked(&self, address: usize, size: usize) -> Result {
        let end = address.checked_add(size).ok_or(EINVAL)?;
        if size == 0 || address < self.start() || end > self.end() {
            return Err(EINVAL);
        }
        // SAFETY: The range lies within the VMA, which is valid, and the caller holds the lock
        // the zap needs.
        unsafe { bindings::zap_vma_range(self.as_ptr(), address as c_ulong, size as c_ulong) };
        Ok(())
    }
}

impl<'a> MmapReadGuard<'a> {
    /// Takes the per-VMA read lock of the VMA containing `addr`.
    ///
    /// The returned guard outlives this mmap read guard: this is how a slow path that had to
    /// take the mmap lock continues under the VMA lock alone (C's `uffd_lock_vma()`).
    ///
    /// Returns `Ok(None)` if no VMA contains `addr`. Nobody can write-mark the VMA while the mmap
    /// lock is held; where the kernel counts VMA readers in a bounded reference count
    /// (`vm_refcnt`, since 6.15), taking it still fails with `EAGAIN` when the count is
    /// saturated (before 6.15 it cannot fail). Without `CONFIG_PER_VMA_LOCK` there is no VMA
    /// lock to take, and it always fails with `EAGAIN`.
    pub fn lock_vma(&self, addr: usize) -> Result<Option<VmaReadGuard<'a>>> {
        // SAFETY: `vma_lookup_locked` needs the mmap lock for as long as the result is used. The
        // result is used under the mmap read lock `self` holds until the VMA read lock is taken
        // below; only then does it leave this function, in a guard that owns that VMA read lock,
        // which keeps the VMA valid for `'a` after the mmap lock is gone. On failure it is dropped.
        let vma: Option<&'a VmaRef> = unsafe { self.mm.vma_lookup_locked(addr) };
        let Some(vma) = vma else {
            return Ok(None);
        };
        // SAFETY: We hold the mmap read lock of the VMA's address space.
        if !unsafe { bindings::vma_start_read_locked(vma.as_ptr()) } {
            return Err(EAGAIN);
        }
        // INVARIANT: We just took the VMA read lock, which the guard releases.
        Ok(Some(VmaReadGuard {
            vma,
            _nts: NotThreadSafe,
        }))
    }
}

/// The mmap write lock of an address space, released on drop.
///
/// Holding it does not stop page faults that run under a per-VMA lock: a VMA must also be
/// write-marked with [`MmapWriteGuard::vma_start_write`] before it is changed. The marks are
/// borrowed from this guard and all end when it is dropped or downgraded.
///
/// # Invariants
///
/// The mmap write lock of `mm` is held and owned by this guard.
///
/// # Examples
///
/// Write-marking every VMA of a range, then zapping its pages:
///
/// ```
/// use kernel::mm::MmWithUser;
///
/// fn zap_range(mm: &MmWithUser, start: usize, end: usize) -> Result {
///     let guard = mm.mmap_write_lock();
///     for vma in guard.vmas(start, end) {
///         let vma = guard.vma_start_write(vma)?;
///         let (s, e) = (start.max(vma.start()), end.min(vma.end()));
///         vma.zap_vma_range(s, e - s)?;
///     }
///     Ok(())
/// }
/// ```
///
/// The guards exclude each other as the locks do:
///
/// ```
/// use kernel::{mm::MmWithUser, sync::aref::ARef};
///
/// // The KUnit thread has no address space of its own: make an empty one.
/// // SAFETY: `mm_alloc` returns an `mm_struct` with one user reference, or NULL.
/// let raw = core::ptr::NonNull::new(unsafe { kernel::bindings::mm_alloc() }).ok_or(ENOMEM)?;
/// // SAFETY: We own the user reference returned by `mm_alloc`.
/// let mm: ARef<MmWithUser> = unsafe { ARef::from_raw(raw.cast()) };
/// assert!(mm.with_vma(0x10000, |vma| vma.start()).is_none());
/// assert!(mm.mmap_read_trylock().is_some());
/// let write = mm.mmap_write_lock();
/// assert!(mm.mmap_read_trylock().is_none());
/// assert!(mm.lock_vma_under_rcu(0x10000).is_none());
/// let read = write.downgrade();
/// assert!(mm.mmap_read_trylock().is_some());
/// assert!(read.lock_vma(0x10000)?.is_none());
/// # Ok::<(), Error>(())
/// ```
pub struct MmapWriteGuard<'a> {
    mm: &'a MmWithUser,
    // The lock is released by the thread that took it.
    _nts: NotThreadSafe,
}

impl<'a> MmapWriteGuard<'a> {
    /// Returns the VMA containing `addr`, if any.
    #[inline]
    pub fn vma_lookup(&self, addr: usize) -> Option<&VmaRef> {
        // SAFETY: By the type invariants we hold the mmap write lock while `self` is borrowed.
        unsafe { self.mm.vma_lookup_locked(addr) }
    }

    /// Returns an iterator over the VMAs that intersect `[start, end)`, in address order.
    pub fn vmas(&self, start: usize, end: usize) -> VmaIter<'_> {
        VmaIter {
            mm: self.mm,
            addr: start,
            end,
            _guard: PhantomData,
        }
    }

    /// Write-marks `vma` (`vma_start_write`): waits for its per-VMA readers to leave and keeps
    /// new ones out until this guard is dropped or downgraded.
    ///
    /// Returns `EINVAL` if `vma` belongs to another address space.
    ///
    /// # Examples
    ///
    /// While a VMA is write-marked, taking its per-VMA read lock fails (a page fault would fall
    /// back to the mmap lock and wait); the mark ends with the guard:
    ///
    /// ```
    /// use core::ptr;
    /// use kernel::{bindings, mm::{MmWithUser, VmaLockKind}, page::PAGE_SIZE, sync::aref::ARef};
    ///
    /// // The KUnit thread has no address space: make one, adopt it and map a shared anonymous
    /// // page into it.
    /// // SAFETY: `mm_alloc` returns an `mm_struct` with one user reference, or NULL.
    /// let raw = ptr::NonNull::new(unsafe { bindings::mm_alloc() }).ok_or(ENOMEM)?;
    /// // SAFETY: We own the user reference returned by `mm_alloc`.
    /// let mm: ARef<MmWithUser> = unsafe { ARef::from_raw(raw.cast()) };
    /// // SAFETY: This kernel thread has no address space; it gives `mm` back below.
    /// unsafe { bindings::kthread_use_mm(mm.as_raw()) };
    /// let addr = 0x100000;
    /// // PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_ANONYMOUS (asm-generic values).
    /// let (len, prot, flags) = (PAGE_SIZE, 0x3, 0x31);
    /// // SAFETY: The current address space is `mm`, which has nothing mapped.
    /// let ret = unsafe { bindings::vm_mmap(ptr::null_mut(), addr, len, prot, flags, 0) };
    /// assert_eq!(ret, addr);
    ///
    /// assert_eq!(mm.with_vma(addr, |vma| vma.start()), Some((addr, VmaLockKind::Vma)));
    /// {
    ///     let guard = mm.mmap_write_lock();
    ///     let vma = guard.vma_lookup(addr).ok_or(EINVAL)?;
    ///     let marked = guard.vma_start_write(vma)?;
    ///     assert_eq!(marked.end(), addr + PAGE_SIZE);
    ///     assert!(mm.lock_vma_under_rcu(addr).is_none());
    /// }
    /// assert!(mm.lock_vma_under_rcu(addr).is_some());
    /// {
    ///     // The slow path's way back to the VMA lock: looked up under the mmap lock, kept after.
    ///     let vma = mm.mmap_read_lock().lock_vma(addr)?.ok_or(EINVAL)?;
    ///     assert_eq!(vma.start(), addr);
    /// }
    ///
    /// // SAFETY: `addr` is our mapping; the thread then leaves `mm` as it found it.
    /// unsafe {
    ///     assert_eq!(bindings::vm_munmap(addr, PAGE_SIZE), 0);
    ///     bindings::kthread_unuse_mm(mm.as_raw());
    /// }
    /// # Ok::<(), Error>(())
    /// ```
    pub fn vma_start_write<'g>(&'g self, vma: &'g VmaRef) -> Result<&'g VmaWriteLocked> {
        if !ptr::eq(vma.mm().as_raw(), self.mm.as_raw()) {
            return Err(EINVAL);
        }
        // SAFETY: We hold the mmap write lock of the VMA's address space, and the VMA is valid
        // while it is held.
        unsafe { bindings::vma_start_write(vma.as_ptr()) };
        // SAFETY: The VMA is now write-locked until the mmap write lock is released or
        // downgraded, which cannot happen while `self` is borrowed.
        Ok(unsafe { VmaWriteLocked::from_raw(vma.as_ptr()) })
    }

    /// Downgrades to the mmap read lock, ending all write marks (`mmap_write_downgrade`).
    #[inline]
    pub fn downgrade(self) -> MmapReadGuard<'a> {
        let this = ManuallyDrop::new(self);
        // SAFETY: By the type invariants we own the write lock; `this` is not dropped, so the
        // lock is not released twice.
        unsafe { bindings::mmap_write_downgrade(this.mm.as_raw()) };
        // INVARIANT: We now hold the read lock, which the returned guard releases.
        MmapReadGuard {
            mm: this.mm,
            _nts: NotThreadSafe,
        }
    }
}

impl Drop for MmapWriteGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: By the type invariants we own the mmap write lock.
        unsafe { bindings::mmap_write_unlock(self.mm.as_raw()) };
    }
}

/// Iterator over the VMAs of a range, borrowed from an [`MmapWriteGuard`].
pub struct VmaIter<'g> {
    mm: &'g MmWithUser,
    addr: usize,
    end: usize,
    _guard: PhantomData<&'g MmapWriteGuard<'g>>,
}

impl<'g> Iterator for VmaIter<'g> {
    type Item = &'g VmaRef;

    fn next(&mut self) -> Option<&'g VmaRef> {
        if self.addr >= self.end {
            return None;
        }
        // SAFETY: The mmap write lock is held while the guard this iterator borrows lives.
        let vma = unsafe { bindings::find_vma(self.mm.as_raw(), self.addr) };
        if vma.is_null() {
            self.addr = self.end;
            return None;
        }
        // SAFETY: The VMA is valid while the mmap lock is held, i.e. for `'g`.
        let vma = unsafe { VmaRef::from_raw(vma) };
        if vma.start() >= self.end {
            self.addr = self.end;
            return None;
        }
        self.addr = vma.end();
        Some(vma)
    }
}

/// A VMA write-marked under the mmap write lock, from [`MmapWriteGuard::vma_start_write`].
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

impl Deref for VmaWriteLocked {
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
    unsafe fn from_raw<'a>(vma: *const bindings::vm_area_struct) -> &'a Self {
        // SAFETY: `VmaWriteLocked` is a transparent wrapper of `VmaRef`, and the caller ensures
        // the invariants are satisfied for `'a`.
        let this: &Self = unsafe { &*vma.cast() };
        this.assert_write_locked();
        this
    }

    /// Removes the pages mapped in `[address, address + size)`, which must lie within this VMA
    /// (`zap_vma_range()`), with no page fault running on it; `EINVAL` if the range is not
    /// within the VMA, or for a VMA [`VmaRef::try_zap_vma_range`] refuses. Page tables stay.
    #[inline]
    pub fn zap_vma_range(&self, address: usize, size: usize) -> Result {
        self.try_zap_vma_range(address, size)
    }

    /// Checks the write mark (`vma_assert_write_locked`, active with `CONFIG_DEBUG_VM`).
    #[inline]
    pub fn assert_write_locked(&self) {
        // SAFETY: The VMA is valid by the type invariants.
        unsafe { bindings::vma_assert_write_locked(self.as_ptr()) };
    }
}
