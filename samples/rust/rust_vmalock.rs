// SPDX-License-Identifier: GPL-2.0

//! A misc device whose pages are faulted in under the per-VMA lock.
//!
//! Each open file of `/dev/rust-vmalock` owns a buffer of pages (user API in
//! `samples/vmalock/vmalock.h`). `mmap(MAP_SHARED)` maps it; pages are inserted lazily by the
//! fault handler, which runs under the per-VMA lock because the VMA operations provide
//! `map_pages`. The ioctls look up VMAs and drop a range's pages through the per-VMA lock
//! (falling back to the mmap lock), and zap a range under the mmap write lock with its VMAs
//! write-marked.
//!
//! The mmap offset picks a view of the pages: as pages (`VM_MIXEDMAP`), or as page frames
//! (`VM_PFNMAP`) as a device maps its memory, faulted in or mapped at mmap time. Both PFN views
//! can be revoked in every process that maps them, as a device takes its memory away. A fourth
//! view shows a read-only page that describes the module, mapped whole at mmap time.
//!
//! `samples/vmalock/c_vmalock.c` is its C twin, with the same user API and behaviour.

use core::{
    ffi::c_void,
    mem::size_of,
    ptr,
    sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
};
use kernel::{
    bindings,
    fs::File,
    ioctl::{_IOC_SIZE, _IOW, _IOWR},
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    mm::{
        revoke::DeviceMappings,
        virt::{flags, VmaRef},
        vm_ops::{KernelPages, VmFault, VmFaultResult, VmOperations, VmaDesc, VmaInfo, VmaMapped},
        MmWithUser, VmaLockKind,
    },
    new_mutex,
    page::{Page, PAGE_SHIFT, PAGE_SIZE},
    prelude::*,
    sync::{Arc, ArcBorrow, Mutex},
    transmute::{AsBytes, FromBytes},
    uaccess::{UserPtr, UserSlice},
};

const DEFAULT_PAGES: usize = 64;
/// Upper bound of the `max_pages` parameter (4 GiB of 4 KiB pages).
const MAX_PAGES_LIMIT: u32 = 1 << 20;

const STATS_FILE: u32 = 0;
const STATS_GLOBAL: u32 = 1;

const MODE_DEFAULT: u32 = 0;
const MODE_FORCE_MMAP: u32 = 1;
const MODE_FAIL_EAGER: u32 = 2;
/// First page offset of the PFN view and of the eager PFN view (`VMALOCK_PFN*_OFFSET`).
const PFN_PGOFF: usize = (1 << 40) >> PAGE_SHIFT;
const PFN_EAGER_PGOFF: usize = (1 << 41) >> PAGE_SHIFT;
/// First page offset of the info view (`VMALOCK_INFO_OFFSET`), and its magic.
const INFO_PGOFF: usize = (1 << 42) >> PAGE_SHIFT;
const INFO_MAGIC: u64 = 0x31766d616c6f636b;

const LOCK_VMA: u32 = 1;
const LOCK_MMAP: u32 = 2;

const MAGIC: u32 = 0xb7;
const IOC_SET_SIZE: u32 = _IOW::<u64>(MAGIC, 0);
const IOC_GET_INFO: u32 = _IOWR::<Info>(MAGIC, 1);
const IOC_SET_MODE: u32 = _IOW::<u32>(MAGIC, 2);
const IOC_LOOKUP: u32 = _IOWR::<Lookup>(MAGIC, 3);
const IOC_ZAP: u32 = _IOWR::<Zap>(MAGIC, 4);
const IOC_GET_STATS: u32 = _IOWR::<Stats>(MAGIC, 5);
const IOC_RESET_STATS: u32 = _IOW::<u32>(MAGIC, 6);
const IOC_REVOKE: u32 = _IOW::<Revoke>(MAGIC, 7);
const IOC_DROP: u32 = _IOWR::<DropRange>(MAGIC, 8);

const REVOKE_REVOKE: u32 = 0;
const REVOKE_RESTORE: u32 = 1;
const REVOKE_DEVICE: u32 = 2;

module! {
    type: RustVmaLock,
    name: "rust_vmalock",
    authors: ["Rust for Linux Contributors"],
    description: "Misc device faulting pages in under the per-VMA lock",
    license: "GPL",
    params: {
        max_pages: u32 {
            default: 4096,
            description: "Upper bound of a buffer, in pages (default 4096)",
        },
        force_mmap: bool {
            default: false,
            description: "Start every open file in the forced mmap-lock mode",
        },
    },
}

/// Upper bound of the buffer size set by `VMALOCK_IOC_SET_SIZE`, in pages.
fn max_pages() -> u32 {
    module_parameters::max_pages.value()
}

/// The initial mode of every open file: whether faults are forced to the mmap lock.
fn force_mmap() -> bool {
    module_parameters::force_mmap.value()
}

/// `struct vmalock_info`.
#[repr(C)]
#[derive(Default)]
struct Info {
    size: u32,
    mode: u32,
    npages: u64,
    generation: u64,
    max_pages: u64,
}

/// `struct vmalock_lookup`.
#[repr(C)]
#[derive(Default)]
struct Lookup {
    size: u32,
    lock: u32,
    addr: u64,
    start: u64,
    end: u64,
    pgoff: u64,
    flags: u64,
}

/// `struct vmalock_zap`.
#[repr(C)]
#[derive(Default)]
struct Zap {
    size: u32,
    reserved: u32,
    addr: u64,
    len: u64,
    generation: u64,
    vmas: u64,
}

/// `struct vmalock_drop`.
#[repr(C)]
#[derive(Default)]
struct DropRange {
    size: u32,
    lock: u32,
    addr: u64,
    len: u64,
}

/// `struct vmalock_info_page`.
#[repr(C)]
struct InfoPage {
    magic: u64,
    max_pages: u64,
    page_size: u64,
}

/// `struct vmalock_revoke`.
#[repr(C)]
#[derive(Default)]
struct Revoke {
    size: u32,
    op: u32,
}

/// `struct vmalock_stats`: the counters follow in the order of [`Counter`].
#[repr(C)]
#[derive(Default)]
struct Stats {
    size: u32,
    scope: u32,
    counters: [u64; NR_COUNTERS],
}

// SAFETY: The structs are `#[repr(C)]` and made of integers without padding, so every byte
// pattern is a valid value and no byte is uninitialized.
unsafe impl FromBytes for Info {}
// SAFETY: See above.
unsafe impl AsBytes for Info {}
// SAFETY: See above.
unsafe impl FromBytes for Lookup {}
// SAFETY: See above.
unsafe impl AsBytes for Lookup {}
// SAFETY: See above.
unsafe impl FromBytes for Zap {}
// SAFETY: See above.
unsafe impl AsBytes for Zap {}
// SAFETY: See above.
unsafe impl FromBytes for DropRange {}
// SAFETY: See above.
unsafe impl AsBytes for DropRange {}
// SAFETY: See above.
unsafe impl FromBytes for Revoke {}
// SAFETY: See above.
unsafe impl AsBytes for Revoke {}
// SAFETY: See above.
unsafe impl FromBytes for Stats {}
// SAFETY: See above.
unsafe impl AsBytes for Stats {}

/// The statistics, in the order of `struct vmalock_stats`.
#[derive(Clone, Copy)]
enum Counter {
    FaultsVma,
    FaultsMmap,
    Retries,
    MapPages,
    LookupsVma,
    LookupsMmap,
    WriteMarks,
    PagesZapped,
    VmaOpens,
    VmaCloses,
    PfnFaults,
    PfnRemaps,
    Revokes,
    Buffers,
    BuffersFreed,
    DropsVma,
    DropsMmap,
    StaleEntries,
}
const NR_COUNTERS: usize = Counter::StaleEntries as usize + 1;

/// A set of statistics: of one open file, or global.
struct Counters([AtomicU64; NR_COUNTERS]);

impl Counters {
    const fn new() -> Self {
        Self([const { AtomicU64::new(0) }; NR_COUNTERS])
    }

    fn read(&self) -> [u64; NR_COUNTERS] {
        core::array::from_fn(|i| self.0[i].load(Relaxed))
    }

    fn reset(&self) {
        for counter in &self.0 {
            counter.store(0, Relaxed);
        }
    }
}

/// Statistics of all open files since the module was loaded (or reset).
static GLOBAL: Counters = Counters::new();

/// State shared by an open file and its mappings.
#[pin_data]
struct Shared {
    counters: Counters,
    force_mmap: AtomicBool,
    /// `VMALOCK_MODE_FAIL_EAGER`.
    fail_eager: AtomicBool,
    generation: AtomicU64,
    /// The address space the file maps through, and the pages its PFN view shows.
    #[pin]
    revocable: DeviceMappings<KVec<Page>>,
}

impl Shared {
    fn new() -> impl PinInit<Self> {
        pin_init!(Shared {
            counters: Counters::new(),
            force_mmap: AtomicBool::new(force_mmap()),
            fail_eager: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            // Revoked until the first `mmap` allocates the buffer.
            revocable <- DeviceMappings::new(None),
        })
    }

    /// Adds `n` to a counter of this file and to the global one.
    fn count(&self, counter: Counter, n: u64) {
        self.counters.0[counter as usize].fetch_add(n, Relaxed);
        GLOBAL.0[counter as usize].fetch_add(n, Relaxed);
    }
}

/// The buffer of an open file; each of its VMAs holds a reference.
struct Buffer {
    pages: Arc<KVec<Page>>,
    shared: Arc<Shared>,
    /// The address of the failed mapping (`VMALOCK_MODE_FAIL_EAGER`).
    probe: Option<usize>,
}

impl Buffer {
    fn new(npages: usize, shared: Arc<Shared>, probe: Option<usize>) -> Result<Arc<Self>> {
        let mut pages = KVec::with_capacity(npages, GFP_KERNEL)?;
        for _ in 0..npages {
            pages.push(Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?, GFP_KERNEL)?;
        }
        let pages = Arc::new(pages, GFP_KERNEL)?;
        let buffer = Arc::new(
            Buffer {
                pages,
                shared,
                probe,
            },
            GFP_KERNEL,
        )?;
        buffer.shared.count(Counter::Buffers, 1);
        buffer.write_headers(0, npages, 0)?;
        Ok(buffer)
    }

    /// Writes the header (index and generation) of pages `[first, first + count)`.
    fn write_headers(&self, first: usize, count: usize, generation: u64) -> Result {
        for (i, page) in self.pages.iter().enumerate().skip(first).take(count) {
            let header = [i as u64, generation];
            // SAFETY: `header` is valid for reads of its size, which fits in a page.
            unsafe { page.write_raw(header.as_ptr().cast(), 0, core::mem::size_of_val(&header))? };
        }
        Ok(())
    }
}

impl Buffer {
    /// How many pages of the failed mapping (`probe`) its addresses still reach: each is read
    /// without faulting (`copy_from_user_nofault()`), so only an existing entry lets it read.
    fn probe_mapped(&self) -> u64 {
        let Some(start) = self.probe else {
            return 0;
        };
        let mut mapped = 0;
        for i in 0..self.pages.len() {
            let mut word = 0u64;
            // SAFETY: `word` is valid for writes of its size. `copy_from_user_nofault()` checks
            // the user address and fails instead of faulting.
            let ret = unsafe {
                bindings::copy_from_user_nofault(
                    ptr::from_mut(&mut word).cast(),
                    (start + i * PAGE_SIZE) as *const c_void,
                    size_of::<u64>(),
                )
            };
            mapped += u64::from(ret == 0);
        }
        mapped
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // Still in the failed `mmap`: an address that reads has an entry for a page about to be
        // freed.
        let stale = self.probe_mapped();
        if stale > 0 {
            self.shared.count(Counter::StaleEntries, stale);
        }
        self.shared.count(Counter::BuffersFreed, 1);
    }
}

/// How a mapping shows the buffer, chosen by its file offset.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    /// `VM_MIXEDMAP`, pages inserted by faults.
    Pages,
    /// `VM_PFNMAP`, page frames inserted by faults.
    Pfn,
    /// `VM_PFNMAP`, page frames mapped at `mmap` time.
    PfnEager,
}

/// The view of file page offset `pgoff` and the buffer page it shows.
fn view(pgoff: usize) -> (View, usize) {
    if pgoff >= PFN_EAGER_PGOFF {
        (View::PfnEager, pgoff - PFN_EAGER_PGOFF)
    } else if pgoff >= PFN_PGOFF {
        (View::Pfn, pgoff - PFN_PGOFF)
    } else {
        (View::Pages, pgoff)
    }
}

/// An open file of the device.
#[pin_data]
struct VmaLockFile {
    /// The device, which outlives its open files.
    device: &'static Device,
    shared: Arc<Shared>,
    /// The info view's operations and page.
    info: InfoView,
    /// The requested size and, after the first `mmap`, the buffer.
    #[pin]
    buffer: Mutex<(usize, Option<Arc<Buffer>>)>,
}

#[vtable]
impl VmOperations for VmaLockFile {
    type Data = Buffer;

    /// The buffer of the file, allocated on first use; in `VMALOCK_MODE_FAIL_EAGER`, for the
    /// eager view, a buffer of the mapping's own, which `populate` maps and then fails.
    fn mapped(&self, vma: &VmaInfo) -> Result<Arc<Buffer>> {
        let npages = (vma.end() - vma.start()) / PAGE_SIZE;
        let (view, first) = view(vma.pgoff());
        if view == View::PfnEager && self.shared.fail_eager.load(Relaxed) {
            return Buffer::new(npages, self.shared.clone(), Some(vma.start()));
        }
        // `buffer()` checks the range against the size again: it may have changed since
        // `mmap_prepare`.
        let buffer = self.buffer(first.checked_add(npages).ok_or(EINVAL)?)?;
        if view != View::Pages && self.shared.revocable.is_revoked() {
            return Err(ENODEV);
        }
        Ok(buffer)
    }

    /// Maps the eager view's pages, before any fault can reach them: the pages the revocable
    /// mapping holds, or in `VMALOCK_MODE_FAIL_EAGER` the mapping's own.
    fn populate(buffer: ArcBorrow<'_, Buffer>, vma: &VmaMapped) -> Result {
        let npages = (vma.end() - vma.start()) / PAGE_SIZE;
        let (view, first) = view(vma.pgoff());
        if view != View::PfnEager {
            return Ok(());
        }
        let shared = &buffer.shared;
        if buffer.probe.is_none() {
            let end = first.checked_add(npages).ok_or(EINVAL)?;
            shared.revocable.remap(vma, |pages| pages.get(first..end))?;
            shared.count(Counter::PfnRemaps, npages as u64);
            return Ok(());
        }
        for (i, page) in buffer.pages.iter().enumerate() {
            // SAFETY: The page belongs to `buffer`, the VMA's data: if `populate` fails, the
            // entries are removed before the data is dropped. Each address is mapped once.
            unsafe { vma.remap_page(vma.start() + i * PAGE_SIZE, page)? };
        }
        shared.count(Counter::PfnRemaps, npages as u64);
        // The control: every page reads now, or a clean check after the failure proves nothing.
        if buffer.probe_mapped() != npages as u64 {
            return Err(EIO);
        }
        Err(Error::from_errno(-(bindings::ECANCELED as i32)))
    }

    fn open(buffer: ArcBorrow<'_, Buffer>, _vma: &VmaInfo) {
        buffer.shared.count(Counter::VmaOpens, 1);
    }

    fn close(buffer: ArcBorrow<'_, Buffer>, _vma: &VmaInfo) {
        buffer.shared.count(Counter::VmaCloses, 1);
    }

    // Called only from the fault trampoline: one function, as in C.
    #[inline]
    fn fault(buffer: ArcBorrow<'_, Buffer>, vmf: &VmFault) -> VmFaultResult {
        let shared = &buffer.shared;
        match vmf.lock() {
            VmaLockKind::Vma => {
                if shared.force_mmap.load(Relaxed) && vmf.can_retry() {
                    shared.count(Counter::Retries, 1);
                    return VmFaultResult::Retry;
                }
                shared.count(Counter::FaultsVma, 1);
            }
            VmaLockKind::Mmap => shared.count(Counter::FaultsMmap, 1),
        }
        match view(vmf.pgoff()) {
            (View::Pages, index) => match buffer.pages.get(index) {
                Some(page) => vmf.insert_page(page),
                None => VmFaultResult::Sigbus,
            },
            // Both show the pages the revocable mapping holds, if not revoked; the eager view
            // faults only after a ZAP or a revocation.
            (View::Pfn | View::PfnEager, index) => {
                shared.count(Counter::PfnFaults, 1);
                shared.revocable.insert_pfn(vmf, |pages| pages.get(index))
            }
        }
    }

    fn map_pages(buffer: ArcBorrow<'_, Buffer>, _start_pgoff: usize, _end_pgoff: usize) {
        buffer.shared.count(Counter::MapPages, 1);
    }
}

/// The operations of the info view: mapped whole by the `map_kernel_pages` action, it faults
/// its page back in after a revocation, which removes every entry of the file.
struct InfoView {
    page: Arc<KernelPages>,
}

#[vtable]
impl VmOperations for InfoView {
    type Data = KernelPages;

    fn mapped(&self, _vma: &VmaInfo) -> Result<Arc<KernelPages>> {
        Ok(self.page.clone())
    }

    fn fault(page: ArcBorrow<'_, KernelPages>, vmf: &VmFault) -> VmFaultResult {
        let index = vmf.pgoff().checked_sub(INFO_PGOFF);
        match index.and_then(|i| page.pages().get(i)) {
            Some(page) => vmf.insert_page(page),
            None => VmFaultResult::Sigbus,
        }
    }
}

#[vtable]
impl MiscDevice for VmaLockFile {
    type Ptr = Pin<KBox<Self>>;

    fn open(file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        // SAFETY: The only registration of this device is the `misc` field of the module's
        // `Device`, which is deregistered (and dropped) only at module exit, after its last open
        // file is released: the file operations hold a reference to the module. Nothing in the
        // module's `init` can fail after the registration, which would free the module.
        let device =
            unsafe { &*kernel::container_of!(ptr::from_ref(misc).cast_mut(), Device, misc) };
        let shared = Arc::pin_init(Shared::new(), GFP_KERNEL)?;
        let page = Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?;
        let info = InfoPage {
            magic: INFO_MAGIC,
            max_pages: max_pages().into(),
            page_size: PAGE_SIZE as u64,
        };
        // SAFETY: `info` is readable for its size, which fits in the page, and nothing else can
        // reach the page yet.
        unsafe { page.write_raw(ptr::from_ref(&info).cast(), 0, size_of::<InfoPage>())? };
        let mut pages = KVec::new();
        pages.push(page, GFP_KERNEL)?;
        let info = InfoView {
            page: Arc::new(KernelPages::new(pages, GFP_KERNEL)?, GFP_KERNEL)?,
        };
        let this = KBox::try_pin_init(
            try_pin_init!(VmaLockFile {
                device,
                shared,
                info,
                buffer <- new_mutex!((DEFAULT_PAGES, None)),
            }),
            GFP_KERNEL,
        )?;
        let mut files = device.files.lock();
        match files.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(this.shared.clone()),
            None => files.push(Some(this.shared.clone()), GFP_KERNEL)?,
        }
        drop(files);
        // Listed before it is attached: harmless, as `shared` starts revoked, so that
        // `VMALOCK_REVOKE_DEVICE` leaves its address space alone until the first `mmap`.
        // Attached after the last step that can fail, so that a failed `open` never leaves the
        // file's `f_mapping` pointing at freed memory.
        // SAFETY: We are in `open`. The open file holds `shared` until it is released, after its
        // last VMA is gone, and each VMA holds it too (through its buffer).
        unsafe { this.shared.revocable.attach(file) };
        Ok(this)
    }

    fn mmap_prepare<'a>(
        this: Pin<&'a VmaLockFile>,
        _file: &'a File,
        mut desc: VmaDesc<'a>,
    ) -> Result {
        if let Some(first) = desc.pgoff().checked_sub(INFO_PGOFF) {
            // Read-only, mapped whole once the VMA exists; faults only after a revocation.
            let this = this.get_ref();
            desc.try_clear_maywrite()?;
            desc.set_dontexpand();
            desc.set_vm_ops(&this.info)?;
            return desc.set_mixedmap().map_kernel_pages(&this.info.page, first);
        }
        if desc.flags() & flags::SHARED == 0 {
            // A private mapping would get copy-on-write copies of our pages: read-only only.
            desc.try_clear_maywrite()?;
        }
        let npages = (desc.end() - desc.start()) / PAGE_SIZE;
        let (view, first) = view(desc.pgoff());
        let end = first.checked_add(npages).ok_or(EINVAL)?;
        if view == View::PfnEager && this.shared.fail_eager.load(Relaxed) {
            if npages > max_pages() as usize {
                return Err(EINVAL);
            }
        } else {
            this.check_size(end)?;
        }
        // `mapped` makes the VMA's data (the buffer) once the VMA exists.
        desc.set_vm_ops(this.get_ref())?;
        // The buffer has a fixed size: the mapping never grows.
        desc.set_dontexpand();
        if view == View::Pages {
            desc.set_mixedmap();
        } else {
            desc.set_pfnmap()?;
        }
        Ok(())
    }

    fn release(this: Pin<KBox<VmaLockFile>>, _file: &File) {
        let mut files = this.device.files.lock();
        let mine = files
            .iter_mut()
            .find(|slot| slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, &this.shared)));
        if let Some(slot) = mine {
            *slot = None;
        }
    }

    fn ioctl(this: Pin<&VmaLockFile>, file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            IOC_SET_SIZE => this.set_size(arg)?,
            IOC_GET_INFO => this.info(arg)?,
            IOC_SET_MODE => this.set_mode(arg)?,
            IOC_LOOKUP => this.lookup(file, arg)?,
            IOC_ZAP => this.zap(file, arg)?,
            IOC_GET_STATS => this.stats(arg)?,
            IOC_RESET_STATS => this.reset_stats(arg)?,
            IOC_REVOKE => this.revoke(arg)?,
            IOC_DROP => this.drop_range(file, arg)?,
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}

/// An ioctl argument struct that starts with its own size.
trait SizedArg: FromBytes {
    fn size(&self) -> u32;
}

macro_rules! sized_arg {
    ($($t:ty),*) => {$(
        impl SizedArg for $t {
            fn size(&self) -> u32 {
                self.size
            }
        }
    )*};
}
sized_arg!(Info, Lookup, Zap, DropRange, Revoke, Stats);

/// The `len` bytes of user memory at the ioctl argument `arg`.
fn user_slice(arg: usize, len: usize) -> UserSlice {
    UserSlice::new(UserPtr::from_addr(arg), len)
}

/// Reads an ioctl argument into `value`, in place (a struct returned by value is copied on the
/// way); its size field must be the size we know.
fn read_sized<T: SizedArg + AsBytes>(arg: usize, value: &mut T) -> Result {
    let len = core::mem::size_of::<T>();
    user_slice(arg, len)
        .reader()
        .read_slice(value.as_bytes_mut())?;
    if value.size() as usize != len {
        return Err(EINVAL);
    }
    Ok(())
}

/// Whether `vma` maps this open file: only those are described.
fn maps_file(vma: &VmaRef, file: &File) -> bool {
    vma.file()
        .is_some_and(|f| core::ptr::eq(f.as_ptr(), file.as_ptr()))
}

/// Whether `vma` maps a view of this open file's buffer: only those are zapped.
fn maps_buffer(vma: &VmaRef, file: &File) -> bool {
    maps_file(vma, file) && vma.pgoff() < INFO_PGOFF
}

/// The page-aligned, non-empty range `[addr, addr + len)` of a request, as `(start, end)`.
fn page_range(addr: u64, len: u64) -> Result<(usize, usize)> {
    let start = usize::try_from(addr).map_err(|_| EINVAL)?;
    let len = usize::try_from(len).map_err(|_| EINVAL)?;
    let end = start.checked_add(len).ok_or(EINVAL)?;
    if len == 0 || start % PAGE_SIZE != 0 || len % PAGE_SIZE != 0 {
        return Err(EINVAL);
    }
    Ok((start, end))
}

/// `VMALOCK_LOCK_*` for the lock an operation ran under.
fn lock_code(lock: VmaLockKind) -> u32 {
    match lock {
        VmaLockKind::Vma => LOCK_VMA,
        VmaLockKind::Mmap => LOCK_MMAP,
    }
}

fn write_back<T: AsBytes>(arg: usize, value: &T) -> Result {
    user_slice(arg, core::mem::size_of::<T>())
        .writer()
        .write(value)
}

impl VmaLockFile {
    /// Fails with `EINVAL` unless a mapping of the first `npages` pages of the buffer fits in
    /// it: its size, or the size it will have. Allocates nothing.
    fn check_size(&self, npages: usize) -> Result {
        let guard = self.buffer.lock();
        let size = guard
            .1
            .as_ref()
            .map_or(guard.0, |buffer| buffer.pages.len());
        if npages > size {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// Returns the buffer for a mapping of its first `npages` pages, allocating it on first use.
    ///
    /// Fails with `EINVAL`, before anything is allocated, if the buffer is smaller.
    fn buffer(&self, npages: usize) -> Result<Arc<Buffer>> {
        let mut guard = self.buffer.lock();
        if let Some(buffer) = &guard.1 {
            if npages > buffer.pages.len() {
                return Err(EINVAL);
            }
            return Ok(buffer.clone());
        }
        if npages > guard.0 {
            return Err(EINVAL);
        }
        let buffer = Buffer::new(guard.0, self.shared.clone(), None)?;
        // Nothing was shown before: this cannot fail.
        self.shared.revocable.restore(buffer.pages.clone())?;
        guard.1 = Some(buffer.clone());
        Ok(buffer)
    }

    fn set_size(&self, arg: usize) -> Result {
        let npages: u64 = user_slice(arg, _IOC_SIZE(IOC_SET_SIZE)).reader().read()?;
        if npages == 0 || npages > u64::from(max_pages()) {
            return Err(EINVAL);
        }
        let mut guard = self.buffer.lock();
        if guard.1.is_some() {
            return Err(EBUSY);
        }
        guard.0 = npages as usize;
        Ok(())
    }

    fn info(&self, arg: usize) -> Result {
        let mut info = Info::default();
        read_sized(arg, &mut info)?;
        // Not held across the copy to user space, which may fault and take the mmap lock
        // (`mmap` takes this mutex under the mmap lock).
        info.npages = self.buffer.lock().0 as u64;
        info.mode = if self.shared.fail_eager.load(Relaxed) {
            MODE_FAIL_EAGER
        } else if self.shared.force_mmap.load(Relaxed) {
            MODE_FORCE_MMAP
        } else {
            MODE_DEFAULT
        };
        info.generation = self.shared.generation.load(Relaxed);
        info.max_pages = max_pages().into();
        write_back(arg, &info)
    }

    fn set_mode(&self, arg: usize) -> Result {
        let mode: u32 = user_slice(arg, _IOC_SIZE(IOC_SET_MODE)).reader().read()?;
        if !matches!(mode, MODE_DEFAULT | MODE_FORCE_MMAP | MODE_FAIL_EAGER) {
            return Err(EINVAL);
        }
        let shared = &self.shared;
        shared.force_mmap.store(mode == MODE_FORCE_MMAP, Relaxed);
        shared.fail_eager.store(mode == MODE_FAIL_EAGER, Relaxed);
        Ok(())
    }

    /// Runs `f` on the caller's VMA at `addr` under its per-VMA lock, or under the mmap read lock
    /// if that cannot be taken or the mode forces it (the other side of the benchmark). `None`
    /// if there is no VMA at `addr`.
    fn with_vma<T>(
        &self,
        mm: &MmWithUser,
        addr: usize,
        f: impl FnOnce(&VmaRef) -> T,
    ) -> Option<(T, VmaLockKind)> {
        if self.shared.force_mmap.load(Relaxed) {
            let guard = mm.mmap_read_lock();
            return guard
                .vma_lookup(addr)
                .map(|vma| (f(vma), VmaLockKind::Mmap));
        }
        mm.with_vma(addr, f)
    }

    /// Describes the caller's VMA at an address, if it maps this file.
    fn lookup(&self, file: &File, arg: usize) -> Result {
        let mut req = Lookup::default();
        read_sized(arg, &mut req)?;
        // Fail before changing anything if the result cannot be written.
        write_back(arg, &req)?;
        let task = current!();
        let mm = task.mm().ok_or(EINVAL)?;
        let addr = usize::try_from(req.addr).map_err(|_| EINVAL)?;
        let describe = |vma: &VmaRef| {
            maps_file(vma, file).then(|| (vma.start(), vma.end(), vma.pgoff(), vma.flags()))
        };
        let (found, lock) = self.with_vma(mm, addr, describe).ok_or(ENOENT)?;
        let (start, end, pgoff, vm_flags) = found.ok_or(EINVAL)?;
        self.shared.count(
            match lock {
                VmaLockKind::Vma => Counter::LookupsVma,
                VmaLockKind::Mmap => Counter::LookupsMmap,
            },
            1,
        );
        req.lock = lock_code(lock);
        req.start = start as u64;
        req.end = end as u64;
        req.pgoff = pgoff as u64;
        req.flags = vm_flags as u64;
        write_back(arg, &req)
    }

    /// Zaps a range of this file's mappings in the caller's address space and bumps the
    /// generation, with the VMAs write-marked so no fault sees a half-updated page.
    fn zap(&self, file: &File, arg: usize) -> Result {
        let mut req = Zap::default();
        read_sized(arg, &mut req)?;
        // Fail before changing anything if the result cannot be written.
        write_back(arg, &req)?;
        let (start, end) = page_range(req.addr, req.len)?;
        if req.reserved != 0 {
            return Err(EINVAL);
        }
        let buffer = self.buffer.lock().1.clone().ok_or(EINVAL)?;
        let task = current!();
        let mm = task.mm().ok_or(EINVAL)?;
        let guard = mm.mmap_write_lock_killable()?;
        // Under the mmap write lock the VMAs cannot change: check there is one to zap before
        // changing anything.
        if !guard.vmas(start, end).any(|vma| maps_buffer(vma, file)) {
            return Err(EINVAL);
        }
        let shared = &self.shared;
        let generation = shared.generation.fetch_add(1, Relaxed) + 1;
        let mut vmas = 0;
        for vma in guard.vmas(start, end) {
            if !maps_buffer(vma, file) {
                continue;
            }
            let vma = guard.vma_start_write(vma)?;
            shared.count(Counter::WriteMarks, 1);
            vmas += 1;
            let (s, e) = (start.max(vma.start()), end.min(vma.end()));
            vma.zap_vma_range(s, e - s)?;
            shared.count(Counter::PagesZapped, ((e - s) / PAGE_SIZE) as u64);
            let first = view(vma.pgoff()).1 + (s - vma.start()) / PAGE_SIZE;
            buffer.write_headers(first, (e - s) / PAGE_SIZE, generation)?;
        }
        drop(guard);
        req.generation = generation;
        req.vmas = vmas;
        write_back(arg, &req)
    }

    /// Drops the caller's pages of a range of one of this file's VMAs, under that VMA's lock
    /// alone where it can be taken: the pages fault back in on the next touch.
    fn drop_range(&self, file: &File, arg: usize) -> Result {
        let mut req = DropRange::default();
        read_sized(arg, &mut req)?;
        // Fail before changing anything if the result cannot be written.
        write_back(arg, &req)?;
        let (start, end) = page_range(req.addr, req.len)?;
        let task = current!();
        let mm = task.mm().ok_or(EINVAL)?;
        // A zap needs no more than the VMA's read lock, as for `MADV_DONTNEED`, and faults
        // racing with it map the same pages; `try_zap_vma_range` refuses the VMAs whose zap
        // needs more (an x86 `VM_PAT` VMA, which this driver never makes).
        let zap = |vma: &VmaRef| {
            if !maps_buffer(vma, file) {
                return Err(EINVAL);
            }
            vma.try_zap_vma_range(start, end - start)
        };
        let (res, lock) = self.with_vma(mm, start, zap).ok_or(ENOENT)?;
        res?;
        self.shared.count(
            match lock {
                VmaLockKind::Vma => Counter::DropsVma,
                VmaLockKind::Mmap => Counter::DropsMmap,
            },
            1,
        );
        req.lock = lock_code(lock);
        write_back(arg, &req)
    }

    /// Revokes the PFN view in every process, or restores it; or revokes the PFN views of
    /// every open file of the device, as a reset does.
    fn revoke(&self, arg: usize) -> Result {
        let mut req = Revoke::default();
        read_sized(arg, &mut req)?;
        if req.op == REVOKE_DEVICE {
            // Revoked outside the list's lock, which `open` takes under the misc device core's
            // `misc_mtx`: a revocation walks every mapping and may wait for mmap locks.
            let mut all = KVec::new();
            for shared in self.device.files.lock().iter().flatten() {
                all.push(shared.clone(), GFP_KERNEL)?;
            }
            for shared in all.iter() {
                // A file that has no buffer yet, or whose views are revoked, has nothing to
                // revoke; one released meanwhile has no mapping left.
                if shared.revocable.revoke().is_some() {
                    shared.count(Counter::Revokes, 1);
                }
            }
            return Ok(());
        }
        if req.op != REVOKE_REVOKE && req.op != REVOKE_RESTORE {
            return Err(EINVAL);
        }
        let buffer = self.buffer.lock().1.clone().ok_or(EINVAL)?;
        let revocable = &self.shared.revocable;
        if req.op == REVOKE_RESTORE {
            return revocable.restore(buffer.pages.clone());
        }
        // No mapping shows the pages any more; the buffer still holds them.
        revocable.revoke().ok_or(EALREADY)?;
        self.shared.count(Counter::Revokes, 1);
        Ok(())
    }

    /// The counters of a `VMALOCK_STATS_*` scope.
    fn scope(&self, scope: u32) -> Result<&Counters> {
        match scope {
            STATS_FILE => Ok(&self.shared.counters),
            STATS_GLOBAL => Ok(&GLOBAL),
            _ => Err(EINVAL),
        }
    }

    fn stats(&self, arg: usize) -> Result {
        let mut s = Stats::default();
        read_sized(arg, &mut s)?;
        s.counters = self.scope(s.scope)?.read();
        write_back(arg, &s)
    }

    fn reset_stats(&self, arg: usize) -> Result {
        let scope: u32 = user_slice(arg, _IOC_SIZE(IOC_RESET_STATS))
            .reader()
            .read()?;
        self.scope(scope)?.reset();
        Ok(())
    }
}

/// The device: its registration and its open files.
#[pin_data]
struct Device {
    /// Declared first, so that it is deregistered first.
    #[pin]
    misc: MiscDeviceRegistration<VmaLockFile>,
    /// The state of every open file, for `VMALOCK_REVOKE_DEVICE`; a released file's slot is
    /// `None` until an `open` reuses it.
    #[pin]
    files: Mutex<KVec<Option<Arc<Shared>>>>,
}

struct RustVmaLock {
    _dev: Pin<KBox<Device>>,
}

impl kernel::Module for RustVmaLock {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if !(1..=MAX_PAGES_LIMIT).contains(&max_pages()) {
            pr_err!("max_pages must be 1..={}\n", MAX_PAGES_LIMIT);
            return Err(EINVAL);
        }
        let opts = MiscDeviceOptions {
            name: c"rust-vmalock",
            mode: 0o600,
        };
        // The list first: `open` can run as soon as the device is registered.
        let dev = KBox::pin_init(
            try_pin_init!(Device {
                files <- new_mutex!(KVec::new()),
                misc <- MiscDeviceRegistration::register(opts),
            }),
            GFP_KERNEL,
        )?;
        pr_info!(
            "registered /dev/rust-vmalock (max_pages={}, force_mmap={})\n",
            max_pages(),
            force_mmap()
        );
        Ok(RustVmaLock { _dev: dev })
    }
}
