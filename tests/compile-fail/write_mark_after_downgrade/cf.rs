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

// expect: E0505 (guard moved into downgrade while the write mark borrows it)
pub fn f(mm: &MmWithUser) {
    let guard = mm.mmap_write_lock();
    let vma = guard.vma_lookup(0).unwrap();
    let marked = guard.vma_start_write(vma).unwrap();
    let _read = guard.downgrade();
    let _ = marked.start();
}
