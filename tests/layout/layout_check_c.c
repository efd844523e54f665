// SPDX-License-Identifier: GPL-2.0
/*
 * C half of layout_check: what the C compiler says about the structs whose
 * fields our Rust code reads. The Rust half compares it with
 * core::mem::offset_of!() on kernel::bindings; see layout_check_rust.rs for
 * why.
 *
 * Name each field the way C code spells it (anonymous structs and unions
 * left out); the Rust list maps the names to bindgen's paths.
 */

#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mm_types.h>
#include <linux/sched.h>
#include <linux/stddef.h>

#include "layout_check.h"

#define LC_FIELD(s, f)	{ #s, #f, offsetof(struct s, f) }
#define LC_SIZE(s)	{ #s, "sizeof", sizeof(struct s) }
#define LC_ALIGN(s)	{ #s, "alignof", __alignof__(struct s) }

static const struct layout_check_entry layout_check_table[] = {
	LC_FIELD(task_struct, mm),
	LC_FIELD(task_struct, group_leader),
	LC_FIELD(task_struct, pid),
	LC_SIZE(task_struct),
	LC_ALIGN(task_struct),

	LC_FIELD(mm_struct, mm_users),
	LC_FIELD(mm_struct, mm_count),
	LC_SIZE(mm_struct),
	LC_ALIGN(mm_struct),

	LC_FIELD(vm_area_struct, vm_start),
	LC_FIELD(vm_area_struct, vm_end),
	LC_FIELD(vm_area_struct, vm_mm),
	LC_FIELD(vm_area_struct, vm_page_prot),
	LC_FIELD(vm_area_struct, vm_flags),
	LC_FIELD(vm_area_struct, vm_pgoff),
	LC_FIELD(vm_area_struct, vm_file),
	LC_FIELD(vm_area_struct, vm_private_data),
	LC_FIELD(vm_area_struct, vm_ops),
	LC_SIZE(vm_area_struct),
	LC_ALIGN(vm_area_struct),

	LC_FIELD(vm_fault, vma),
	LC_FIELD(vm_fault, gfp_mask),
	LC_FIELD(vm_fault, pgoff),
	LC_FIELD(vm_fault, address),
	LC_FIELD(vm_fault, flags),
	LC_FIELD(vm_fault, page),
	LC_SIZE(vm_fault),
	LC_ALIGN(vm_fault),

	LC_FIELD(vm_operations_struct, open),
	LC_FIELD(vm_operations_struct, close),
	LC_FIELD(vm_operations_struct, fault),
	LC_FIELD(vm_operations_struct, map_pages),
	LC_SIZE(vm_operations_struct),
	LC_ALIGN(vm_operations_struct),

	LC_FIELD(file, f_flags),
	LC_FIELD(file, f_mode),
	LC_FIELD(file, private_data),
	LC_FIELD(file, f_op),
	LC_SIZE(file),
	LC_ALIGN(file),

	LC_FIELD(file_operations, owner),
	LC_FIELD(file_operations, open),
	LC_FIELD(file_operations, release),
	LC_FIELD(file_operations, mmap),
	LC_FIELD(file_operations, unlocked_ioctl),
	LC_FIELD(file_operations, compat_ioctl),
	LC_SIZE(file_operations),
	LC_ALIGN(file_operations),

	LC_FIELD(miscdevice, minor),
	LC_FIELD(miscdevice, name),
	LC_FIELD(miscdevice, fops),
	LC_FIELD(miscdevice, mode),
	LC_SIZE(miscdevice),
	LC_ALIGN(miscdevice),
};

/* Called from the Rust half; the table and its strings live forever. */
const struct layout_check_entry *layout_check_c_table(size_t *len)
{
	*len = ARRAY_SIZE(layout_check_table);
	return layout_check_table;
}
