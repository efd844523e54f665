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

// expect: E0597 (the VmaRef borrows the guard, dropped at the end of the block)
pub fn f(mm: &MmWithUser) -> usize {
    let vma = {
        let guard = mm.mmap_read_lock();
        guard.vma_lookup(0).unwrap()
    };
    vma.start()
}
