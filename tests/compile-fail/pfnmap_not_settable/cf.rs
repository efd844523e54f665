// SPDX-License-Identifier: GPL-2.0
use kernel::mm::MmWithUser;
use kernel::prelude::*;
module! { type: M, name: "cf", license: "GPL" }
struct M;
impl kernel::Module for M {
    fn init(_m: &'static ThisModule) -> Result<Self> {
        Ok(M)
    }
}

// expect: E0599 (VmaNew offers no way to set VM_PFNMAP next to VM_MIXEDMAP)
pub fn f(vma: &kernel::mm::virt::VmaNew) {
    vma.set_mixedmap();
    vma.set_pfnmap();
}
