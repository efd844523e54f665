/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LAYOUT_CHECK_H
#define LAYOUT_CHECK_H

#include <linux/types.h>

/*
 * One entry of the C side of layout_check: the C compiler's offsetof() of
 * @field in struct @struct_name, or sizeof()/__alignof__() of the whole
 * struct when @field is "sizeof"/"alignof". The Rust side
 * (layout_check_rust.rs) mirrors this as `CEntry`.
 */
struct layout_check_entry {
	const char *struct_name;
	const char *field;
	size_t value;
};

const struct layout_check_entry *layout_check_c_table(size_t *len);

#endif /* LAYOUT_CHECK_H */
