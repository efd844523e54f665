// SPDX-License-Identifier: GPL-2.0

//! Checks, inside the running kernel, that Rust sees the C structs our Rust
//! code reads with the same layout as the C compiler.
//!
//! Why: Rust reads kernel structs through `kernel::bindings`, whose layout
//! bindgen computes from the C headers on its own, and a wrong layout
//! compiles fine. bindgen 0.73.2 drops the alignment of an empty struct
//! declared `__aligned__` (`struct e {} __attribute__((__aligned__(64)));`
//! reproduces it). With `CONFIG_SCHEDSTATS=n`, `struct sched_statistics` is
//! exactly that (empty but cacheline aligned), so every `task_struct` field
//! after `stats` sits 16 bytes early in Rust on x86_64 (`mm` at 832 instead
//! of 848, `pid` at 960 instead of 976) and even `current!().pid()` reads 0.
//! The configs keep `CONFIG_SCHEDSTATS=y`, but about 40 other empty structs
//! in the bindings were never audited, and a config change can bring the
//! problem back. So every field the Rust code reads is compared here.
//!
//! How: `layout_check_c.c` exports a table of (struct, field, C `offsetof`)
//! plus `sizeof` and `__alignof__` entries; [`RUST_LAYOUTS`] generates the
//! matching (struct, field, `offset_of!`) entries on `kernel::bindings`.
//! Entries are matched by name, and a name missing on either side fails, so
//! adding a field to one list only is caught. The result is printed as KTAP,
//! one test case per struct (each line carries the `layout_check: ` prefix
//! of `pr_info!`), followed by
//! `layout_check: N fields checked, M mismatches`. Init always succeeds.

use core::ffi::{c_char, CStr};
use core::mem::{align_of, offset_of, size_of};
use kernel::bindings;
use kernel::prelude::*;

module! {
    type: LayoutCheck,
    name: "layout_check",
    description: "Compare C and Rust (bindgen) layouts of the structs Rust code reads",
    license: "GPL",
}

/// One entry of the C table; mirrors `struct layout_check_entry`.
///
/// # Invariants
///
/// `struct_name` and `field` point to NUL-terminated string literals.
#[repr(C)]
struct CEntry {
    struct_name: *const c_char,
    field: *const c_char,
    value: usize,
}

extern "C" {
    fn layout_check_c_table(len: *mut usize) -> *const CEntry;
}

impl CEntry {
    fn struct_name(&self) -> &'static str {
        // SAFETY: By the type invariant, `struct_name` is a string literal.
        let name = unsafe { CStr::from_ptr(self.struct_name) };
        name.to_str().unwrap_or("<non-UTF-8>")
    }

    fn field(&self) -> &'static str {
        // SAFETY: By the type invariant, `field` is a string literal.
        let field = unsafe { CStr::from_ptr(self.field) };
        field.to_str().unwrap_or("<non-UTF-8>")
    }
}

fn c_table() -> &'static [CEntry] {
    let mut len = 0;
    // SAFETY: `layout_check_c_table` stores the length of a static array of
    // `struct layout_check_entry` in `len` and returns a pointer to it; its
    // entries point to string literals, as `CEntry` requires.
    unsafe {
        let table = layout_check_c_table(&mut len);
        core::slice::from_raw_parts(table, len)
    }
}

/// Offset of `field` (named as in C), or the struct's size or alignment
/// (`field` is "sizeof" or "alignof"), as Rust sees it.
struct RustEntry {
    field: &'static str,
    value: usize,
}

/// Rust's view of one struct; `entries` is `None` when `kernel::bindings`
/// of this kernel lacks the struct.
struct RustStruct {
    name: &'static str,
    entries: Option<&'static [RustEntry]>,
}

/// The last identifier of a field path: the name C code uses for the field.
macro_rules! last_ident {
    ($f:ident) => {
        stringify!($f)
    };
    ($head:ident . $($rest:ident).+) => {
        last_ident!($($rest).+)
    };
}

/// Builds the Rust side from `struct { path.to.field, ... }` items. A path
/// goes through bindgen's `__bindgen_anon_N` members where C has anonymous
/// structs or unions; the entry is named after its last component. A struct
/// under `#[cfg(...)]` is reported as skipped when the cfg is off.
macro_rules! rust_layouts {
    ($($(#[cfg($cfg:meta)])? $s:ident { $($($f:ident).+),* $(,)? })*) => {
        &[$(RustStruct {
            name: stringify!($s),
            entries: {
                $(#[cfg($cfg)])?
                const ENTRIES: Option<&[RustEntry]> = Some(&[
                    $(RustEntry {
                        field: last_ident!($($f).+),
                        value: offset_of!(bindings::$s, $($f).+),
                    },)*
                    RustEntry {
                        field: "sizeof",
                        value: size_of::<bindings::$s>(),
                    },
                    RustEntry {
                        field: "alignof",
                        value: align_of::<bindings::$s>(),
                    },
                ]);
                $(
                    #[cfg(not($cfg))]
                    const ENTRIES: Option<&[RustEntry]> = None;
                )?
                ENTRIES
            },
        },)*]
    };
}

/// Every field the Rust code reads, by bindgen path. Keep in sync with
/// `layout_check_table` in `layout_check_c.c` (a missing name fails).
const RUST_LAYOUTS: &[RustStruct] = rust_layouts! {
    task_struct { mm, group_leader, pid }
    mm_struct {
        __bindgen_anon_1.mm_users,
        __bindgen_anon_1.__bindgen_anon_1.mm_count,
    }
    vm_area_struct {
        __bindgen_anon_1.__bindgen_anon_1.vm_start,
        __bindgen_anon_1.__bindgen_anon_1.vm_end,
        vm_mm,
        vm_page_prot,
        __bindgen_anon_2.vm_flags,
        vm_pgoff,
        vm_file,
        vm_private_data,
        vm_ops,
    }
    vm_fault {
        __bindgen_anon_1.vma,
        __bindgen_anon_1.gfp_mask,
        __bindgen_anon_1.pgoff,
        __bindgen_anon_1.address,
        flags,
        page,
    }
    vm_operations_struct { open, close, fault, map_pages }
    file { f_flags, f_mode, private_data, f_op }
    file_operations { owner, open, release, mmap, unlocked_ioctl, compat_ioctl }
    // Set by Kbuild when the bindings have it (not in 6.12's bindings_helper.h).
    #[cfg(layout_check_miscdevice)]
    miscdevice { minor, name, fops, mode }
};

#[derive(Default)]
struct Counts {
    checked: usize,
    mismatches: usize,
    skipped: usize,
}

/// Calls `f` once per struct name, C table order first, then structs only
/// the Rust list has.
fn for_each_struct(c: &[CEntry], mut f: impl FnMut(&'static str)) {
    for (i, e) in c.iter().enumerate() {
        let name = e.struct_name();
        if c[..i].iter().all(|p| p.struct_name() != name) {
            f(name);
        }
    }
    for s in RUST_LAYOUTS {
        if c.iter().all(|e| e.struct_name() != s.name) {
            f(s.name);
        }
    }
}

/// Compares one struct and prints its KTAP test case.
fn check_struct(number: usize, name: &str, c: &[CEntry]) -> Counts {
    let mut counts = Counts::default();
    let c_entries = || c.iter().filter(|e| e.struct_name() == name);
    let rust = RUST_LAYOUTS.iter().find(|s| s.name == name);

    if let Some(RustStruct { entries: None, .. }) = rust {
        counts.skipped = c_entries().count();
        pr_info!("ok {number} {name} # SKIP not in kernel::bindings\n");
        return counts;
    }
    let rust_entries = rust.and_then(|s| s.entries).unwrap_or(&[]);

    let mut first = None;
    let mut mismatch = |field: &'static str, c_value: Option<usize>, rust_value: Option<usize>| {
        // A value missing on one side prints as `None`.
        pr_info!("# {name}.{field}: C {c_value:?} Rust {rust_value:?}\n");
        counts.mismatches += 1;
        first.get_or_insert((field, c_value, rust_value));
    };
    let mut checked = 0;
    for e in c_entries() {
        checked += 1;
        let rust_value = rust_entries
            .iter()
            .find(|r| r.field == e.field())
            .map(|r| r.value);
        if rust_value != Some(e.value) {
            mismatch(e.field(), Some(e.value), rust_value);
        }
    }
    for r in rust_entries {
        if !c_entries().any(|e| e.field() == r.field) {
            checked += 1;
            mismatch(r.field, None, Some(r.value));
        }
    }
    counts.checked = checked;

    match first {
        None => pr_info!("ok {number} {name}\n"),
        Some((field, c_value, rust_value)) => {
            let more = counts.mismatches - 1;
            if more == 0 {
                pr_info!("not ok {number} {name} # {field}: C {c_value:?} Rust {rust_value:?}\n");
            } else {
                pr_info!(
                    "not ok {number} {name} # {field}: C {c_value:?} Rust {rust_value:?} (+{more} more)\n"
                );
            }
        }
    }
    counts
}

struct LayoutCheck;

impl kernel::Module for LayoutCheck {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let c = c_table();
        let mut structs = 0;
        for_each_struct(c, |_| structs += 1);

        pr_info!("KTAP version 1\n");
        pr_info!("1..{structs}\n");
        let mut total = Counts::default();
        let mut number = 0;
        for_each_struct(c, |name| {
            number += 1;
            let counts = check_struct(number, name, c);
            total.checked += counts.checked;
            total.mismatches += counts.mismatches;
            total.skipped += counts.skipped;
        });

        let Counts {
            checked,
            mismatches,
            skipped,
        } = total;
        if skipped == 0 {
            pr_info!("{checked} fields checked, {mismatches} mismatches\n");
        } else {
            pr_info!("{checked} fields checked, {mismatches} mismatches, {skipped} skipped\n");
        }
        Ok(LayoutCheck)
    }
}
