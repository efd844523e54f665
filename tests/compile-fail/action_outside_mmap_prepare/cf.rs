// SPDX-License-Identifier: GPL-2.0
use kernel::prelude::*;
module! { type: M, name: "cf", license: "GPL", }
struct M;
impl kernel::Module for M {
    fn init(_m: &'static ThisModule) -> Result<Self> {
        Ok(M)
    }
}

use kernel::mm::vm_ops::{KernelPages, VmaMapped};

// expect: E0599 (an mmap action is part of the descriptor: once the VMA exists, as in
// `populate`, there is none to ask for)
pub fn populate(vma: &VmaMapped, pages: &KernelPages) -> Result {
    vma.map_kernel_pages(pages, 0)
}
