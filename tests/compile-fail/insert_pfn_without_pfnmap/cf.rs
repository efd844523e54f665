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

// expect: E0599 (insert_pfn only exists on VmaPfnMap)
pub fn f(mm: &MmWithUser, pfn: usize) {
    let guard = mm.mmap_read_lock();
    let vma = guard.vma_lookup(0).unwrap();
    let prot = kernel::mm::pfnmap::Pgprot::of(vma);
    // SAFETY: Irrelevant: this must not compile.
    let _ = unsafe { vma.insert_pfn(0, pfn, prot) };
}
