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

// expect: E0597 (`mapped` runs after mmap_prepare returned: its source must live as long as the
// open file, not be a local of mmap_prepare)
pub fn prepare(mut desc: VmaDesc<'_>) -> Result {
    let local = Ops(1);
    desc.set_vm_ops(&local)
}
