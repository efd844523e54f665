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

// expect: E0599 (kernel pages are inserted with page references: a mixed map, never a PFN map)
pub fn prepare<'a>(desc: VmaDesc<'a>, pages: &'a KernelPages) -> Result {
    desc.set_pfnmap()?.map_kernel_pages(pages, 0)
}
