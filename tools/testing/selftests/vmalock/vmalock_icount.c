// SPDX-License-Identifier: GPL-2.0
/*
 * Instructions per operation of the vmalock sample devices' fault paths.
 *
 * Runs in a guest under QEMU TCG with one vCPU and the instruction counting
 * plugin of make bench (scripts/icount-plugin.c). For each path and device,
 * it repeats a batch of operations between two markers, instructions that
 * do nothing and that the plugin recognises; the plugin writes, per batch,
 * the guest instructions executed between them, kernel and user apart.
 * Without the plugin the markers are no-ops and the program only checks
 * that every operation succeeds.
 *
 * The paths, each on /dev/rust-vmalock and /dev/c-vmalock:
 *   fault        write fault on the page view (vm_insert_page), per-VMA lock
 *   fault_pfn    write fault on the PFN view (vmf_insert_pfn_prot)
 *   fault_eager  refault of the eager PFN view after DROP
 *   fault_mmap   write fault on the page view in VMALOCK_MODE_FORCE_MMAP:
 *                retried under the mmap lock
 *   lookup       VMALOCK_IOC_LOOKUP
 *   drop         VMALOCK_IOC_DROP of one present page
 *   lookup_mmap, drop_mmap  the same in VMALOCK_MODE_FORCE_MMAP, under the
 *                mmap read lock: the C twin on 6.12 has no other, as
 *                lock_vma_under_rcu() is not exported there
 * Fault batches DROP the region's pages first, outside the markers.
 *
 * Output, stdout: one line per batch, in the order the markers ran,
 *   batch <marker id> <device> <path> <operations> <lock>
 * where lock is what the path's ioctls reported (vma, mmap, or - for faults),
 * and "warmup" instead of "batch" for each case's first batch, which only
 * warms caches up; then "done". scripts/bench-icount.sh pairs these lines with the plugin's.
 * Options: -b batches per case (default 24), -n operations per batch (16),
 * -p <path> and -d rust|c to run one path or one device only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmalock_util.h"

/*
 * The plugin's markers (scripts/icount-plugin.c); id 0 closes a region. The
 * id is an immediate: always inlined, with a constant (-O2).
 */
static __always_inline void mark(const int id)
{
#if defined(__x86_64__)
	asm volatile(".byte 0x0f, 0x1f, 0x80, %c0, 0x4c, 0x56, 0x52" : : "i" (id) : "memory");
#elif defined(__aarch64__)
	asm volatile(".inst 0xd2e00000 | (0x52 << 13) | (%c0 << 5) | 31" : : "i" (id) : "memory");
#else
#error "no instruction counting marker for this architecture"
#endif
}

/* Marker ids, one per kind of batch: the host checks them against the lines. */
#define MARK_FAULT	1
#define MARK_LOOKUP	2
#define MARK_DROP	3

enum path {
	P_FAULT, P_FAULT_PFN, P_FAULT_EAGER, P_FAULT_MMAP,
	P_LOOKUP, P_DROP, P_LOOKUP_MMAP, P_DROP_MMAP, NR_PATHS
};

static const char * const path_name[] = {
	"fault", "fault_pfn", "fault_eager", "fault_mmap",
	"lookup", "drop", "lookup_mmap", "drop_mmap",
};

static const char * const lock_name[] = { "-", "vma", "mmap" };

static long page_size;
static unsigned int batches = 24, nops = 16;

static void die(const char *what, int err)
{
	fprintf(stderr, "vmalock_icount: %s: %s\n", what, strerror(err));
	exit(1);
}

static void touch_all(char *map)
{
	unsigned int i;

	for (i = 0; i < nops; i++)
		__atomic_store_n(map + i * page_size + VL_DATA_OFF, (char)i, __ATOMIC_RELAXED);
}

static void drop_all(int fd, char *map)
{
	int err = vl_drop(fd, (unsigned long)map, nops * page_size, NULL);

	if (err)
		die("VMALOCK_IOC_DROP", err);
}

/* One batch of @path on the mapping @map of @fd; returns the lock it reported. */
static __u32 batch(enum path path, int fd, char *map)
{
	struct vmalock_lookup l;
	__u32 lock = 0, got;
	unsigned int i;
	int err = 0;

	switch (path) {
	case P_LOOKUP:
	case P_LOOKUP_MMAP:
		mark(MARK_LOOKUP);
		for (i = 0; i < nops && !err; i++) {
			err = vl_lookup(fd, (unsigned long)map + i * page_size, &l);
			lock |= l.lock;
		}
		mark(0);
		if (err)
			die("VMALOCK_IOC_LOOKUP", err);
		break;
	case P_DROP:
	case P_DROP_MMAP:
		touch_all(map);
		mark(MARK_DROP);
		for (i = 0; i < nops && !err; i++) {
			err = vl_drop(fd, (unsigned long)map + i * page_size, page_size, &got);
			lock |= got;
		}
		mark(0);
		if (err)
			die("VMALOCK_IOC_DROP", err);
		break;
	default:
		drop_all(fd, map);
		mark(MARK_FAULT);
		touch_all(map);
		mark(0);
		break;
	}
	return lock;
}

static void run(const char *dev, const char *name, enum path path)
{
	__u64 off = path == P_FAULT_PFN ? VMALOCK_PFN_OFFSET :
		    path == P_FAULT_EAGER ? VMALOCK_PFN_EAGER_OFFSET : 0;
	bool force = path == P_FAULT_MMAP || path == P_LOOKUP_MMAP || path == P_DROP_MMAP;
	__u32 mode = force ? VMALOCK_MODE_FORCE_MMAP : VMALOCK_MODE_DEFAULT;
	unsigned int b;
	char *map;
	__u32 lock;
	int fd, err;

	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die(dev, errno);
	err = vl_set_size(fd, nops);
	if (!err)
		err = vl_set_mode(fd, mode);
	if (err)
		die("VMALOCK_IOC_SET_SIZE/SET_MODE", err);
	map = mmap(NULL, nops * page_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
	if (map == MAP_FAILED)
		die("mmap", errno);
	touch_all(map);
	for (b = 0; b <= batches; b++) {
		/* VMALOCK_LOCK_VMA | VMALOCK_LOCK_MMAP if the batch took both */
		lock = batch(path, fd, map);
		printf("%s %d %s %s %u %s\n", b ? "batch" : "warmup",
		       path == P_LOOKUP || path == P_LOOKUP_MMAP ? MARK_LOOKUP :
		       path == P_DROP || path == P_DROP_MMAP ? MARK_DROP : MARK_FAULT,
		       name, path_name[path], nops,
		       lock == 3 ? "both" : lock_name[lock]);
	}
	munmap(map, nops * page_size);
	close(fd);
}

int main(int argc, char **argv)
{
	const char *only_path = NULL, *only_dev = NULL;
	int opt, p;

	while ((opt = getopt(argc, argv, "b:n:p:d:")) != -1) {
		switch (opt) {
		case 'p':
			only_path = optarg;
			break;
		case 'd':
			only_dev = optarg;
			break;
		case 'b':
			batches = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			nops = strtoul(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: %s [-b batches] [-n operations] %s\n",
				argv[0], "[-p path] [-d rust|c]");
			return 2;
		}
	}
	if (!batches || !nops || nops > VMALOCK_DEFAULT_PAGES) {
		fprintf(stderr, "vmalock_icount: need 0 < batches and 0 < operations <= %d\n",
			VMALOCK_DEFAULT_PAGES);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	page_size = sysconf(_SC_PAGESIZE);
	/* Rust and C alternate, so that both see the same guest state. */
	for (p = 0; p < NR_PATHS; p++) {
		if (only_path && strcmp(only_path, path_name[p]))
			continue;
		if (!only_dev || !strcmp(only_dev, "rust"))
			run(RUST_DEV, "rust", p);
		if (!only_dev || !strcmp(only_dev, "c"))
			run(C_DEV, "c", p);
	}
	printf("done\n");
	return 0;
}
