/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the vmalock selftests: ioctl wrappers that return an
 * errno, page header access, /proc/vmstat counters, environment knobs and a
 * small seeded PRNG.
 */
#ifndef VMALOCK_UTIL_H
#define VMALOCK_UTIL_H

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "vmalock.h"
#include "../kselftest.h"

#define RUST_DEV	"/dev/rust-vmalock"
#define C_DEV		"/dev/c-vmalock"

/* vm_flags bits as LOOKUP reports them (include/linux/mm.h). */
#define VL_VM_READ	0x00000001ULL
#define VL_VM_WRITE	0x00000002ULL
#define VL_VM_SHARED	0x00000008ULL
#define VL_VM_MAYWRITE	0x00000020ULL
#define VL_VM_PFNMAP	0x00000400ULL
#define VL_VM_IO	0x00004000ULL
#define VL_VM_DONTEXPAND 0x00040000ULL
#define VL_VM_DONTDUMP	0x04000000ULL
#define VL_VM_MIXEDMAP	0x10000000ULL

/* Offset in a page of the data word the tests write; after the header. */
#define VL_DATA_OFF	64

#define VL_NR_COUNTERS	17

static inline struct vmalock_page_header *vl_hdr(void *page)
{
	return page;
}

/* Header fields and the data word, read and written once each. */
static inline __u64 vl_index(void *page)
{
	return __atomic_load_n(&vl_hdr(page)->index, __ATOMIC_RELAXED);
}

static inline __u64 vl_gen(void *page)
{
	return __atomic_load_n(&vl_hdr(page)->generation, __ATOMIC_RELAXED);
}

static inline __u64 vl_get_data(void *page)
{
	return __atomic_load_n((__u64 *)((char *)page + VL_DATA_OFF), __ATOMIC_RELAXED);
}

static inline void vl_set_data(void *page, __u64 v)
{
	__atomic_store_n((__u64 *)((char *)page + VL_DATA_OFF), v, __ATOMIC_RELAXED);
}

/* Each wrapper returns 0 or the errno of the call. */
static inline int vl_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? errno : 0;
}

static inline int vl_info(int fd, struct vmalock_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return vl_ioctl(fd, VMALOCK_IOC_GET_INFO, info);
}

static inline int vl_stats(int fd, __u32 scope, struct vmalock_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->size = sizeof(*s);
	s->scope = scope;
	return vl_ioctl(fd, VMALOCK_IOC_GET_STATS, s);
}

static inline int vl_reset(int fd, __u32 scope)
{
	return vl_ioctl(fd, VMALOCK_IOC_RESET_STATS, &scope);
}

static inline int vl_set_mode(int fd, __u32 mode)
{
	return vl_ioctl(fd, VMALOCK_IOC_SET_MODE, &mode);
}

static inline int vl_set_size(int fd, __u64 npages)
{
	return vl_ioctl(fd, VMALOCK_IOC_SET_SIZE, &npages);
}

static inline int vl_lookup(int fd, unsigned long addr,
			    struct vmalock_lookup *l)
{
	memset(l, 0, sizeof(*l));
	l->size = sizeof(*l);
	l->addr = addr;
	return vl_ioctl(fd, VMALOCK_IOC_LOOKUP, l);
}

static inline int vl_zap(int fd, unsigned long addr, unsigned long len,
			 struct vmalock_zap *z)
{
	memset(z, 0, sizeof(*z));
	z->size = sizeof(*z);
	z->addr = addr;
	z->len = len;
	return vl_ioctl(fd, VMALOCK_IOC_ZAP, z);
}

/* DROP: 0 or an errno; *lock, if given, gets the lock that served it. */
static inline int vl_drop(int fd, unsigned long addr, unsigned long len,
			  __u32 *lock)
{
	struct vmalock_drop d = { .size = sizeof(d), .addr = addr, .len = len };
	int ret = vl_ioctl(fd, VMALOCK_IOC_DROP, &d);

	if (!ret && lock)
		*lock = d.lock;
	return ret;
}

/*
 * Whether the drivers refuse (EINVAL) an mmap of the eager view that
 * remap_pfn_range() would map whole, one page: on x86, where PAT then
 * tracks the VMA's memtype as a whole and untracks it when the VMA is freed,
 * after the pages went back to the allocator (or, on older kernels, in
 * every zap, racing with the others).
 */
static inline int vl_whole_remap_refused(void)
{
	struct utsname u;

	if (uname(&u))
		return 0;
	return !strcmp(u.machine, "x86_64");
}

static inline sigjmp_buf *vl_probe_env(void)
{
	static sigjmp_buf env;

	return &env;
}

static inline void vl_probe_sigbus(int sig)
{
	siglongjmp(*vl_probe_env(), 1);
}

/*
 * Reads the index of the page at p into *idx: 0, or -1 if that raised
 * SIGBUS. Nothing local changes between sigsetjmp() and a SIGBUS, so
 * nothing needs volatile.
 */
static inline int vl_try_index(void *p, __u64 *idx)
{
	struct sigaction sa = { .sa_handler = vl_probe_sigbus }, old;
	int ret;

	sigaction(SIGBUS, &sa, &old);
	ret = sigsetjmp(*vl_probe_env(), 1) ? -1 : 0;
	if (!ret)
		*idx = vl_index(p);
	sigaction(SIGBUS, &old, NULL);
	return ret;
}

static inline int vl_revoke(int fd, __u32 op)
{
	struct vmalock_revoke r = { .size = sizeof(r), .op = op };

	return vl_ioctl(fd, VMALOCK_IOC_REVOKE, &r);
}

/* The counters of struct vmalock_stats as an array, in their order. */
static inline const __u64 *vl_counters(const struct vmalock_stats *s)
{
	return &s->faults_vma;
}

static inline const char *vl_counter_name(int i)
{
	static const char * const names[VL_NR_COUNTERS] = {
		"faults_vma", "faults_mmap", "retries", "map_pages",
		"lookups_vma", "lookups_mmap", "write_marks", "pages_zapped",
		"vma_opens", "vma_closes", "pfn_faults", "pfn_remaps",
		"revokes", "buffers", "buffers_freed", "drops_vma", "drops_mmap",
	};

	return names[i];
}

/* A counter of /proc/vmstat, or -1 if it is missing. */
static inline long long vl_vmstat(const char *name)
{
	char key[64];
	unsigned long long val;
	long long ret = -1;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %llu", key, &val) == 2)
		if (!strcmp(key, name))
			ret = val;
	fclose(f);
	return ret;
}

static inline unsigned long vl_env(const char *name, unsigned long def)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return def;
	v = strtoul(s, &end, 0);
	return *end ? def : v;
}

/*
 * The seed of a run: VMALOCK_SEED if set, else fresh randomness (guests
 * without an RTC boot at the same time with the same pids every run).
 */
static inline __u64 vl_seed(void)
{
	__u64 seed;

	if (getrandom(&seed, sizeof(seed), GRND_INSECURE) != sizeof(seed))
		seed = time(NULL) ^ ((__u64)getpid() << 16);
	return vl_env("VMALOCK_SEED", seed);
}

/* Whether madvise() exists (CONFIG_ADVISE_SYSCALLS): a no-op call succeeds. */
static inline int vl_have_madvise(void)
{
	return !madvise(NULL, 0, MADV_NORMAL);
}

/* splitmix64: seeds a xorshift64* state; never zero. */
static inline __u64 vl_seed_state(__u64 seed)
{
	__u64 z = seed + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return z ? z : 1;
}

static inline __u64 vl_rand(__u64 *state)
{
	__u64 x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [0, n); n > 0. */
static inline unsigned long vl_below(__u64 *state, unsigned long n)
{
	return (vl_rand(state) >> 11) % n;
}

/*
 * The lock the C twin's LOOKUP takes in the default mode. A C module can only
 * take the per-VMA lock itself where lock_vma_under_rcu() is exported to
 * modules, which the kernels this is tested on do from 7.0; the Rust sample
 * takes it everywhere, through the kernel crate.
 */
static inline __u32 vl_c_lookup_lock(void)
{
	return ksft_min_kernel_version(7, 0) ? VMALOCK_LOCK_VMA : VMALOCK_LOCK_MMAP;
}

#endif /* VMALOCK_UTIL_H */
