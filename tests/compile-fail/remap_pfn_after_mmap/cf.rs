// SPDX-License-Identifier: GPL-2.0
use kernel::mm::MmWithUser;
use kernel::prelude::*;
module! { type: M, name: "cf", license: "GPL", }
struct M;
impl kernel::Module for M {
    fn init(_m: &'static ThisModule) -> Result<Self> {
        Ok(M)
    }
}

// expect: E0599 (remap_pfn_range only exists while mmap sets the VMA up)
pub fn f(mm: &MmWithUser, pfn: usize) {
    let guard = mm.mmap_read_lock();
    let vma = guard.vma_lookup(0).unwrap();
    let pfnmap = vma.as_pfnmap_vma().unwrap();
    let prot = kernel::mm::pfnmap::Pgprot::of(pfnmap);
    // SAFETY: Irrelevant: this must not compile.
    let _ = unsafe { pfnmap.remap_pfn_range(0, pfn, 4096, prot) };
}
