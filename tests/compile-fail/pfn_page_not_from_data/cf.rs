// SPDX-License-Identifier: GPL-2.0
use kernel::prelude::*;
module! { type: M, name: "cf", license: "GPL", }
struct M;
impl kernel::Module for M {
    fn init(_m: &'static ThisModule) -> Result<Self> {
        Ok(M)
    }
}

use kernel::mm::vm_ops::{VmFault, VmFaultResult, VmOperations};
use kernel::page::Page;
use kernel::sync::ArcBorrow;

struct Ops;

// expect: E0597 (a PFN map may only map a page the VMA's data owns: this one is freed on return)
#[vtable]
impl VmOperations for Ops {
    type Data = ();

    fn fault(_data: ArcBorrow<'_, ()>, vmf: &VmFault) -> VmFaultResult {
        let Ok(page) = Page::alloc_page(GFP_KERNEL) else {
            return VmFaultResult::Oom;
        };
        vmf.insert_pfn::<Self>(|_| Some(&page))
    }
}
