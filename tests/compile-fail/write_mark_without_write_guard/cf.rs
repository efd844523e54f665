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

// expect: E0599 (no vma_start_write on the read guard)
pub fn f(mm: &MmWithUser) {
    let guard = mm.mmap_read_lock();
    let vma = guard.vma_lookup(0).unwrap();
    let _ = guard.vma_start_write(vma);
}
