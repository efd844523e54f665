// SPDX-License-Identifier: GPL-2.0
use kernel::prelude::*;
module! { type: M, name: "cf", license: "GPL", }
struct M;
impl kernel::Module for M {
    fn init(_m: &'static ThisModule) -> Result<Self> {
        Ok(M)
    }
}

use kernel::mm::vm_ops::{VmFault, VmFaultResult, VmOperations, VmaDesc, VmaInfo};
use kernel::sync::{Arc, ArcBorrow};

struct Ops(u64);

#[vtable]
impl VmOperations for Ops {
    type Data = u64;

    fn mapped(&self, _vma: &VmaInfo) -> Result<Arc<u64>> {
        Ok(Arc::new(self.0, GFP_KERNEL)?)
    }

    fn fault(_data: ArcBorrow<'_, u64>, _vmf: &VmFault) -> VmFaultResult {
        VmFaultResult::Sigbus
    }
}

// expect: E0597 (the descriptor's lifetime is invariant: moving it into a binding of a shorter
// lifetime does not let a local of mmap_prepare become the source `mapped` reads later)
pub fn prepare(desc: VmaDesc<'_>) -> Result {
    let local = Ops(1);
    let mut shorter: VmaDesc<'_> = desc;
    shorter.set_vm_ops(&local)
}
