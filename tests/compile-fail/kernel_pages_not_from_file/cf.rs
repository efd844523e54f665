// SPDX-License-Identifier: GPL-2.0
use kernel::prelude::*;
module! { type: M, name: "cf", license: "GPL", }
struct M;
impl kernel::Module for M {
    fn init(_m: &'static ThisModule) -> Result<Self> {
        Ok(M)
    }
}

use kernel::mm::vm_ops::{KernelPages, VmaDesc};

// expect: E0597 (the core maps the pages after mmap_prepare returned: they must live as long as
// the open file, not be a local of mmap_prepare)
pub fn prepare(desc: VmaDesc<'_>) -> Result {
    let local = KernelPages::new(KVec::new(), GFP_KERNEL)?;
    desc.set_mixedmap().map_kernel_pages(&local, 0)
}
