// SPDX-License-Identifier: GPL-2.0
use kernel::prelude::*;
module! { type: M, name: "cf", license: "GPL", }
struct M;
impl kernel::Module for M {
    fn init(_m: &'static ThisModule) -> Result<Self> {
        Ok(M)
    }
}

use kernel::mm::vm_ops::VmaDesc;

// expect: E0382 (a mapping is a mixed map or a PFN map, not both: each consumes the descriptor)
pub fn prepare(desc: VmaDesc<'_>) -> Result {
    let _mixed = desc.set_mixedmap();
    let _pfn = desc.set_pfnmap()?;
    Ok(())
}
