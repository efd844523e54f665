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

// expect: E0277 (VmaReadGuard is not Send)
fn needs_send<T: Send>(_: T) {}
pub fn f(mm: &MmWithUser) {
    if let Some(vma) = mm.lock_vma_under_rcu(0) {
        needs_send(vma);
    }
}
