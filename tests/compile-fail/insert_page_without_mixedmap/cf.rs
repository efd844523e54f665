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

// expect: E0599 (vm_insert_page only exists on VmaMixedMap)
pub fn f(mm: &MmWithUser, page: &kernel::page::Page) {
    let guard = mm.mmap_read_lock();
    let vma = guard.vma_lookup(0).unwrap();
    let _ = vma.vm_insert_page(0, page);
}
