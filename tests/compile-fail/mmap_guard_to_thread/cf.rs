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

// expect: E0277 (MmapReadGuard is not Send)
fn needs_send<T: Send>(_: T) {}
pub fn f(mm: &MmWithUser) {
    needs_send(mm.mmap_read_lock());
}
