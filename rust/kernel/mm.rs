// SPDX-License-Identifier: GPL-2.0

//! Memory management: address spaces, the mmap lock and the per-VMA lock.
//!
//! C headers: [`include/linux/mm.h`](srctree/include/linux/mm.h),
//! [`include/linux/mmap_lock.h`](srctree/include/linux/mmap_lock.h) and
//! [`include/linux/sched/mm.h`](srctree/include/linux/sched/mm.h).
//!
//! An address space ([`MmWithUser`]) has one `mmap_lock` and, since 6.4, a read lock per VMA.
//! Page faults and lookups first try the per-VMA read lock
//! ([`MmWithUser::lock_vma_under_rcu`]) and fall back to the mmap read lock. Writers take the
//! mmap write lock and *write-mark* each VMA they change ([`MmapWriteGuard::vma_start_write`]);
//! the marks exclude per-VMA readers until the write guard is dropped or downgraded, which ends
//! all of them at once. The guards below make that protocol a matter of types:
//!
//! - a [`VmaRef`] can only be reached through a guard and does not outlive it;
//! - write marking exists only on [`MmapWriteGuard`], and the write-locked VMA it returns is
//!   borrowed from that guard;
//! - no guard can be sent to another thread (the locks are released by their owner).
//!
//! The lock order (never take the mmap lock while holding a VMA read lock) cannot be expressed
//! in types; lockdep checks it. See `Documentation/rust/vma-locks.rst`.

use crate::{
    bindings,
    error::{code::EINTR, code::EINVAL, Result},
    types::{ARef, AlwaysRefCounted, Opaque},
};
use core::{
    marker::PhantomData,
    mem::ManuallyDrop,
    ops::Deref,
    ptr::{self, NonNull},
};

pub mod virt;
pub mod vm_ops;

use virt::{VmaRef, VmaWriteLocked};

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
/// let mm: kernel::types::ARef<MmWithUser> = unsafe { kernel::types::ARef::from_raw(raw.cast()) };
/// assert_eq!(vma_start(&mm, 0x10000), None);
/// assert!(mm.mmap_read_trylock().is_some());
/// let write = mm.mmap_write_lock();
/// assert!(mm.mmap_read_trylock().is_none());
/// assert!(mm.lock_vma_under_rcu(0x10000).is_none());
/// let read = write.downgrade();
/// assert!(mm.mmap_write_trylock().is_none());
/// drop(read);
/// assert!(mm.mmap_write_trylock().is_some());
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

/// Which lock served an access to a VMA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmaLockKind {
    /// The per-VMA read lock.
    Vma,
    /// The mmap read lock (the per-VMA lock was contended, or the VMA was being changed).
    Mmap,
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

    /// Returns a user reference to the address space of the current task, if it has one.
    ///
    /// Kernel threads have none.
    pub fn current() -> Option<ARef<MmWithUser>> {
        let task = crate::current!().0.get();
        // SAFETY: `current` is always a valid task, and only the current task changes its own
        // `mm` (`kthread_use_mm`), so the pointer read here is stable while we use it.
        let mm = unsafe { (*task).mm };
        if mm.is_null() {
            return None;
        }
        // SAFETY: `mm` is the live address space of the current task, so `mm_users` is non-zero.
        let mm = unsafe { MmWithUser::from_raw(mm) };
        Some(mm.into())
    }

    /// Takes the per-VMA read lock of the VMA containing `addr`, without the mmap lock.
    ///
    /// Returns `None` if there is no such VMA, or if the lock could not be taken right now (the
    /// VMA is write-marked or being changed, or a spurious failure); callers then fall back to
    /// [`MmWithUser::mmap_read_lock`], or use [`MmWithUser::with_vma`], which does both.
    ///
    /// `lock_vma_under_rcu()` is not exported to modules: this function is deliberately not
    /// inline, so that the call lives in the kernel crate, which modules may call.
    #[inline(never)]
    pub fn lock_vma_under_rcu(&self, addr: usize) -> Option<VmaReadGuard<'_>> {
        // SAFETY: We hold a user reference to the mm, so it has an address space.
        let vma = unsafe { bindings::lock_vma_under_rcu(self.as_raw(), addr) };
        // INVARIANT: A non-NULL return is read-locked, and the lock is ours to release.
        NonNull::new(vma).map(|vma| VmaReadGuard {
            vma,
            _mm: PhantomData,
            _not_send: PhantomData,
        })
    }

    /// Runs `f` on the VMA containing `addr` under the per-VMA read lock, or, if that cannot be
    /// taken, under the mmap read lock.
    ///
    /// Returns `None` if no VMA contains `addr`, otherwise what `f` returned and which lock served
    /// it. The caller can count [`VmaLockKind::Mmap`] returns to observe per-VMA lock fallbacks.
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

    /// Returns the VMA containing `addr`, if any.
    ///
    /// # Safety
    ///
    /// The caller must hold the mmap lock (read or write) for as long as the result is used.
    #[inline]
    unsafe fn vma_lookup_locked<'g>(&self, addr: usize) -> Option<&'g VmaRef> {
        // SAFETY: The caller holds the mmap lock, as `vma_lookup` requires.
        let vma = unsafe { bindings::vma_lookup(self.as_raw(), addr) };
        // SAFETY: The VMA is valid while the mmap lock is held, which the caller ensures for `'g`.
        NonNull::new(vma).map(|vma| unsafe { VmaRef::from_raw(vma.as_ptr()) })
    }

    /// Takes the mmap read lock.
    #[inline]
    pub fn mmap_read_lock(&self) -> MmapReadGuard<'_> {
        // SAFETY: The pointer is valid since self is a reference.
        unsafe { bindings::mmap_read_lock(self.as_raw()) };
        // INVARIANT: We just took the read lock.
        MmapReadGuard {
            mm: self,
            _not_send: PhantomData,
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
                _not_send: PhantomData,
            })
        } else {
            None
        }
    }

    /// Takes the mmap write lock.
    #[inline]
    pub fn mmap_write_lock(&self) -> MmapWriteGuard<'_> {
        // SAFETY: The pointer is valid since self is a reference.
        unsafe { bindings::mmap_write_lock(self.as_raw()) };
        // INVARIANT: We just took the write lock.
        MmapWriteGuard {
            mm: self,
            _not_send: PhantomData,
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
            _not_send: PhantomData,
        })
    }

    /// Tries to take the mmap write lock without sleeping.
    #[inline]
    pub fn mmap_write_trylock(&self) -> Option<MmapWriteGuard<'_>> {
        // SAFETY: The pointer is valid since self is a reference.
        if unsafe { bindings::mmap_write_trylock(self.as_raw()) } {
            // INVARIANT: We just took the write lock.
            Some(MmapWriteGuard {
                mm: self,
                _not_send: PhantomData,
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
    vma: NonNull<bindings::vm_area_struct>,
    _mm: PhantomData<&'a MmWithUser>,
    // The lock is released by the thread that took it: not `Send`.
    _not_send: PhantomData<*mut ()>,
}

impl Deref for VmaReadGuard<'_> {
    type Target = VmaRef;

    #[inline]
    fn deref(&self) -> &VmaRef {
        // SAFETY: By the type invariants the VMA is read-locked, so it stays valid while `self`
        // is borrowed.
        unsafe { VmaRef::from_raw(self.vma.as_ptr()) }
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
    // The lock is released by the thread that took it: not `Send`.
    _not_send: PhantomData<*mut ()>,
}

impl<'a> MmapReadGuard<'a> {
    /// Returns the VMA containing `addr`, if any.
    #[inline]
    pub fn vma_lookup(&self, addr: usize) -> Option<&VmaRef> {
        // SAFETY: By the type invariants we hold the mmap read lock while `self` is borrowed.
        unsafe { self.mm.vma_lookup_locked(addr) }
    }

    /// Takes the per-VMA read lock of the VMA containing `addr`, if any.
    ///
    /// The returned guard outlives this mmap read guard: this is how a slow path that had to
    /// take the mmap lock continues under the VMA lock alone (6.12's `uffd_lock_vma()`). Unlike
    /// [`MmWithUser::lock_vma_under_rcu`] it cannot fail spuriously.
    pub fn lock_vma(&self, addr: usize) -> Option<VmaReadGuard<'a>> {
        let vma = self.vma_lookup(addr)?;
        // SAFETY: We hold the mmap read lock, so nobody can write-mark the VMA.
        unsafe { bindings::vma_start_read_locked(vma.as_ptr()) };
        // INVARIANT: We just took the VMA read lock.
        Some(VmaReadGuard {
            vma: NonNull::from(vma).cast(),
            _mm: PhantomData,
            _not_send: PhantomData,
        })
    }
}

impl Drop for MmapReadGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: By the type invariants we own the mmap read lock.
        unsafe { bindings::mmap_read_unlock(self.mm.as_raw()) };
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
///         vma.zap_page_range_single(s, e - s)?;
///     }
///     Ok(())
/// }
/// ```
pub struct MmapWriteGuard<'a> {
    mm: &'a MmWithUser,
    // The lock is released by the thread that took it: not `Send`.
    _not_send: PhantomData<*mut ()>,
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
    /// use kernel::{bindings, mm::{MmWithUser, VmaLockKind}, page::PAGE_SIZE, types::ARef};
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
    /// let (len, prot, flags) = (PAGE_SIZE as _, 0x3, 0x31);
    /// // SAFETY: The current address space is `mm`, which has nothing mapped.
    /// let ret = unsafe { bindings::vm_mmap(ptr::null_mut(), addr as _, len, prot, flags, 0) };
    /// assert_eq!(ret as usize, addr);
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
    ///
    /// // SAFETY: `addr` is our mapping; the thread then leaves `mm` as it found it.
    /// unsafe {
    ///     assert_eq!(bindings::vm_munmap(addr as _, PAGE_SIZE), 0);
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
        // INVARIANT: We now hold the read lock.
        MmapReadGuard {
            mm: this.mm,
            _not_send: PhantomData,
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
