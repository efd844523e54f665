// SPDX-License-Identifier: GPL-2.0

//! Miscellaneous character devices.
//!
//! C header: [`include/linux/miscdevice.h`](srctree/include/linux/miscdevice.h).

use crate::{
    bindings, build_error,
    error::{from_result, to_result, Error, Result, VTABLE_DEFAULT_ERROR},
    ffi::{c_long, c_uint, c_ulong},
    fs::File,
    mm::{
        virt::{flags, VmaNew},
        vm_ops::{RawVmaDesc, VmaDesc},
    },
    prelude::*,
    types::{ForeignOwnable, Opaque},
    ThisModule,
};
use core::{ffi::CStr, marker::PhantomData, mem::ManuallyDrop, pin::Pin};

/// Options for creating a misc device.
#[derive(Copy, Clone)]
pub struct MiscDeviceOptions {
    /// The name of the device node, under `/dev`: a C string literal (`c"..."`), as later
    /// kernels take it.
    pub name: &'static CStr,
    /// The permissions of the device node, e.g. `0o600`.
    pub mode: u16,
}

/// A registered misc device, deregistered on drop.
///
/// # Invariants
///
/// `inner` is registered with `misc_register` and uses `fops`, whose callbacks are those of `T`
/// and whose owner is `module`.
///
/// # Examples
///
/// ```
/// use kernel::miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration};
/// use kernel::fs::File;
///
/// struct Empty;
///
/// #[vtable]
/// impl MiscDevice for Empty {
///     type Ptr = KBox<Self>;
///
///     fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
///         Ok(KBox::new(Empty, GFP_KERNEL)?)
///     }
/// }
///
/// fn register(module: &'static ThisModule) -> Result<Pin<KBox<MiscDeviceRegistration<Empty>>>> {
///     let opts = MiscDeviceOptions { name: c"rust-empty", mode: 0o600 };
///     KBox::pin_init(MiscDeviceRegistration::register(opts, module), GFP_KERNEL)
/// }
/// ```
#[repr(C)]
#[pin_data(PinnedDrop)]
pub struct MiscDeviceRegistration<T> {
    #[pin]
    inner: Opaque<bindings::miscdevice>,
    /// Open files point at it after the registration is gone: see [`PinnedDrop`].
    fops: ManuallyDrop<KBox<Opaque<bindings::file_operations>>>,
    module: *mut bindings::module,
    _t: PhantomData<T>,
}

// SAFETY: It is allowed to call `misc_deregister` on a different thread from where `misc_register`
// was called.
unsafe impl<T> Send for MiscDeviceRegistration<T> {}
// SAFETY: All `&self` methods on this type are written to ensure that it is safe to call them in
// parallel.
unsafe impl<T> Sync for MiscDeviceRegistration<T> {}

impl<T: MiscDevice> MiscDeviceRegistration<T> {
    /// Registers a misc device whose file operations run in `module`.
    ///
    /// The module cannot be unloaded while a file of the device is open, including files kept
    /// open by a mapping.
    pub fn register(
        opts: MiscDeviceOptions,
        module: &'static ThisModule,
    ) -> impl PinInit<Self, Error> {
        let mut table = MiscdeviceVTable::<T>::VTABLE;
        table.owner = module.0;
        // SAFETY: On success all fields are initialized; on failure nothing needs undoing since
        // `misc_register` failed and the fields hold no resources but `fops`, which is dropped.
        unsafe {
            init::pin_init_from_closure(move |slot: *mut Self| {
                let fops = KBox::new(Opaque::new(table), GFP_KERNEL)?;
                let misc = Opaque::raw_get(core::ptr::addr_of!((*slot).inner));
                misc.write(bindings::miscdevice {
                    minor: bindings::MISC_DYNAMIC_MINOR as _,
                    name: opts.name.as_char_ptr(),
                    fops: fops.get(),
                    mode: opts.mode,
                    ..core::mem::zeroed()
                });
                to_result(bindings::misc_register(misc))?;
                core::ptr::addr_of_mut!((*slot).fops).write(ManuallyDrop::new(fops));
                core::ptr::addr_of_mut!((*slot).module).write(module.0);
                core::ptr::addr_of_mut!((*slot)._t).write(PhantomData);
                Ok(())
            })
        }
    }

    /// Returns a raw pointer to the misc device.
    pub fn as_raw(&self) -> *mut bindings::miscdevice {
        self.inner.get()
    }
}

impl<T> MiscDeviceRegistration<T> {
    /// Whether no open file can still use `fops`, once the device is deregistered.
    ///
    /// An open file points at `fops` and holds a reference to its owner module until `__fput()`
    /// is done with it (`fops_put()` reads `owner` after `release`). With no reference left,
    /// or the module unloading (`module_refcount()` is -1), no file is open.
    fn fops_unused(&self) -> bool {
        #[cfg(CONFIG_MODULE_UNLOAD)]
        if !self.module.is_null() {
            // SAFETY: `module` is the owner of `fops`, which is alive while `self` is: this
            // code runs in it.
            return unsafe { bindings::module_refcount(self.module) } <= 0;
        }
        // Built in, or modules never unload: files take no reference we could count.
        false
    }
}

#[pinned_drop]
impl<T> PinnedDrop for MiscDeviceRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariants the device is registered.
        unsafe { bindings::misc_deregister(self.inner.get()) };
        // Files opened before `misc_deregister()` still point at `fops`. At module exit there
        // are none (they hold the module) and the table is freed; a registration dropped while
        // files are open leaves its table behind for them.
        if self.fops_unused() {
            // SAFETY: `fops` is not structurally pinned, and it is not used again: the device
            // is deregistered and no open file points at it.
            unsafe { ManuallyDrop::drop(&mut self.get_unchecked_mut().fops) };
        }
    }
}

/// Trait implemented by the private data of an open misc device.
#[vtable]
pub trait MiscDevice: Sized {
    /// What kind of pointer should `Self` be wrapped in.
    type Ptr: ForeignOwnable + Send + Sync;

    /// Called when the misc device is opened.
    ///
    /// The returned pointer will be stored as the private data for the file.
    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Self::Ptr>;

    /// Called when the misc device is released.
    fn release(device: Self::Ptr, _file: &File) {
        drop(device);
    }

    /// Called when a process maps the file (`mmap`). The mmap write lock is held.
    ///
    /// Later kernels deprecate `f_op->mmap`: new drivers implement
    /// [`MiscDevice::mmap_prepare`] instead. A device implements one of the two.
    fn mmap(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _vma: &VmaNew,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Called when a process maps the file, to describe the mapping in `desc` before its VMA
    /// is used: `f_op->mmap_prepare` of later kernels, with the same API.
    ///
    /// The function sets the mapping's flags and kind, and the [`VmOperations`] whose
    /// [`mapped`] step makes the mapping's data, from a value borrowed from `device` or `file`,
    /// which live until the file is released. It must allocate nothing. The mmap write lock is
    /// held. A device implements this or [`MiscDevice::mmap`], not both.
    ///
    /// This kernel has neither `f_op->mmap_prepare` nor `vm_ops->mapped`: the device's
    /// `f_op->mmap` runs the steps later kernels run around them, on the VMA `mmap` created.
    ///
    /// [`VmOperations`]: crate::mm::vm_ops::VmOperations
    /// [`mapped`]: crate::mm::vm_ops::VmOperations::mapped
    fn mmap_prepare<'a>(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'a>,
        _file: &'a File,
        _desc: VmaDesc<'a>,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Handler for ioctls. `cmd` is the ioctl number and `arg` its argument, often a user
    /// pointer.
    fn ioctl(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Handler for ioctls from 32-bit processes. If missing and `ioctl` exists, `arg` is
    /// converted as a pointer (`compat_ptr_ioctl`) and `ioctl` is called.
    #[cfg(CONFIG_COMPAT)]
    fn compat_ioctl(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

struct MiscdeviceVTable<T: MiscDevice>(PhantomData<T>);

impl<T: MiscDevice> MiscdeviceVTable<T> {
    const VTABLE: bindings::file_operations = bindings::file_operations {
        open: Some(Self::open),
        release: Some(Self::release),
        mmap: if T::HAS_MMAP && T::HAS_MMAP_PREPARE {
            // Later kernels refuse a file with both (`can_mmap_file()`).
            panic!("a misc device implements mmap or mmap_prepare, not both")
        } else if T::HAS_MMAP_PREPARE {
            Some(Self::mmap_prepare)
        } else if T::HAS_MMAP {
            Some(Self::mmap)
        } else {
            None
        },
        unlocked_ioctl: if T::HAS_IOCTL {
            Some(Self::ioctl)
        } else {
            None
        },
        #[cfg(CONFIG_COMPAT)]
        compat_ioctl: if T::HAS_COMPAT_IOCTL {
            Some(Self::compat_ioctl)
        } else if T::HAS_IOCTL {
            Some(bindings::compat_ptr_ioctl)
        } else {
            None
        },
        // SAFETY: All zeroes is a valid `file_operations`: the other callbacks are unset.
        ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
    };

    /// # Safety
    ///
    /// `file` must be a file of a device registered by a `MiscDeviceRegistration<T>`, after a
    /// successful `open`, and `'a` must not outlast the file operation.
    unsafe fn device<'a>(file: *mut bindings::file) -> <T::Ptr as ForeignOwnable>::Borrowed<'a> {
        // SAFETY: `open` stored a `T::Ptr` in the private data; `release` has not run yet.
        unsafe { <T::Ptr as ForeignOwnable>::borrow((*file).private_data) }
    }

    /// # Safety
    ///
    /// Called by `misc_open` as `f_op->open` of a device registered by `T`.
    unsafe extern "C" fn open(_inode: *mut bindings::inode, file: *mut bindings::file) -> i32 {
        // SAFETY: `misc_open` set the private data to our `miscdevice`, the first field of a
        // `#[repr(C)]` registration, and calls us under `misc_mtx`, which `misc_deregister`
        // also takes: the registration is alive during `open`.
        let misc = unsafe { &*((*file).private_data as *const MiscDeviceRegistration<T>) };
        // SAFETY: The file is valid for the duration of `open`.
        let file_ref = unsafe { File::from_raw_file(file) };
        match T::open(file_ref, misc) {
            Ok(ptr) => {
                // SAFETY: The file is valid, and its private data is ours from now on.
                unsafe { (*file).private_data = ptr.into_foreign() as *mut _ };
                0
            }
            Err(err) => err.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the VFS as `f_op->release` of a file opened by [`Self::open`].
    unsafe extern "C" fn release(_inode: *mut bindings::inode, file: *mut bindings::file) -> i32 {
        // SAFETY: `open` stored a `T::Ptr` in the private data, and `release` runs once.
        let ptr = unsafe { <T::Ptr as ForeignOwnable>::from_foreign((*file).private_data) };
        // SAFETY: The file is valid for the duration of `release`.
        T::release(ptr, unsafe { File::from_raw_file(file) });
        0
    }

    /// # Safety
    ///
    /// Called by the VFS as `f_op->mmap` of a file opened by [`Self::open`].
    unsafe extern "C" fn mmap(
        file: *mut bindings::file,
        vma: *mut bindings::vm_area_struct,
    ) -> i32 {
        // SAFETY: The file is open and `mmap` is a file operation.
        let device = unsafe { Self::device(file) };
        // SAFETY: `vma` is the VMA being set up by this `mmap` call, under the mmap write lock.
        let vma = unsafe { VmaNew::from_raw(vma) };
        // SAFETY: The file is valid for the duration of `mmap`.
        let file = unsafe { File::from_raw_file(file) };
        from_result(|| {
            T::mmap(device, file, vma)?;
            Ok(0)
        })
    }

    /// `f_op->mmap` of a device that implements [`MiscDevice::mmap_prepare`]: what later
    /// kernels do around `f_op->mmap_prepare` and `vm_ops->mapped`, in their order, on the VMA
    /// 6.12 already created.
    ///
    /// The descriptor is filled from the VMA and, after the driver described the mapping,
    /// applied to it; then the `map_kernel_pages` action, if any, maps its pages, and the
    /// operations' `mapped` step makes the VMA's data. 6.12 retries a
    /// merge when `f_op->mmap` changed the flags and frees a merged VMA without `close`, so a
    /// VMA that runs the operations also gets `VM_DONTEXPAND`, which the core never merges; on
    /// later kernels the merge happens before `mapped`, which it skips. If a step fails, the
    /// core frees the VMA with the dummy operations, calling none of ours: the VMA holds no data
    /// (`mapped` did not make it, or dropped it after removing the VMA's entries).
    ///
    /// # Safety
    ///
    /// Called by the VFS as `f_op->mmap` of a file opened by [`Self::open`].
    unsafe extern "C" fn mmap_prepare(
        file: *mut bindings::file,
        vma: *mut bindings::vm_area_struct,
    ) -> i32 {
        // SAFETY: `vma` is the VMA being set up by this `mmap` call, under the mmap write lock.
        let new = unsafe { VmaNew::from_raw(vma) };
        from_result(|| {
            // SAFETY: The file is open and `mmap` is a file operation. The borrow is lent with
            // `'a` below: the file is released only after the `mmap` call and its VMA are gone.
            let device = unsafe { Self::device(file) };
            // SAFETY: The file is valid for the duration of `mmap`.
            let file_ref = unsafe { File::from_raw_file(file) };
            let mut raw = RawVmaDesc::new(new.start(), new.end(), new.pgoff(), new.flags(), file)?;
            // SAFETY: `raw` describes the mapping this `mmap` call sets up, with the mmap write
            // lock held; the file and its private data outlive the `mapped` step below.
            T::mmap_prepare(device, file_ref, unsafe { VmaDesc::new(&mut raw) })?;
            let mut set = raw.flags;
            if raw.ops.is_some() {
                set |= flags::DONTEXPAND;
            }
            let old = new.flags();
            // SAFETY: `VmaDesc` keeps the flags valid (one of `VM_MIXEDMAP` and `VM_PFNMAP` at
            // most, no copy-on-write PFN map), and `VM_DONTEXPAND` combines with every flag.
            unsafe { new.update_flags(set & !old, old & !set) };
            // SAFETY: The VMA being set up is not yet visible to anyone else.
            unsafe { (*vma).vm_pgoff = raw.pgoff as _ };
            // The `map_kernel_pages` action, which later kernels run before `mapped`. If it
            // fails, the core removes what it mapped with the VMA.
            if let Some((pages, count)) = raw.kernel_pages {
                let mut left = count as c_ulong;
                // SAFETY: The VMA is a mixed map being set up, under the mmap write lock, and
                // `VmaDesc::map_kernel_pages` checked that `count` pages from its start lie in
                // it; the array of `count` pages lives as long as the open file.
                to_result(unsafe {
                    bindings::vm_insert_pages(
                        vma,
                        raw.start as c_ulong,
                        pages.cast_mut(),
                        &mut left,
                    )
                })?;
            }
            let Some(ops) = raw.ops else {
                return Ok(0);
            };
            let mut data = raw.private_data;
            // SAFETY: As above.
            unsafe {
                (*vma).vm_ops = &ops.ops;
                (*vma).vm_private_data = data;
            }
            // SAFETY: The VMA was just set up from a descriptor on which `set_vm_ops` installed
            // `ops`, under the mmap write lock, and is not yet linked; `data` is its private
            // data, the prepared value borrowed from the open file, which outlives this call.
            unsafe { (ops.commit)(vma, &mut data) }?;
            // SAFETY: As above.
            unsafe { (*vma).vm_private_data = data };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS as `f_op->unlocked_ioctl` of a file opened by [`Self::open`].
    unsafe extern "C" fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: The file is open and `ioctl` is a file operation.
        let device = unsafe { Self::device(file) };
        // SAFETY: The file is valid for the duration of `ioctl`.
        let file = unsafe { File::from_raw_file(file) };
        match T::ioctl(device, file, cmd, arg) {
            Ok(ret) => ret as c_long,
            Err(err) => err.to_errno() as c_long,
        }
    }

    /// # Safety
    ///
    /// Called by the VFS as `f_op->compat_ioctl` of a file opened by [`Self::open`].
    #[cfg(CONFIG_COMPAT)]
    unsafe extern "C" fn compat_ioctl(
        file: *mut bindings::file,
        cmd: c_uint,
        arg: c_ulong,
    ) -> c_long {
        // SAFETY: The file is open and `compat_ioctl` is a file operation.
        let device = unsafe { Self::device(file) };
        // SAFETY: The file is valid for the duration of `compat_ioctl`.
        let file = unsafe { File::from_raw_file(file) };
        match T::compat_ioctl(device, file, cmd, arg) {
            Ok(ret) => ret as c_long,
            Err(err) => err.to_errno() as c_long,
        }
    }
}
