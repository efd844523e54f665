// SPDX-License-Identifier: GPL-2.0
// tree: 7.3 (VmaDesc::prepare_raw() wraps 7.3's struct vm_area_desc)
use kernel::prelude::*;
module! { type: M, name: "cf", license: "GPL", }
struct M;
impl kernel::Module for M {
    fn init(_m: &'static ThisModule) -> Result<Self> {
        Ok(M)
    }
}

use kernel::bindings;
use kernel::mm::vm_ops::{VmOperations, VmaDesc, VmaInfo};
use kernel::sync::Arc;

struct Ops(u64);

#[vtable]
impl VmOperations for Ops {
    type Data = u64;

    fn mapped(&self, _vma: &VmaInfo) -> Result<Arc<u64>> {
        Ok(Arc::new(self.0, GFP_KERNEL)?)
    }
}

/// # Safety
///
/// `desc` is the descriptor of the current `f_op->mmap_prepare` call.
// expect: E0597 (prepare_raw's closure must work for every lifetime of the descriptor: a value
// it makes itself cannot become the source that `mapped` reads after mmap_prepare returned)
pub unsafe fn prepare(desc: *mut bindings::vm_area_desc) -> Result {
    // SAFETY: The caller passes the descriptor of this `mmap_prepare` call.
    unsafe {
        VmaDesc::prepare_raw(desc, |_file, mut desc| {
            let local = Ops(1);
            desc.set_vm_ops(&local)
        })
    }
}
