// SPDX-License-Identifier: GPL-2.0
/*
 * icount-plugin.c: a QEMU TCG plugin that counts the guest instructions
 * executed between markers the guest places, kernel and user mode apart.
 * make bench loads it (scripts/bench-icount.sh) for exact per-operation
 * costs: under TCG the count of a path is the same on every run, however
 * busy the host is, where a time is not.
 *
 * A marker is an instruction that does nothing and that no compiler emits:
 *   x86_64  nopl 0x52564c<id>(%rax)	0f 1f 80 <id> 4c 56 52
 *   arm64   movz xzr, #0x52<id>, lsl #48
 * with an id of 0 to 255. A marker with id > 0 opens a region; the next
 * marker closes it and writes "<id> <kernel> <user>" (the instructions
 * executed in between) to the output file. Id 0 only closes.
 *
 * Instructions at addresses with the top bit set are kernel instructions
 * (both arches map the kernel in the upper half); interrupts taken inside
 * a region count as kernel instructions of that region.
 *
 * The counters are plain 64-bit adds inlined into the translated code,
 * exact on one vCPU only: the plugin refuses a guest with more (-smp 1).
 *
 * With profile=<file>, it also counts how often each kernel instruction ran
 * inside a region and writes "<address> <count>" lines to <file> at exit,
 * for scripts/icount-profile.sh to attribute them to functions.
 *
 * Arguments: out=<file> (default stderr), profile=<file>.
 * Build: gcc -shared -fPIC -O2 -I<dir of QEMU's qemu-plugin.h> -o icount.so icount-plugin.c
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;	/* the plugin API's uint64_t, printed with %llu */

enum { USER, KERNEL };

static u64 count[2];	/* updated by the translated code */
static u64 start[2];
static unsigned int open_id;
static bool is_x86;
static FILE *out;

/* profile=: a counter per translated kernel instruction, on a list. */
struct insn_count {
	u64 vaddr;
	u64 count;
	struct insn_count *next;
};

static FILE *profile;
static struct insn_count *insns;

/* The marker's id, or -1 if @insn is no marker. */
static int marker_id(const struct qemu_plugin_insn *insn)
{
	const u8 *b = qemu_plugin_insn_data(insn);
	size_t n = qemu_plugin_insn_size(insn);
	u32 w;

	if (is_x86)
		return n == 7 && b[0] == 0x0f && b[1] == 0x1f && b[2] == 0x80 &&
		       b[4] == 0x4c && b[5] == 0x56 && b[6] == 0x52 ? b[3] : -1;
	if (n != 4)
		return -1;
	memcpy(&w, b, sizeof(w));	/* little-endian guest on a little-endian host */
	/* movz xzr, #imm16, lsl #48: 0xd2e00000 | imm16 << 5 | 31 */
	if ((w & ~(0xffu << 5)) != (0xd2e00000u | 0x52u << 13 | 31))
		return -1;
	return (w >> 5) & 0xff;
}

static void marker(unsigned int vcpu, void *udata)
{
	unsigned int id = (uintptr_t)udata;

	if (open_id)
		fprintf(out, "%u %llu %llu\n", open_id,
			count[KERNEL] - start[KERNEL], count[USER] - start[USER]);
	open_id = id;
	start[KERNEL] = count[KERNEL];
	start[USER] = count[USER];
}

static void profile_insn(unsigned int vcpu, void *udata)
{
	struct insn_count *ic = udata;

	if (open_id)
		ic->count++;
}

/* A counter for the kernel instruction at @vaddr, or NULL if out of memory. */
static struct insn_count *insn_count(u64 vaddr)
{
	struct insn_count *ic = calloc(1, sizeof(*ic));

	if (ic) {
		ic->vaddr = vaddr;
		ic->next = insns;
		insns = ic;
	}
	return ic;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t i, n = qemu_plugin_tb_n_insns(tb);

	for (i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		u64 vaddr = qemu_plugin_insn_vaddr(insn);
		int kernel = vaddr >> 63;
		struct insn_count *ic;
		int m = marker_id(insn);

		qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
							   &count[kernel], 1);
		/* A retranslated instruction gets a second counter: both are summed. */
		if (profile && kernel) {
			ic = insn_count(vaddr);
			if (ic)
				qemu_plugin_register_vcpu_insn_exec_cb(insn, profile_insn,
								       QEMU_PLUGIN_CB_NO_REGS, ic);
		}
		if (m >= 0)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, marker, QEMU_PLUGIN_CB_NO_REGS,
							       (void *)(uintptr_t)m);
	}
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
	struct insn_count *ic;

	fprintf(out, "total %llu %llu\n", count[KERNEL], count[USER]);
	fflush(out);
	if (!profile)
		return;
	for (ic = insns; ic; ic = ic->next)
		if (ic->count)
			fprintf(profile, "%llx %llu\n", ic->vaddr, ic->count);
	fflush(profile);
}

static FILE *open_out(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		perror(path);
	else
		setvbuf(f, NULL, _IOLBF, 0);
	return f;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
					   int argc, char **argv)
{
	int i;

	out = stderr;
	for (i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "out=", 4)) {
			out = open_out(argv[i] + 4);
			if (!out)
				return -1;
		} else if (!strncmp(argv[i], "profile=", 8)) {
			profile = open_out(argv[i] + 8);
			if (!profile)
				return -1;
		} else {
			fprintf(stderr, "icount: unknown argument %s\n", argv[i]);
			return -1;
		}
	}
	if (!info->system_emulation || info->system.max_vcpus != 1) {
		fprintf(stderr, "icount: needs system emulation with one vCPU (-smp 1)\n");
		return -1;
	}
	if (!strcmp(info->target_name, "x86_64")) {
		is_x86 = true;
	} else if (strcmp(info->target_name, "aarch64")) {
		fprintf(stderr, "icount: unsupported target %s\n", info->target_name);
		return -1;
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
