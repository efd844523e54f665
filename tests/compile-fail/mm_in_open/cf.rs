// SPDX-License-Identifier: GPL-2.0
use kernel::mm::vm_ops::{VmFault, VmFaultResult, VmOperations, VmaInfo};
use kernel::prelude::*;
use kernel::sync::ArcBorrow;
module! { type: M, name: "cf", license: "GPL", }
struct M;
impl kernel::Module for M {
    fn init(_m: &'static ThisModule) -> Result<Self> {
        Ok(M)
    }
}

struct Ops;

// expect: E0599 (open of a fork runs on the half-built child mm: `VmaInfo` has no `mm()`)
#[vtable]
impl VmOperations for Ops {
    type Data = ();

    fn open(_data: ArcBorrow<'_, ()>, vma: &VmaInfo) {
        let _mm = vma.mm();
    }

    fn fault(_data: ArcBorrow<'_, ()>, _vmf: &VmFault) -> VmFaultResult {
        VmFaultResult::Sigbus
    }
}
