// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of the vmalock sample devices, /dev/rust-vmalock and its C twin
 * /dev/c-vmalock: mapping, VMA splits and moves, fork, faults under the
 * per-VMA lock and in the forced mmap-lock mode, LOOKUP, ZAP, statistics,
 * privileges, and bad input that must fail with an exact errno and change
 * nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmalock_util.h"
#include "../kselftest_harness.h"

FIXTURE(vmalock) {
	int fd;
	size_t psz;
	size_t npages;
	size_t len;
	char *map;		/* unmapped by the teardown if set */
	size_t maplen;
	__u32 lookup_lock;	/* LOOKUP's lock in the default mode */
};

FIXTURE_VARIANT(vmalock) {
	const char *dev;
	__u32 lookup_lock;	/* LOOKUP's lock in the default mode */
};

FIXTURE_VARIANT_ADD(vmalock, rust) {
	.dev = RUST_DEV,
	.lookup_lock = VMALOCK_LOCK_VMA,
};

FIXTURE_VARIANT_ADD(vmalock, c) {
	.dev = C_DEV,
	.lookup_lock = 0,	/* vl_c_lookup_lock(): depends on the kernel */
};

FIXTURE_SETUP(vmalock)
{
	struct vmalock_info info;

	self->fd = -1;
	self->map = MAP_FAILED;
	self->psz = getpagesize();
	self->lookup_lock = variant->lookup_lock ?: vl_c_lookup_lock();
	if (access(variant->dev, F_OK))
		SKIP(return, "%s missing: module not loaded", variant->dev);
	self->fd = open(variant->dev, O_RDWR);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", variant->dev, strerror(errno));
	ASSERT_EQ(0, vl_info(self->fd, &info));
	if (info.mode != VMALOCK_MODE_DEFAULT)
		SKIP(return, "module loaded with force_mmap=1");
	ASSERT_EQ(VMALOCK_DEFAULT_PAGES, info.npages);
	self->npages = info.npages;
	self->len = self->npages * self->psz;
}

FIXTURE_TEARDOWN(vmalock)
{
	if (self->map != MAP_FAILED)
		munmap(self->map, self->maplen);
	if (self->fd >= 0)
		close(self->fd);
}

#define PG(p, i)	((char *)(p) + (size_t)(i) * self->psz)

#define NO_MADVISE "madvise() missing: CONFIG_ADVISE_SYSCALLS=n"

/* Maps the whole buffer read-write and shared; the teardown unmaps it. */
static char *map_all(struct _test_data_vmalock *self)
{
	self->map = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->fd, 0);
	self->maplen = self->len;
	return self->map;
}

/* Zaps [p, p + len) so that its pages fault again; returns the generation. */
static __u64 zap_range(int fd, char *p, size_t len)
{
	struct vmalock_zap z;

	return vl_zap(fd, (unsigned long)p, len, &z) ? ~0ULL : z.generation;
}

/*
 * Reads the headers of n pages at p, which map buffer pages first..: -1 if
 * all have the right index and generation, else the first bad page.
 */
static long bad_page(char *p, size_t psz, size_t first, size_t n, __u64 gen)
{
	for (size_t i = 0; i < n; i++)
		if (vl_index(p + i * psz) != first + i || vl_gen(p + i * psz) != gen)
			return i;
	return -1;
}

static struct vmalock_stats file_stats(int fd)
{
	struct vmalock_stats s;

	if (vl_stats(fd, VMALOCK_STATS_FILE, &s))
		memset(&s, 0xff, sizeof(s));
	return s;
}

static struct vmalock_stats global_stats(int fd)
{
	struct vmalock_stats s;

	if (vl_stats(fd, VMALOCK_STATS_GLOBAL, &s))
		memset(&s, 0xff, sizeof(s));
	return s;
}

static char *reserve(size_t len)
{
	return mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static int mmap_err(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = mmap(addr, len, prot, flags, fd, off);

	if (p == MAP_FAILED)
		return errno;
	munmap(p, len);
	return 0;
}

static int wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFSIGNALED(status))
		return 1000 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* ---------------------------------------------------------------------- */
/* Function */

TEST_F(vmalock, map_touch_verify)
{
	char *map = map_all(self), *ro;

	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(-1, bad_page(map, self->psz, 0, self->npages, 0));
	for (size_t i = 0; i < self->npages; i++)
		vl_set_data(PG(map, i), 0xda7a0000 + i);
	/* A second mapping of the same file shows the same pages. */
	ro = mmap(NULL, self->len, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, ro);
	EXPECT_EQ(-1, bad_page(ro, self->psz, 0, self->npages, 0));
	for (size_t i = 0; i < self->npages; i++)
		EXPECT_EQ(0xda7a0000 + i, vl_get_data(PG(ro, i)));
	EXPECT_EQ(0, munmap(ro, self->len));
}

TEST_F(vmalock, map_at_offset)
{
	struct vmalock_lookup l;
	char *p;

	p = mmap(NULL, 16 * self->psz, PROT_READ, MAP_SHARED, self->fd,
		 8 * self->psz);
	ASSERT_NE(MAP_FAILED, p);
	self->map = p;
	self->maplen = 16 * self->psz;
	EXPECT_EQ(-1, bad_page(p, self->psz, 8, 16, 0));
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)PG(p, 5), &l));
	EXPECT_EQ(8, l.pgoff);
	EXPECT_EQ((unsigned long)p, l.start);
	EXPECT_EQ((unsigned long)PG(p, 16), l.end);
	/* The last pages of the buffer. */
	p = mmap(NULL, 2 * self->psz, PROT_READ, MAP_SHARED, self->fd,
		 (self->npages - 2) * self->psz);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, bad_page(p, self->psz, self->npages - 2, 2, 0));
	EXPECT_EQ(0, munmap(p, 2 * self->psz));
}

TEST_F(vmalock, partial_munmap)
{
	char *map = map_all(self);
	struct vmalock_lookup l;
	struct vmalock_stats s;

	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(-1, bad_page(map, self->psz, 0, self->npages, 0));
	ASSERT_EQ(0, munmap(PG(map, 10), 10 * self->psz));
	EXPECT_EQ(ENOENT, vl_lookup(self->fd, (unsigned long)PG(map, 15), &l));
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)PG(map, 9), &l));
	EXPECT_EQ((unsigned long)map, l.start);
	EXPECT_EQ((unsigned long)PG(map, 10), l.end);
	EXPECT_EQ(0, l.pgoff);
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)PG(map, 20), &l));
	EXPECT_EQ((unsigned long)PG(map, 20), l.start);
	EXPECT_EQ((unsigned long)PG(map, self->npages), l.end);
	EXPECT_EQ(20, l.pgoff);
	/* The rest is still valid, also after a re-fault. */
	if (vl_have_madvise())
		ASSERT_EQ(0, madvise(map, 10 * self->psz, MADV_DONTNEED));
	EXPECT_EQ(-1, bad_page(map, self->psz, 0, 10, 0));
	EXPECT_EQ(-1, bad_page(PG(map, 20), self->psz, 20, self->npages - 20, 0));
	/* Trim both ends. */
	ASSERT_EQ(0, munmap(map, self->psz));
	ASSERT_EQ(0, munmap(PG(map, self->npages - 1), self->psz));
	EXPECT_EQ(-1, bad_page(PG(map, 1), self->psz, 1, 9, 0));
	EXPECT_EQ(-1, bad_page(PG(map, 20), self->psz, 20, self->npages - 21, 0));
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)PG(map, 1), &l));
	EXPECT_EQ((unsigned long)PG(map, 1), l.start);
	EXPECT_EQ(1, l.pgoff);
	ASSERT_EQ(0, munmap(map, self->len));
	self->map = MAP_FAILED;
	s = file_stats(self->fd);
	/* One mmap: every VMA made by a split was opened, all are closed. */
	EXPECT_EQ(1, s.vma_closes - s.vma_opens);
	EXPECT_LE(1, s.vma_opens);
}

TEST_F(vmalock, mprotect_split)
{
	char *map = map_all(self);
	size_t n = self->npages;
	struct vmalock_lookup l;
	struct vmalock_stats s;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(-1, bad_page(map, self->psz, 0, n, 0));
	ASSERT_EQ(0, mprotect(PG(map, 16), 16 * self->psz, PROT_READ));
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)PG(map, 0), &l));
	EXPECT_EQ((unsigned long)PG(map, 16), l.end);
	EXPECT_TRUE(l.flags & VL_VM_WRITE);
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)PG(map, 20), &l));
	EXPECT_EQ((unsigned long)PG(map, 16), l.start);
	EXPECT_EQ((unsigned long)PG(map, 32), l.end);
	EXPECT_EQ(16, l.pgoff);
	EXPECT_FALSE(l.flags & VL_VM_WRITE);
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)PG(map, 40), &l));
	EXPECT_EQ((unsigned long)PG(map, 32), l.start);
	EXPECT_EQ((unsigned long)PG(map, n), l.end);
	EXPECT_EQ(32, l.pgoff);
	EXPECT_EQ(2, file_stats(self->fd).vma_opens);

	/* All three parts fault correctly. */
	ASSERT_EQ(1, zap_range(self->fd, map, self->len));
	EXPECT_EQ(3, file_stats(self->fd).write_marks);
	EXPECT_EQ(-1, bad_page(map, self->psz, 0, n, 1));
	EXPECT_EQ(2 * n, file_stats(self->fd).faults_vma);
	for (size_t i = 0; i < n; i++)
		if (i < 16 || i >= 32)
			vl_set_data(PG(map, i), 0x5eed + i);
	for (size_t i = 0; i < n; i++)
		EXPECT_EQ(i < 16 || i >= 32 ? 0x5eed + i : 0, vl_get_data(PG(map, i)));

	/* The read-only part refuses writes. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		vl_set_data(PG(map, 20), 1);
		_exit(0);
	}
	EXPECT_EQ(1000 + SIGSEGV, wait_child(pid));
	EXPECT_EQ(0, vl_get_data(PG(map, 20)));

	ASSERT_EQ(0, munmap(map, self->len));
	self->map = MAP_FAILED;
	s = file_stats(self->fd);
	EXPECT_EQ(s.vma_opens + 1, s.vma_closes);
	/* Two splits, then three VMAs copied by fork. */
	EXPECT_EQ(5, s.vma_opens);
}

TEST_F(vmalock, mremap_move)
{
	char *map = map_all(self), *dst, *q, *part;
	size_t n = self->npages;
	struct vmalock_lookup l;
	struct vmalock_stats s;

	ASSERT_NE(MAP_FAILED, map);
	for (size_t i = 0; i < n; i++)
		vl_set_data(PG(map, i), 0xf00d + i);
	dst = reserve(self->len);
	ASSERT_NE(MAP_FAILED, dst);
	q = mremap(map, self->len, self->len, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	ASSERT_EQ(dst, q);
	self->map = q;
	EXPECT_EQ(-1, bad_page(q, self->psz, 0, n, 0));
	for (size_t i = 0; i < n; i++)
		EXPECT_EQ(0xf00d + i, vl_get_data(PG(q, i)));
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)PG(q, 7), &l));
	EXPECT_EQ((unsigned long)q, l.start);
	EXPECT_EQ((unsigned long)PG(q, n), l.end);
	EXPECT_EQ(0, l.pgoff);
	EXPECT_EQ(ENOENT, vl_lookup(self->fd, (unsigned long)map, &l));
	s = file_stats(self->fd);
	EXPECT_EQ(1, s.vma_opens);
	EXPECT_EQ(1, s.vma_closes);

	/* Move a part out of the middle. */
	dst = reserve(4 * self->psz);
	ASSERT_NE(MAP_FAILED, dst);
	part = mremap(PG(q, 8), 4 * self->psz, 4 * self->psz,
		      MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	ASSERT_EQ(dst, part);
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)part, &l));
	EXPECT_EQ((unsigned long)part, l.start);
	EXPECT_EQ((unsigned long)PG(part, 4), l.end);
	EXPECT_EQ(8, l.pgoff);
	EXPECT_EQ(-1, bad_page(part, self->psz, 8, 4, 0));
	EXPECT_EQ(0xf00d + 9, vl_get_data(PG(part, 1)));
	EXPECT_EQ(ENOENT, vl_lookup(self->fd, (unsigned long)PG(q, 9), &l));
	EXPECT_EQ(-1, bad_page(q, self->psz, 0, 8, 0));
	EXPECT_EQ(-1, bad_page(PG(q, 12), self->psz, 12, n - 12, 0));
	EXPECT_EQ(0, munmap(part, 4 * self->psz));
	ASSERT_EQ(0, munmap(q, self->len));
	self->map = MAP_FAILED;
	s = file_stats(self->fd);
	EXPECT_EQ(s.vma_opens + 1, s.vma_closes);
}

/*
 * Two mappings of one file, adjacent in address and in file offset, in each
 * view: the core would merge them if their flags allowed it, but every
 * mapping of the drivers is VM_MIXEDMAP or VM_PFNMAP (VM_SPECIAL) with
 * VM_DONTEXPAND, which never merge, so each stays a VMA of its own, with
 * one reference on the buffer each and no ->open; unmapping closes both.
 */
TEST_F(vmalock, adjacent_maps_never_merge)
{
	static const __u64 views[] = {
		0, VMALOCK_PFN_OFFSET, VMALOCK_PFN_EAGER_OFFSET,
	};
	size_t n = 4, half = n / 2 * self->psz;
	struct vmalock_stats s0, s;
	struct vmalock_lookup l;
	char *p;

	for (size_t v = 0; v < 3; v++) {
		/* Reserve the range, then map both halves into it. */
		p = mmap(NULL, n * self->psz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, p);
		ASSERT_EQ(p, mmap(p, half, PROT_READ, MAP_SHARED | MAP_FIXED, self->fd,
				  views[v]));
		s0 = file_stats(self->fd);
		ASSERT_EQ(p + half, mmap(p + half, half, PROT_READ, MAP_SHARED | MAP_FIXED,
					 self->fd, views[v] + half));
		s = file_stats(self->fd);
		EXPECT_EQ(1, s.buffers) TH_LOG("view %zu", v);
		EXPECT_EQ(s0.vma_opens, s.vma_opens) TH_LOG("view %zu", v);
		ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)p, &l));
		EXPECT_EQ((unsigned long)p + half, l.end) TH_LOG("view %zu merged", v);
		ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)p + half, &l));
		EXPECT_EQ((unsigned long)p + half, l.start) TH_LOG("view %zu merged", v);
		EXPECT_EQ(views[v] / self->psz + n / 2, l.pgoff);
		EXPECT_EQ(-1, bad_page(p, self->psz, 0, n, 0)) TH_LOG("view %zu", v);
		ASSERT_EQ(0, munmap(p, n * self->psz));
		s = file_stats(self->fd);
		EXPECT_EQ(s0.vma_closes + 2, s.vma_closes) TH_LOG("view %zu", v);
		EXPECT_EQ(0, s.buffers_freed);
	}
}

TEST_F(vmalock, mremap_grow_refused)
{
	size_t half = self->len / 2;
	struct vmalock_lookup l;
	char *p;

	p = mmap(NULL, half, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	self->map = p;
	self->maplen = half;
	EXPECT_EQ(MAP_FAILED, mremap(p, half, self->len, 0));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(MAP_FAILED, mremap(p, half, self->len, MREMAP_MAYMOVE));
	EXPECT_EQ(EFAULT, errno);
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)p, &l));
	EXPECT_EQ((unsigned long)p + half, l.end);
	EXPECT_EQ(-1, bad_page(p, self->psz, 0, half / self->psz, 0));
	/* Shrinking is fine. */
	EXPECT_EQ(p, mremap(p, half, half / 2, 0));
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)p, &l));
	EXPECT_EQ((unsigned long)p + half / 2, l.end);
	EXPECT_EQ(ENOENT, vl_lookup(self->fd, (unsigned long)p + half / 2, &l));
}

TEST_F(vmalock, fork_shares_pages)
{
	char *map = map_all(self);
	struct vmalock_stats s0, s;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(-1, bad_page(map, self->psz, 0, self->npages, 0));
	vl_set_data(PG(map, 1), 0xa1);
	s0 = file_stats(self->fd);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct vmalock_lookup l;

		if (bad_page(map, self->psz, 0, self->npages, 0) != -1)
			_exit(1);
		if (vl_get_data(PG(map, 1)) != 0xa1)
			_exit(2);
		vl_set_data(PG(map, 2), 0xc2);
		if (vl_lookup(self->fd, (unsigned long)map, &l) ||
		    l.start != (unsigned long)map)
			_exit(3);
		/* A page the child faults in itself. */
		if (vl_have_madvise() &&
		    (madvise(PG(map, 3), self->psz, MADV_DONTNEED) ||
		     bad_page(PG(map, 3), self->psz, 3, 1, 0) != -1))
			_exit(4);
		_exit(0);
	}
	ASSERT_EQ(0, wait_child(pid));
	EXPECT_EQ(0xc2, vl_get_data(PG(map, 2)));
	s = file_stats(self->fd);
	EXPECT_EQ(s0.vma_opens + 1, s.vma_opens);
	EXPECT_EQ(s0.vma_closes + 1, s.vma_closes);
	ASSERT_EQ(0, munmap(map, self->len));
	self->map = MAP_FAILED;
	s = file_stats(self->fd);
	EXPECT_EQ(s.vma_opens + 1, s.vma_closes);
}

TEST_F(vmalock, close_fd_while_mapped)
{
	int fd2 = dup(self->fd);
	char *map = map_all(self);
	size_t n = self->npages;
	pid_t pid;

	ASSERT_LE(0, fd2);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(-1, bad_page(map, self->psz, 0, n / 2, 0));
	/* The mapping outlives the fd; the dup'ed fd shares its file. */
	ASSERT_EQ(0, close(self->fd));
	self->fd = fd2;
	EXPECT_EQ(-1, bad_page(PG(map, n / 2), self->psz, n / 2, n / 4, 0));
	EXPECT_EQ(n / 2 + n / 4, file_stats(fd2).faults_vma);
	/* No fd at all: the mapping keeps the file and the buffer alive. */
	ASSERT_EQ(0, close(fd2));
	self->fd = -1;
	EXPECT_EQ(-1, bad_page(PG(map, 3 * n / 4), self->psz, 3 * n / 4, n - 3 * n / 4, 0));
	if (vl_have_madvise())
		ASSERT_EQ(0, madvise(map, self->len, MADV_DONTNEED));
	EXPECT_EQ(-1, bad_page(map, self->psz, 0, n, 0));
	for (size_t i = 0; i < n; i++)
		vl_set_data(PG(map, i), 0xc105e + i);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		for (size_t i = 0; i < n; i++)
			if (vl_get_data(PG(map, i)) != 0xc105e + i)
				_exit(1);
		_exit(bad_page(map, self->psz, 0, n, 0) == -1 ? 0 : 2);
	}
	EXPECT_EQ(0, wait_child(pid));
	for (size_t i = 0; i < n; i++)
		EXPECT_EQ(0xc105e + i, vl_get_data(PG(map, i)));
}

/*
 * Pages a read fault maps around the faulting one (fault_around_bytes in
 * debugfs, 64K unless changed). The core only calls ->map_pages when that is
 * more than one page: never with 64K pages.
 */
static size_t fault_around_pages(size_t psz)
{
	unsigned long bytes = 65536;
	FILE *f = fopen("/sys/kernel/debug/fault_around_bytes", "r");

	if (f) {
		if (fscanf(f, "%lu", &bytes) != 1)
			bytes = 65536;
		fclose(f);
	}
	return bytes / psz;
}

TEST_F(vmalock, faults_under_vma_lock)
{
	long long success = vl_vmstat("vma_lock_success");
	struct vmalock_stats s;
	char *map;

	map = map_all(self);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(-1, bad_page(map, self->psz, 0, self->npages, 0));
	s = file_stats(self->fd);
	EXPECT_EQ(self->npages, s.faults_vma);
	EXPECT_EQ(0, s.faults_mmap);
	EXPECT_EQ(0, s.retries);
	/*
	 * What lets ->fault run under the VMA lock is that the operations have
	 * ->map_pages, not that it is called.
	 */
	EXPECT_EQ(fault_around_pages(self->psz) > 1, s.map_pages > 0);
	if (success < 0)
		SKIP(return, "no vma_lock_success in /proc/vmstat");
	EXPECT_LE(success + (long long)self->npages, vl_vmstat("vma_lock_success"));
}

TEST_F(vmalock, forced_mmap_lock_mode)
{
	long long retry = vl_vmstat("vma_lock_retry");
	struct vmalock_info info;
	struct vmalock_lookup l;
	struct vmalock_stats s;
	size_t n = self->npages;
	char *map;

	ASSERT_EQ(0, vl_set_mode(self->fd, VMALOCK_MODE_FORCE_MMAP));
	ASSERT_EQ(0, vl_info(self->fd, &info));
	EXPECT_EQ(VMALOCK_MODE_FORCE_MMAP, info.mode);
	map = map_all(self);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(-1, bad_page(map, self->psz, 0, n, 0));
	s = file_stats(self->fd);
	EXPECT_EQ(0, s.faults_vma);
	EXPECT_EQ(n, s.faults_mmap);
	EXPECT_EQ(n, s.retries);
	if (retry >= 0)
		EXPECT_LE(retry + (long long)n, vl_vmstat("vma_lock_retry"));
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)map, &l));
	EXPECT_EQ(VMALOCK_LOCK_MMAP, l.lock);
	s = file_stats(self->fd);
	EXPECT_EQ(1, s.lookups_mmap);
	EXPECT_EQ(0, s.lookups_vma);

	/* Back to the default mode. */
	ASSERT_EQ(0, vl_set_mode(self->fd, VMALOCK_MODE_DEFAULT));
	ASSERT_EQ(0, vl_info(self->fd, &info));
	EXPECT_EQ(VMALOCK_MODE_DEFAULT, info.mode);
	ASSERT_EQ(1, zap_range(self->fd, map, self->len));
	ASSERT_EQ(-1, bad_page(map, self->psz, 0, n, 1));
	s = file_stats(self->fd);
	EXPECT_EQ(n, s.faults_vma);
	EXPECT_EQ(n, s.faults_mmap);
	EXPECT_EQ(n, s.retries);
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)map, &l));
	EXPECT_EQ(self->lookup_lock, l.lock);
}

TEST_F(vmalock, lookup)
{
	__u64 want = VL_VM_READ | VL_VM_WRITE | VL_VM_SHARED |
		     VL_VM_MIXEDMAP | VL_VM_DONTEXPAND;
	struct vmalock_lookup l;
	struct vmalock_stats s;
	char *map = map_all(self), *ro;

	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)PG(map, 3) + 5, &l));
	EXPECT_EQ(self->lookup_lock, l.lock);
	EXPECT_EQ((unsigned long)map, l.start);
	EXPECT_EQ((unsigned long)PG(map, self->npages), l.end);
	EXPECT_EQ(0, l.pgoff);
	EXPECT_EQ(want, l.flags & want);
	EXPECT_EQ(sizeof(l), l.size);
	EXPECT_EQ((unsigned long)PG(map, 3) + 5, l.addr);
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)PG(map, self->npages) - 1, &l));
	EXPECT_EQ((unsigned long)map, l.start);
	s = file_stats(self->fd);
	EXPECT_EQ(self->lookup_lock == VMALOCK_LOCK_VMA ? 2 : 0, s.lookups_vma);
	EXPECT_EQ(self->lookup_lock == VMALOCK_LOCK_MMAP ? 2 : 0, s.lookups_mmap);

	/* A read-only shared mapping at an offset. */
	ro = mmap(NULL, 4 * self->psz, PROT_READ, MAP_SHARED, self->fd,
		  5 * self->psz);
	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)ro, &l));
	EXPECT_EQ((unsigned long)ro, l.start);
	EXPECT_EQ((unsigned long)PG(ro, 4), l.end);
	EXPECT_EQ(5, l.pgoff);
	EXPECT_FALSE(l.flags & VL_VM_WRITE);
	EXPECT_TRUE(l.flags & VL_VM_MAYWRITE);
	EXPECT_TRUE(l.flags & VL_VM_SHARED);
	EXPECT_EQ(0, munmap(ro, 4 * self->psz));
	EXPECT_EQ(ENOENT, vl_lookup(self->fd, (unsigned long)ro, &l));
}

TEST_F(vmalock, zap)
{
	char *map = map_all(self), *alias;
	size_t n = self->npages;
	struct vmalock_info info;
	struct vmalock_stats s0, s;
	struct vmalock_zap z;

	ASSERT_NE(MAP_FAILED, map);
	for (size_t i = 0; i < n; i++)
		vl_set_data(PG(map, i), 0x2a900 + i);
	ASSERT_EQ(-1, bad_page(map, self->psz, 0, n, 0));
	s0 = file_stats(self->fd);
	ASSERT_EQ(0, vl_zap(self->fd, (unsigned long)PG(map, 8), 16 * self->psz, &z));
	EXPECT_EQ(1, z.generation);
	EXPECT_EQ(1, z.vmas);
	ASSERT_EQ(0, vl_info(self->fd, &info));
	EXPECT_EQ(1, info.generation);
	s = file_stats(self->fd);
	EXPECT_EQ(1, s.write_marks);
	EXPECT_EQ(16, s.pages_zapped);
	EXPECT_EQ(s0.faults_vma, s.faults_vma);
	/* Only the zapped pages re-fault and show the new generation. */
	EXPECT_EQ(-1, bad_page(map, self->psz, 0, 8, 0));
	EXPECT_EQ(-1, bad_page(PG(map, 8), self->psz, 8, 16, 1));
	EXPECT_EQ(-1, bad_page(PG(map, 24), self->psz, 24, n - 24, 0));
	EXPECT_EQ(s0.faults_vma + 16, file_stats(self->fd).faults_vma);
	for (size_t i = 0; i < n; i++)
		EXPECT_EQ(0x2a900 + i, vl_get_data(PG(map, i)));

	/* Three VMAs after a split: each is write-marked. */
	ASSERT_EQ(0, mprotect(PG(map, 32), 8 * self->psz, PROT_READ));
	ASSERT_EQ(0, vl_zap(self->fd, (unsigned long)map, self->len, &z));
	EXPECT_EQ(2, z.generation);
	EXPECT_EQ(3, z.vmas);
	EXPECT_EQ(-1, bad_page(map, self->psz, 0, n, 2));
	s = file_stats(self->fd);
	EXPECT_EQ(4, s.write_marks);
	EXPECT_EQ(16 + n, s.pages_zapped);

	/* Another mapping of the same pages: its ZAP rewrites them for all. */
	alias = mmap(NULL, 4 * self->psz, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, alias);
	ASSERT_EQ(0, vl_zap(self->fd, (unsigned long)alias, 4 * self->psz, &z));
	EXPECT_EQ(3, z.generation);
	EXPECT_EQ(1, z.vmas);
	EXPECT_EQ(-1, bad_page(map, self->psz, 0, 4, 3));
	EXPECT_EQ(-1, bad_page(PG(map, 4), self->psz, 4, n - 4, 2));
	EXPECT_EQ(-1, bad_page(alias, self->psz, 0, 4, 3));
	EXPECT_EQ(0, munmap(alias, 4 * self->psz));

	/* A range that starts in a hole. */
	ASSERT_EQ(0, munmap(map, 2 * self->psz));
	ASSERT_EQ(0, vl_zap(self->fd, (unsigned long)map, 4 * self->psz, &z));
	EXPECT_EQ(4, z.generation);
	EXPECT_EQ(1, z.vmas);
	EXPECT_EQ(-1, bad_page(PG(map, 2), self->psz, 2, 2, 4));
	EXPECT_EQ(-1, bad_page(PG(map, 4), self->psz, 4, n - 4, 2));
	s = file_stats(self->fd);
	EXPECT_EQ(6, s.write_marks);
	EXPECT_EQ(16 + n + 4 + 2, s.pages_zapped);
}

/*
 * DROP zaps the caller's pages of one VMA under that VMA's lock (the mmap
 * lock where the per-VMA lock cannot be taken, as LOOKUP): the pages fault
 * back in with their contents, nothing else changes.
 */
TEST_F(vmalock, drop)
{
	char *map = map_all(self), *alias;
	size_t n = self->npages;
	struct vmalock_info info;
	struct vmalock_stats s0, s;
	__u32 lock = 0;

	ASSERT_NE(MAP_FAILED, map);
	for (size_t i = 0; i < n; i++)
		vl_set_data(PG(map, i), 0xd7090 + i);
	ASSERT_EQ(-1, bad_page(map, self->psz, 0, n, 0));
	s0 = file_stats(self->fd);
	ASSERT_EQ(0, vl_drop(self->fd, (unsigned long)PG(map, 8), 16 * self->psz, &lock));
	EXPECT_EQ(self->lookup_lock, lock);
	ASSERT_EQ(0, vl_info(self->fd, &info));
	EXPECT_EQ(0, info.generation);
	s = file_stats(self->fd);
	EXPECT_EQ(s0.write_marks, s.write_marks);
	EXPECT_EQ(s0.pages_zapped, s.pages_zapped);
	EXPECT_EQ(s0.faults_vma, s.faults_vma);
	/* Only the dropped pages fault again, with what was written to them. */
	EXPECT_EQ(-1, bad_page(map, self->psz, 0, 8, 0));
	EXPECT_EQ(-1, bad_page(PG(map, 24), self->psz, 24, n - 24, 0));
	EXPECT_EQ(s0.faults_vma, file_stats(self->fd).faults_vma);
	EXPECT_EQ(-1, bad_page(PG(map, 8), self->psz, 8, 16, 0));
	EXPECT_EQ(s0.faults_vma + 16, file_stats(self->fd).faults_vma);
	for (size_t i = 0; i < n; i++)
		EXPECT_EQ(0xd7090 + i, vl_get_data(PG(map, i)));

	/* The forced mode takes the mmap lock, as for faults and LOOKUP. */
	ASSERT_EQ(0, vl_set_mode(self->fd, VMALOCK_MODE_FORCE_MMAP));
	ASSERT_EQ(0, vl_drop(self->fd, (unsigned long)map, self->psz, &lock));
	EXPECT_EQ(VMALOCK_LOCK_MMAP, lock);
	ASSERT_EQ(0, vl_set_mode(self->fd, VMALOCK_MODE_DEFAULT));
	EXPECT_EQ(-1, bad_page(map, self->psz, 0, 1, 0));

	/* One VMA per call: a range across a split is refused, not cut. */
	ASSERT_EQ(0, mprotect(PG(map, 32), 8 * self->psz, PROT_READ));
	s0 = file_stats(self->fd);
	EXPECT_EQ(EINVAL, vl_drop(self->fd, (unsigned long)PG(map, 30), 4 * self->psz, NULL));
	EXPECT_EQ(-1, bad_page(PG(map, 30), self->psz, 30, 4, 0));
	EXPECT_EQ(s0.faults_vma, file_stats(self->fd).faults_vma);
	ASSERT_EQ(0, vl_drop(self->fd, (unsigned long)PG(map, 32), 8 * self->psz, NULL));
	EXPECT_EQ(-1, bad_page(PG(map, 30), self->psz, 30, 12, 0));
	EXPECT_EQ(s0.faults_vma + 8, file_stats(self->fd).faults_vma);

	/* Another mapping of the same pages keeps its entries. */
	alias = mmap(NULL, 4 * self->psz, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, alias);
	EXPECT_EQ(-1, bad_page(alias, self->psz, 0, 4, 0));
	s0 = file_stats(self->fd);
	ASSERT_EQ(0, vl_drop(self->fd, (unsigned long)map, 4 * self->psz, NULL));
	EXPECT_EQ(-1, bad_page(alias, self->psz, 0, 4, 0));
	EXPECT_EQ(s0.faults_vma, file_stats(self->fd).faults_vma);
	EXPECT_EQ(-1, bad_page(map, self->psz, 0, 4, 0));
	EXPECT_EQ(s0.faults_vma + 4, file_stats(self->fd).faults_vma);
	EXPECT_EQ(0, munmap(alias, 4 * self->psz));

	/* Once unmapped, there is nothing to drop: the VMA at addr decides. */
	ASSERT_EQ(0, munmap(map, 2 * self->psz));
	EXPECT_EQ(ENOENT, vl_drop(self->fd, (unsigned long)map, self->psz, NULL));
	EXPECT_EQ(ENOENT, vl_drop(self->fd, (unsigned long)PG(map, 1), 2 * self->psz, NULL));
}

TEST_F(vmalock, files_are_independent)
{
	char *a = map_all(self), *b;
	struct vmalock_info info;
	struct vmalock_lookup l;
	struct vmalock_stats s;
	struct vmalock_zap z;
	int fd2;

	ASSERT_NE(MAP_FAILED, a);
	fd2 = open(variant->dev, O_RDWR);
	ASSERT_LE(0, fd2);
	b = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
	ASSERT_NE(MAP_FAILED, b);
	vl_set_data(a, 0xaaaa);
	EXPECT_EQ(0, vl_get_data(b));
	ASSERT_EQ(0, vl_zap(self->fd, (unsigned long)a, self->len, &z));
	EXPECT_EQ(1, z.generation);
	ASSERT_EQ(0, vl_info(fd2, &info));
	EXPECT_EQ(0, info.generation);
	EXPECT_EQ(-1, bad_page(b, self->psz, 0, self->npages, 0));
	EXPECT_EQ(-1, bad_page(a, self->psz, 0, self->npages, 1));
	s = file_stats(fd2);
	EXPECT_EQ(self->npages, s.faults_vma);
	EXPECT_EQ(0, s.write_marks);
	/* One file's mappings are foreign to the other. */
	EXPECT_EQ(EINVAL, vl_lookup(fd2, (unsigned long)a, &l));
	EXPECT_EQ(EINVAL, vl_zap(fd2, (unsigned long)a, self->len, &z));
	EXPECT_EQ(0, munmap(b, self->len));
	EXPECT_EQ(0, close(fd2));
}

TEST_F(vmalock, set_size)
{
	struct vmalock_info info;
	char *p;
	int fd2;

	ASSERT_EQ(0, vl_set_size(self->fd, 3));
	ASSERT_EQ(0, vl_set_size(self->fd, 5));
	ASSERT_EQ(0, vl_info(self->fd, &info));
	EXPECT_EQ(5, info.npages);
	EXPECT_LE(VMALOCK_DEFAULT_PAGES, info.max_pages);
	p = mmap(NULL, 6 * self->psz, PROT_READ, MAP_SHARED, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, 5 * self->psz, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	self->map = p;
	self->maplen = 5 * self->psz;
	EXPECT_EQ(-1, bad_page(p, self->psz, 0, 5, 0));
	EXPECT_EQ(EBUSY, vl_set_size(self->fd, 5));
	EXPECT_EQ(EBUSY, vl_set_size(self->fd, 2));
	ASSERT_EQ(0, vl_info(self->fd, &info));
	EXPECT_EQ(5, info.npages);
	/* The bounds, on a file without a buffer. */
	fd2 = open(variant->dev, O_RDWR);
	ASSERT_LE(0, fd2);
	EXPECT_EQ(0, vl_set_size(fd2, info.max_pages));
	EXPECT_EQ(EINVAL, vl_set_size(fd2, info.max_pages + 1));
	EXPECT_EQ(0, vl_set_size(fd2, 1));
	p = mmap(NULL, self->psz, PROT_READ, MAP_SHARED, fd2, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, bad_page(p, self->psz, 0, 1, 0));
	EXPECT_EQ(0, munmap(p, self->psz));
	EXPECT_EQ(0, close(fd2));
}

TEST_F(vmalock, failed_mmap_keeps_size_settable)
{
	struct vmalock_info info;
	char *p;

	/* Nothing changes on error: no buffer yet, so the size can change. */
	p = mmap(NULL, self->psz, PROT_READ | PROT_WRITE, MAP_PRIVATE, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(0, vl_set_size(self->fd, 8));
	p = mmap(NULL, 9 * self->psz, PROT_READ, MAP_SHARED, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(0, vl_set_size(self->fd, 4));
	ASSERT_EQ(0, vl_info(self->fd, &info));
	EXPECT_EQ(4, info.npages);
}

/*
 * A failed mmap must not keep the buffer alive: the drivers install their VMA
 * operations, taking a reference, before the revoked check fails the mmap.
 * Every buffer is freed once its file and mappings are gone.
 */
TEST_F(vmalock, failed_mmap_frees_buffer)
{
	struct vmalock_stats g0, g1;
	char *p;
	int fd;

	g0 = global_stats(self->fd);
	fd = open(variant->dev, O_RDWR);
	ASSERT_LE(0, fd);
	p = mmap(NULL, self->psz, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, munmap(p, self->psz));
	ASSERT_EQ(0, vl_revoke(fd, VMALOCK_REVOKE_REVOKE));
	EXPECT_EQ(ENODEV, mmap_err(NULL, self->psz, PROT_READ, MAP_SHARED, fd,
				   VMALOCK_PFN_OFFSET));
	EXPECT_EQ(1, file_stats(fd).vma_closes);	/* the munmap, not the failed mmap */
	EXPECT_EQ(0, close(fd));
	g1 = global_stats(self->fd);
	EXPECT_EQ(1, g1.buffers - g0.buffers);
	EXPECT_EQ(1, g1.buffers_freed - g0.buffers_freed);
}

/*
 * A failed mmap must remove its page table entries before it frees what they
 * map: until the core's own error path runs, another thread could reach the
 * freed pages through them without a fault. In VMALOCK_MODE_FAIL_EAGER the
 * drivers map a buffer only the new VMA holds, then fail; as it is freed the
 * buffer counts the pages the failed mapping's addresses still reach.
 */
TEST_F(vmalock, failed_mmap_unmaps_before_free)
{
	struct vmalock_stats g0, g1;
	struct vmalock_info info;

	g0 = global_stats(self->fd);
	ASSERT_EQ(0, vl_set_mode(self->fd, VMALOCK_MODE_FAIL_EAGER));
	ASSERT_EQ(0, vl_info(self->fd, &info));
	EXPECT_EQ(VMALOCK_MODE_FAIL_EAGER, info.mode);
	EXPECT_EQ(ECANCELED, mmap_err(NULL, 4 * self->psz, PROT_READ, MAP_SHARED,
				      self->fd, VMALOCK_PFN_EAGER_OFFSET));
	g1 = global_stats(self->fd);
	EXPECT_EQ(1, g1.buffers - g0.buffers);
	EXPECT_EQ(1, g1.buffers_freed - g0.buffers_freed);
	EXPECT_EQ(0, g1.stale_entries - g0.stale_entries);
	EXPECT_EQ(0, file_stats(self->fd).vma_closes);
	/* The other views, and the default mode, are not affected. */
	ASSERT_EQ(0, vl_set_mode(self->fd, VMALOCK_MODE_DEFAULT));
	EXPECT_EQ(0, mmap_err(NULL, 4 * self->psz, PROT_READ, MAP_SHARED,
			      self->fd, VMALOCK_PFN_EAGER_OFFSET));
}

TEST_F(vmalock, global_stats)
{
	struct vmalock_stats g0, g1, f, f2;
	struct vmalock_lookup l;
	struct vmalock_zap z;
	char *map, *b;
	int fd2;

	g0 = global_stats(self->fd);
	map = map_all(self);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(-1, bad_page(map, self->psz, 0, self->npages, 0));
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)map, &l));
	ASSERT_EQ(0, vl_zap(self->fd, (unsigned long)map, self->len, &z));
	ASSERT_EQ(0, mprotect(map, self->psz, PROT_READ));
	fd2 = open(variant->dev, O_RDWR);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, vl_set_mode(fd2, VMALOCK_MODE_FORCE_MMAP));
	b = mmap(NULL, self->len, PROT_READ, MAP_SHARED, fd2, 0);
	ASSERT_NE(MAP_FAILED, b);
	ASSERT_EQ(-1, bad_page(b, self->psz, 0, self->npages, 0));
	f = file_stats(self->fd);
	f2 = file_stats(fd2);
	g1 = global_stats(fd2);
	for (int i = 0; i < VL_NR_COUNTERS; i++) {
		EXPECT_LE(vl_counters(&g0)[i] + vl_counters(&f)[i] + vl_counters(&f2)[i],
			  vl_counters(&g1)[i])
			TH_LOG("global %s", vl_counter_name(i));
	}
	EXPECT_LE(1, f2.faults_mmap);
	EXPECT_EQ(0, munmap(b, self->len));
	EXPECT_EQ(0, close(fd2));
}

TEST_F(vmalock, reset_stats)
{
	struct vmalock_stats s, s2, g;
	char *map = map_all(self), *b;
	int fd2;

	ASSERT_NE(MAP_FAILED, map);
	fd2 = open(variant->dev, O_RDWR);
	ASSERT_LE(0, fd2);
	b = mmap(NULL, self->len, PROT_READ, MAP_SHARED, fd2, 0);
	ASSERT_NE(MAP_FAILED, b);
	ASSERT_EQ(-1, bad_page(map, self->psz, 0, self->npages, 0));
	ASSERT_EQ(-1, bad_page(b, self->psz, 0, self->npages, 0));

	/* File scope: only this file's counters. */
	ASSERT_EQ(0, vl_reset(self->fd, VMALOCK_STATS_FILE));
	s = file_stats(self->fd);
	for (int i = 0; i < VL_NR_COUNTERS; i++) {
		EXPECT_EQ(0, vl_counters(&s)[i])
			TH_LOG("%s", vl_counter_name(i));
	}
	s2 = file_stats(fd2);
	EXPECT_EQ(self->npages, s2.faults_vma);
	g = global_stats(self->fd);
	EXPECT_LE(2 * self->npages, g.faults_vma);

	/* Global scope: the files keep theirs. */
	ASSERT_EQ(0, vl_reset(fd2, VMALOCK_STATS_GLOBAL));
	g = global_stats(self->fd);
	for (int i = 0; i < VL_NR_COUNTERS; i++) {
		EXPECT_EQ(0, vl_counters(&g)[i])
			TH_LOG("global %s", vl_counter_name(i));
	}
	EXPECT_EQ(self->npages, file_stats(fd2).faults_vma);
	ASSERT_EQ(1, zap_range(self->fd, map, self->len));
	ASSERT_EQ(-1, bad_page(map, self->psz, 0, self->npages, 1));
	EXPECT_EQ(self->npages, file_stats(self->fd).faults_vma);
	EXPECT_LE(self->npages, global_stats(self->fd).faults_vma);
	EXPECT_EQ(0, munmap(b, self->len));
	EXPECT_EQ(0, close(fd2));
}

TEST_F(vmalock, private_read_only)
{
	struct vmalock_lookup l;
	struct vmalock_zap z;
	char *p;

	p = mmap(NULL, self->len, PROT_READ, MAP_PRIVATE, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	self->map = p;
	self->maplen = self->len;
	EXPECT_EQ(-1, bad_page(p, self->psz, 0, self->npages, 0));
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)p, &l));
	EXPECT_FALSE(l.flags & (VL_VM_SHARED | VL_VM_MAYWRITE | VL_VM_WRITE));
	EXPECT_EQ(-1, mprotect(p, self->psz, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	/* It maps this file: ZAP covers it. */
	ASSERT_EQ(0, vl_zap(self->fd, (unsigned long)p, self->len, &z));
	EXPECT_EQ(1, z.vmas);
	EXPECT_EQ(-1, bad_page(p, self->psz, 0, self->npages, 1));
}

/* ---------------------------------------------------------------------- */
/* Privileges */

TEST_F(vmalock, node_mode)
{
	struct stat st;

	ASSERT_EQ(0, stat(variant->dev, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0600, st.st_mode & 07777);
	EXPECT_EQ(0, st.st_uid);
}

TEST_F(vmalock, unprivileged_open_refused)
{
	pid_t pid;

	if (geteuid())
		SKIP(return, "needs root to drop privileges");
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct vmalock_info info;
		char *p;

		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(10);
		if (open(variant->dev, O_RDWR) >= 0 || errno != EACCES)
			_exit(1);
		if (open(variant->dev, O_RDONLY) >= 0 || errno != EACCES)
			_exit(2);
		/* An fd opened before keeps working. */
		if (vl_info(self->fd, &info))
			_exit(3);
		p = mmap(NULL, self->psz, PROT_READ, MAP_SHARED, self->fd, 0);
		if (p == MAP_FAILED || bad_page(p, self->psz, 0, 1, 0) != -1)
			_exit(4);
		_exit(0);
	}
	EXPECT_EQ(0, wait_child(pid));
}

static int send_fd(int sock, int fd, unsigned long addr)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &addr, .iov_len = sizeof(addr) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == sizeof(addr) ? 0 : -1;
}

static int recv_fd(int sock, unsigned long *addr)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = addr, .iov_len = sizeof(*addr) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c;
	int fd;

	if (recvmsg(sock, &msg, 0) != sizeof(*addr))
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* The receiving process: returns 0 or the failed step. */
static int scm_receiver(int sock, size_t len, size_t psz, __u32 lookup_lock)
{
	struct vmalock_lookup l;
	struct vmalock_zap z;
	unsigned long a;
	char *anon, *q;
	int fd, r;

	fd = recv_fd(sock, &a);
	if (fd < 0)
		return 1;
	/* The sender's address is not mapped here. */
	r = vl_lookup(fd, a, &l);
	if (r != ENOENT && r != EINVAL)
		return 2;
	/* Something else mapped there is not this file. */
	anon = mmap((void *)a, psz, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
		    MAP_FIXED_NOREPLACE, -1, 0);
	if (anon == MAP_FAILED)
		return 3;
	if (vl_lookup(fd, a, &l) != EINVAL)
		return 4;
	if (vl_zap(fd, a, psz, &z) != EINVAL)
		return 5;
	if (munmap(anon, psz))
		return 6;
	/* Its own mapping of the file. */
	q = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (q == MAP_FAILED)
		return 7;
	if (vl_lookup(fd, (unsigned long)q + psz, &l) ||
	    l.start != (unsigned long)q || l.end != (unsigned long)q + len ||
	    l.lock != lookup_lock)
		return 8;
	if (bad_page(q, psz, 0, len / psz, 0) != -1)
		return 9;
	/* ZAP reaches the receiver's VMA only, and the shared pages. */
	if (vl_zap(fd, (unsigned long)q, len, &z) || z.vmas != 1 ||
	    z.generation != 1)
		return 10;
	if (bad_page(q, psz, 0, len / psz, 1) != -1)
		return 11;
	return 0;
}

TEST_F(vmalock, scm_rights_lookup)
{
	struct vmalock_lookup l;
	struct vmalock_stats s;
	int sv[2], fd;
	pid_t pid;
	char *p;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		SKIP(return, "no AF_UNIX sockets (CONFIG_UNIX=n?): %s", strerror(errno));
	/* The receiver is forked before the file is opened or mapped. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(sv[0]);
		close(self->fd);
		_exit(scm_receiver(sv[1], self->len, self->psz, self->lookup_lock));
	}
	close(sv[1]);
	fd = open(variant->dev, O_RDWR);
	ASSERT_LE(0, fd);
	p = mmap(NULL, self->len, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(-1, bad_page(p, self->psz, 0, self->npages, 0));
	ASSERT_EQ(0, send_fd(sv[0], fd, (unsigned long)p));
	EXPECT_EQ(0, wait_child(pid)) TH_LOG("receiver failed; see the step");
	/* The receiver's ZAP rewrote the pages the sender maps. */
	EXPECT_EQ(-1, bad_page(p, self->psz, 0, self->npages, 1));
	ASSERT_EQ(0, vl_lookup(fd, (unsigned long)p, &l));
	EXPECT_EQ((unsigned long)p, l.start);
	s = file_stats(fd);
	EXPECT_EQ(1, s.write_marks);
	EXPECT_EQ(0, munmap(p, self->len));
	close(sv[0]);
	close(fd);
}

/* ---------------------------------------------------------------------- */
/* The PFN views: the same pages mapped with VM_PFNMAP. */

/* Maps n pages of a view from buffer page first on; MAP_FAILED on error. */
static char *map_view(struct _test_data_vmalock *self, __u64 view, size_t first,
		      size_t n, int prot, int flags)
{
	return mmap(NULL, n * self->psz, prot, flags, self->fd,
		    view + first * self->psz);
}

TEST_F(vmalock, pfn_view_contents)
{
	char *map = map_all(self), *pfn, *ro;
	size_t n = self->npages;
	struct vmalock_stats s0, s;
	struct vmalock_lookup l;

	ASSERT_NE(MAP_FAILED, map);
	for (size_t i = 0; i < n; i++)
		vl_set_data(PG(map, i), 0x9f0000 + i);
	s0 = file_stats(self->fd);
	pfn = map_view(self, VMALOCK_PFN_OFFSET, 0, n, PROT_READ | PROT_WRITE,
		       MAP_SHARED);
	ASSERT_NE(MAP_FAILED, pfn);
	EXPECT_EQ(-1, bad_page(pfn, self->psz, 0, n, 0));
	for (size_t i = 0; i < n; i++) {
		EXPECT_EQ(0x9f0000 + i, vl_get_data(PG(pfn, i)));
		vl_set_data(PG(pfn, i), 0x9e0000 + i);
	}
	/* One fault per page, under the per-VMA lock; writes do not fault again. */
	s = file_stats(self->fd);
	EXPECT_EQ(s0.pfn_faults + n, s.pfn_faults);
	EXPECT_EQ(s0.faults_vma + n, s.faults_vma);
	EXPECT_EQ(s0.faults_mmap, s.faults_mmap);
	EXPECT_EQ(s0.pfn_remaps, s.pfn_remaps);
	for (size_t i = 0; i < n; i++)
		EXPECT_EQ(0x9e0000 + i, vl_get_data(PG(map, i)));
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)PG(pfn, 3), &l));
	EXPECT_EQ(VMALOCK_PFN_OFFSET / self->psz, l.pgoff);
	EXPECT_EQ(VL_VM_PFNMAP | VL_VM_IO | VL_VM_DONTEXPAND | VL_VM_DONTDUMP,
		  l.flags & (VL_VM_PFNMAP | VL_VM_IO | VL_VM_DONTEXPAND |
			     VL_VM_DONTDUMP | VL_VM_MIXEDMAP));
	/* A read-only private mapping of a part of it. */
	ro = map_view(self, VMALOCK_PFN_OFFSET, 5, 3, PROT_READ, MAP_PRIVATE);
	ASSERT_NE(MAP_FAILED, ro);
	EXPECT_EQ(-1, bad_page(ro, self->psz, 5, 3, 0));
	EXPECT_EQ(0x9e0000 + 6, vl_get_data(PG(ro, 1)));
	EXPECT_EQ(0, munmap(ro, 3 * self->psz));
	EXPECT_EQ(0, munmap(pfn, self->len));
	/* map is still mapped; pfn and ro are closed. */
	s = file_stats(self->fd);
	EXPECT_EQ(s.vma_opens + 2, s.vma_closes);
}

/* DROP on the PFN view: the page frames fault back in. */
TEST_F(vmalock, pfn_view_drop)
{
	char *map = map_all(self), *pfn;
	struct vmalock_stats s0;
	__u32 lock = 0;

	ASSERT_NE(MAP_FAILED, map);
	for (size_t i = 0; i < 4; i++)
		vl_set_data(PG(map, i), 0xd7f00 + i);
	pfn = map_view(self, VMALOCK_PFN_OFFSET, 0, 4, PROT_READ, MAP_SHARED);
	ASSERT_NE(MAP_FAILED, pfn);
	EXPECT_EQ(-1, bad_page(pfn, self->psz, 0, 4, 0));
	s0 = file_stats(self->fd);
	ASSERT_EQ(0, vl_drop(self->fd, (unsigned long)PG(pfn, 1), 2 * self->psz, &lock));
	EXPECT_EQ(self->lookup_lock, lock);
	EXPECT_EQ(-1, bad_page(pfn, self->psz, 0, 4, 0));
	for (size_t i = 0; i < 4; i++)
		EXPECT_EQ(0xd7f00 + i, vl_get_data(PG(pfn, i)));
	EXPECT_EQ(s0.faults_vma + 2, file_stats(self->fd).faults_vma);
	EXPECT_EQ(0, munmap(pfn, 4 * self->psz));
}

TEST_F(vmalock, pfn_eager)
{
	size_t n = self->npages;
	struct vmalock_stats s0, s;
	__u64 gen;
	char *p;

	s0 = file_stats(self->fd);
	p = map_view(self, VMALOCK_PFN_EAGER_OFFSET, 0, n, PROT_READ | PROT_WRITE,
		     MAP_SHARED);
	ASSERT_NE(MAP_FAILED, p);
	self->map = p;
	self->maplen = self->len;
	s = file_stats(self->fd);
	EXPECT_EQ(s0.pfn_remaps + n, s.pfn_remaps);
	/* Mapped at mmap time: reading and writing fault nothing in. */
	EXPECT_EQ(-1, bad_page(p, self->psz, 0, n, 0));
	for (size_t i = 0; i < n; i++)
		vl_set_data(PG(p, i), 0xea0000 + i);
	s = file_stats(self->fd);
	EXPECT_EQ(s0.pfn_faults, s.pfn_faults);
	EXPECT_EQ(s0.faults_vma, s.faults_vma);
	/*
	 * DROP of part of the view, remapped page by page (no PAT tracking of
	 * the whole VMA): the pages fault back in.
	 */
	EXPECT_EQ(0, vl_drop(self->fd, (unsigned long)PG(p, 4), 2 * self->psz, NULL));
	EXPECT_EQ(-1, bad_page(p, self->psz, 0, n, 0));
	EXPECT_EQ(0xea0000 + 5, vl_get_data(PG(p, 5)));
	s = file_stats(self->fd);
	EXPECT_EQ(s0.drops_vma + s0.drops_mmap + 1, s.drops_vma + s.drops_mmap);
	EXPECT_EQ(s0.pfn_faults + 2, s.pfn_faults);
	/* After a ZAP, the zapped pages fault back in. */
	gen = zap_range(self->fd, PG(p, 4), 6 * self->psz);
	ASSERT_EQ(1, gen);
	EXPECT_EQ(-1, bad_page(PG(p, 4), self->psz, 4, 6, 1));
	EXPECT_EQ(-1, bad_page(p, self->psz, 0, 4, 0));
	EXPECT_EQ(0xea0000 + 5, vl_get_data(PG(p, 5)));
	s = file_stats(self->fd);
	EXPECT_EQ(s0.pfn_faults + 8, s.pfn_faults);
	EXPECT_EQ(s0.faults_vma + 8, s.faults_vma);
	/* A part of the buffer, at an offset. */
	EXPECT_EQ(0, munmap(p, self->len));
	p = map_view(self, VMALOCK_PFN_EAGER_OFFSET, n - 3, 3, PROT_READ, MAP_SHARED);
	ASSERT_NE(MAP_FAILED, p);
	self->maplen = 3 * self->psz;
	EXPECT_EQ(-1, bad_page(p, self->psz, n - 3, 3, 0));
}

/*
 * An eager view of one page is remapped whole. On x86 that makes PAT track
 * the VMA's memtype as a whole, untracked when the VMA is freed, after the
 * pages may have been freed (or, with VM_PAT, in every zap, racing with the
 * others): the remap refuses it (EINVAL) and the mmap fails, leaving
 * nothing behind. Elsewhere it maps, and DROP and ZAP work on it.
 */
TEST_F(vmalock, pfn_eager_one_page)
{
	struct vmalock_stats s0, s;
	char *p;

	s0 = file_stats(self->fd);
	if (vl_whole_remap_refused()) {
		EXPECT_EQ(EINVAL, mmap_err(NULL, self->psz, PROT_READ, MAP_SHARED, self->fd,
					   VMALOCK_PFN_EAGER_OFFSET + 2 * self->psz));
		s = file_stats(self->fd);
		EXPECT_EQ(s0.pfn_remaps, s.pfn_remaps);
		EXPECT_EQ(s0.vma_closes, s.vma_closes);
		/* Two pages, remapped one by one, are not tracked whole. */
		p = map_view(self, VMALOCK_PFN_EAGER_OFFSET, 2, 2, PROT_READ, MAP_SHARED);
		ASSERT_NE(MAP_FAILED, p);
		self->map = p;
		self->maplen = 2 * self->psz;
		EXPECT_EQ(-1, bad_page(p, self->psz, 2, 2, 0));
		return;
	}
	p = map_view(self, VMALOCK_PFN_EAGER_OFFSET, 2, 1, PROT_READ, MAP_SHARED);
	ASSERT_NE(MAP_FAILED, p);
	self->map = p;
	self->maplen = self->psz;
	EXPECT_EQ(0, vl_drop(self->fd, (unsigned long)p, self->psz, NULL));
	EXPECT_EQ(-1, bad_page(p, self->psz, 2, 1, 0));
	s = file_stats(self->fd);
	EXPECT_EQ(s0.drops_vma + s0.drops_mmap + 1, s.drops_vma + s.drops_mmap);
	EXPECT_EQ(s0.pfn_faults + 1, s.pfn_faults);
	EXPECT_EQ(1, zap_range(self->fd, p, self->psz));
	EXPECT_EQ(-1, bad_page(p, self->psz, 2, 1, 1));
	EXPECT_EQ(s0.pfn_faults + 2, file_stats(self->fd).pfn_faults);
}

TEST_F(vmalock, pfn_split_mremap_fork)
{
	size_t n = self->npages;
	struct vmalock_lookup l;
	struct vmalock_stats s;
	char *p, *dst, *part;
	pid_t pid;

	p = map_view(self, VMALOCK_PFN_OFFSET, 0, n, PROT_READ | PROT_WRITE, MAP_SHARED);
	ASSERT_NE(MAP_FAILED, p);
	self->map = p;
	self->maplen = self->len;
	for (size_t i = 0; i < n; i++)
		vl_set_data(PG(p, i), 0x5b0000 + i);
	/* Split by mprotect: three VMAs, same pages. */
	ASSERT_EQ(0, mprotect(PG(p, 10), 10 * self->psz, PROT_READ));
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)PG(p, 12), &l));
	EXPECT_EQ((unsigned long)PG(p, 10), l.start);
	EXPECT_EQ((unsigned long)PG(p, 20), l.end);
	EXPECT_EQ(VMALOCK_PFN_OFFSET / self->psz + 10, l.pgoff);
	EXPECT_EQ(-1, bad_page(p, self->psz, 0, n, 0));
	/* Move a part of the read-only piece. */
	dst = reserve(4 * self->psz);
	ASSERT_NE(MAP_FAILED, dst);
	part = mremap(PG(p, 12), 4 * self->psz, 4 * self->psz,
		      MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	ASSERT_EQ(dst, part);
	EXPECT_EQ(-1, bad_page(part, self->psz, 12, 4, 0));
	EXPECT_EQ(0x5b0000 + 13, vl_get_data(PG(part, 1)));
	EXPECT_EQ(ENOENT, vl_lookup(self->fd, (unsigned long)PG(p, 13), &l));
	/* A child sees the same pages, and its writes are ours. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		if (bad_page(p, self->psz, 0, 12, 0) != -1 ||
		    bad_page(part, self->psz, 12, 4, 0) != -1)
			_exit(1);
		if (vl_get_data(PG(part, 3)) != 0x5b0000 + 15)
			_exit(2);
		vl_set_data(PG(p, 30), 0xc5);
		_exit(0);
	}
	ASSERT_EQ(0, wait_child(pid));
	EXPECT_EQ(0xc5, vl_get_data(PG(p, 30)));
	EXPECT_EQ(0, munmap(part, 4 * self->psz));
	EXPECT_EQ(0, munmap(p, self->len));
	self->map = MAP_FAILED;
	s = file_stats(self->fd);
	EXPECT_EQ(s.vma_opens + 1, s.vma_closes);
}

/*
 * A PFN map has VM_IO | VM_PFNMAP: get_user_pages() refuses it, so
 * /proc/pid/mem, vmsplice() and another process (process_vm_readv) cannot
 * read it, and the device offers no ->access. The page view stays readable
 * every way.
 */
TEST_F(vmalock, pfn_view_not_gup)
{
	char *map = map_all(self), *pfn, buf[16];
	struct iovec local = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct iovec remote = { .iov_len = sizeof(buf) };
	int mem, pfd[2];

	ASSERT_NE(MAP_FAILED, map);
	pfn = map_view(self, VMALOCK_PFN_OFFSET, 0, 4, PROT_READ, MAP_SHARED);
	ASSERT_NE(MAP_FAILED, pfn);
	EXPECT_EQ(1, vl_index(PG(pfn, 1)));
	mem = open("/proc/self/mem", O_RDONLY);
	ASSERT_LE(0, mem);
	EXPECT_EQ(sizeof(buf), pread(mem, buf, sizeof(buf), (off_t)PG(map, 2)));
	EXPECT_EQ(2, ((struct vmalock_page_header *)buf)->index);
	EXPECT_EQ(-1, pread(mem, buf, sizeof(buf), (off_t)PG(pfn, 2)));
	EXPECT_EQ(EIO, errno);
	close(mem);
	/* vmsplice() pins the pages it splices. */
	ASSERT_EQ(0, pipe(pfd));
	remote.iov_base = PG(map, 1);
	EXPECT_EQ(sizeof(buf), vmsplice(pfd[1], &remote, 1, 0));
	remote.iov_base = PG(pfn, 1);
	EXPECT_EQ(-1, vmsplice(pfd[1], &remote, 1, 0));
	EXPECT_EQ(EFAULT, errno);
	close(pfd[0]);
	close(pfd[1]);
	/* Reading nothing fails only without CONFIG_CROSS_MEMORY_ATTACH. */
	if (process_vm_readv(getpid(), NULL, 0, NULL, 0, 0)) {
		TH_LOG("no process_vm_readv(): %s; not checked", strerror(errno));
	} else {
		remote.iov_base = PG(map, 3);
		EXPECT_EQ(sizeof(buf), process_vm_readv(getpid(), &local, 1, &remote, 1, 0));
		EXPECT_EQ(3, ((struct vmalock_page_header *)buf)->index);
		remote.iov_base = PG(pfn, 3);
		EXPECT_EQ(-1, process_vm_readv(getpid(), &local, 1, &remote, 1, 0));
		EXPECT_EQ(EFAULT, errno);
	}
	EXPECT_EQ(0, munmap(pfn, 4 * self->psz));
}

/* ---------------------------------------------------------------------- */
/* Revoking the PFN view. */

/* How many of the n pages at p can be read; the others raise SIGBUS. */
static size_t count_readable(char *p, size_t n, size_t psz)
{
	size_t ok = 0;
	__u64 idx;

	for (size_t i = 0; i < n; i++)
		ok += !vl_try_index(p + i * psz, &idx);
	return ok;
}

/*
 * The info view: one read-only page the driver filled at open, mapped whole
 * at mmap time (map_kernel_pages), without a fault; a revocation removes it
 * with every entry of the file, and its fault maps it back.
 */
TEST_F(vmalock, info_view)
{
	struct vmalock_stats s0, s;
	struct vmalock_info_page *ip;
	struct vmalock_info info;
	struct vmalock_zap z;
	char *pfn;
	pid_t pid;

	ASSERT_EQ(0, vl_info(self->fd, &info));
	s0 = file_stats(self->fd);
	ip = mmap(NULL, self->psz, PROT_READ, MAP_SHARED, self->fd, VMALOCK_INFO_OFFSET);
	ASSERT_NE(MAP_FAILED, ip);
	self->map = (char *)ip;
	self->maplen = self->psz;
	EXPECT_EQ(VMALOCK_INFO_MAGIC, ip->magic);
	EXPECT_EQ(info.max_pages, ip->max_pages);
	EXPECT_EQ(self->psz, ip->page_size);
	/* Mapped before any access: no fault, no buffer. */
	s = file_stats(self->fd);
	EXPECT_EQ(0, memcmp(&s0, &s, sizeof(s)));
	/* Never writable. */
	EXPECT_EQ(-1, mprotect(ip, self->psz, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	/* ZAP and DROP are for the buffer's views, which exist now. */
	pfn = mmap(NULL, self->psz, PROT_READ, MAP_SHARED, self->fd, VMALOCK_PFN_OFFSET);
	ASSERT_NE(MAP_FAILED, pfn);
	EXPECT_EQ(EINVAL, vl_drop(self->fd, (unsigned long)ip, self->psz, NULL));
	EXPECT_EQ(EINVAL, vl_zap(self->fd, (unsigned long)ip, self->psz, &z));
	EXPECT_EQ(VMALOCK_INFO_MAGIC, ip->magic);
	/* A revocation takes the PFN view away, not the info page. */
	ASSERT_EQ(0, vl_revoke(self->fd, VMALOCK_REVOKE_REVOKE));
	EXPECT_EQ(0, count_readable(pfn, 1, self->psz));
	EXPECT_EQ(VMALOCK_INFO_MAGIC, ip->magic);
	ASSERT_EQ(0, vl_revoke(self->fd, VMALOCK_REVOKE_RESTORE));
	EXPECT_EQ(1, count_readable(pfn, 1, self->psz));
	/* The same for the device's, which revokes the caller's own file too. */
	ASSERT_EQ(0, vl_revoke(self->fd, VMALOCK_REVOKE_DEVICE));
	EXPECT_EQ(0, count_readable(pfn, 1, self->psz));
	EXPECT_EQ(VMALOCK_INFO_MAGIC, ip->magic);
	EXPECT_EQ(s0.revokes + 2, file_stats(self->fd).revokes);
	ASSERT_EQ(0, vl_revoke(self->fd, VMALOCK_REVOKE_RESTORE));
	EXPECT_EQ(1, count_readable(pfn, 1, self->psz));
	EXPECT_EQ(0, munmap(pfn, self->psz));
	/* fork copies its entry: the child reads it too. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(ip->magic == VMALOCK_INFO_MAGIC ? 0 : 1);
	EXPECT_EQ(0, wait_child(pid));
}

/* Tells the other side of a pipe pair to go on, and waits for its answer. */
static int step(int out, int in, char c)
{
	char r;

	return write(out, &c, 1) == 1 && read(in, &r, 1) == 1 ? r : -1;
}

/*
 * A process that maps both PFN views: a forked child with the parent's
 * entries (p, and e for the eager view) or a receiver of the file (fd).
 * Reads them, and checks them after the parent's REVOKE ('R') and RESTORE
 * ('S').
 */
static int revoke_peer(int in, int out, char *p, char *e, int fd, size_t n,
		       size_t psz)
{
	char c;

	if (fd >= 0) {
		p = mmap(NULL, n * psz, PROT_READ, MAP_SHARED, fd, VMALOCK_PFN_OFFSET);
		e = mmap(NULL, n * psz, PROT_READ, MAP_SHARED, fd,
			 VMALOCK_PFN_EAGER_OFFSET);
	}
	if (p == MAP_FAILED || e == MAP_FAILED || count_readable(p, n, psz) != n ||
	    count_readable(e, n, psz) != n)
		return 1;
	if (write(out, "r", 1) != 1 || read(in, &c, 1) != 1 || c != 'R')
		return 2;
	if (count_readable(p, n, psz) != 0 || count_readable(e, n, psz) != 0)
		return 3;
	if (write(out, "r", 1) != 1 || read(in, &c, 1) != 1 || c != 'S')
		return 4;
	if (count_readable(p, n, psz) != n || bad_page(p, psz, 0, n, 0) != -1 ||
	    count_readable(e, n, psz) != n || bad_page(e, psz, 0, n, 0) != -1)
		return 5;
	return write(out, "r", 1) == 1 ? 0 : 6;
}

TEST_F(vmalock, revoke_every_process)
{
	int to[2][2], from[2][2], sv[2], fd;
	size_t n = 8, len = n * self->psz;
	struct vmalock_stats s;
	unsigned long addr;
	char *p, *e, *pages;
	pid_t kid[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		SKIP(return, "no AF_UNIX sockets (CONFIG_UNIX=n?): %s", strerror(errno));
	for (int k = 0; k < 2; k++)
		ASSERT_EQ(0, pipe(to[k]) | pipe(from[k]));
	/* The receiver is forked before the file is opened or mapped. */
	kid[0] = fork();
	ASSERT_LE(0, kid[0]);
	if (!kid[0]) {
		close(self->fd);
		fd = recv_fd(sv[1], &addr);
		_exit(revoke_peer(to[0][0], from[0][1], NULL, NULL, fd, n, self->psz));
	}
	fd = open(variant->dev, O_RDWR);
	ASSERT_LE(0, fd);
	pages = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, pages);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, VMALOCK_PFN_OFFSET);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(n, count_readable(p, n, self->psz));
	/* The eager view is mapped before any fault. */
	e = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, VMALOCK_PFN_EAGER_OFFSET);
	ASSERT_NE(MAP_FAILED, e);
	s = file_stats(fd);
	ASSERT_EQ(n, count_readable(e, n, self->psz));
	EXPECT_EQ(s.pfn_faults, file_stats(fd).pfn_faults);
	ASSERT_EQ(0, send_fd(sv[0], fd, (unsigned long)p));
	/* A forked child, with the parent's entries copied. */
	kid[1] = fork();
	ASSERT_LE(0, kid[1]);
	if (!kid[1])
		_exit(revoke_peer(to[1][0], from[1][1], p, e, -1, n, self->psz));
	for (int k = 0; k < 2; k++) {
		char c;

		ASSERT_EQ(1, read(from[k][0], &c, 1)) TH_LOG("peer %d failed", k);
	}

	ASSERT_EQ(0, vl_revoke(fd, VMALOCK_REVOKE_REVOKE));
	EXPECT_EQ(0, count_readable(p, n, self->psz));
	EXPECT_EQ(0, count_readable(e, n, self->psz));
	/* The page view faults back in. */
	EXPECT_EQ(-1, bad_page(pages, self->psz, 0, n, 0));
	EXPECT_EQ(EALREADY, vl_revoke(fd, VMALOCK_REVOKE_REVOKE));
	EXPECT_EQ(ENODEV, mmap_err(NULL, self->psz, PROT_READ, MAP_SHARED, fd,
				   VMALOCK_PFN_OFFSET));
	EXPECT_EQ(ENODEV, mmap_err(NULL, 2 * self->psz, PROT_READ, MAP_SHARED, fd,
				   VMALOCK_PFN_EAGER_OFFSET));
	s = file_stats(fd);
	EXPECT_EQ(1, s.revokes);
	EXPECT_EQ('r', step(to[0][1], from[0][0], 'R'));
	EXPECT_EQ('r', step(to[1][1], from[1][0], 'R'));

	ASSERT_EQ(0, vl_revoke(fd, VMALOCK_REVOKE_RESTORE));
	EXPECT_EQ(EBUSY, vl_revoke(fd, VMALOCK_REVOKE_RESTORE));
	EXPECT_EQ(n, count_readable(p, n, self->psz));
	EXPECT_EQ(-1, bad_page(p, self->psz, 0, n, 0));
	EXPECT_EQ(n, count_readable(e, n, self->psz));
	EXPECT_EQ(-1, bad_page(e, self->psz, 0, n, 0));
	for (int k = 0; k < 2; k++) {
		EXPECT_EQ('r', step(to[k][1], from[k][0], 'S')) TH_LOG("peer %d", k);
		EXPECT_EQ(0, wait_child(kid[k])) TH_LOG("peer %d", k);
	}
	EXPECT_EQ(0, munmap(p, len));
	EXPECT_EQ(0, munmap(e, len));
	EXPECT_EQ(0, munmap(pages, len));
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

TEST_F(vmalock, revoke_is_per_file)
{
	int other = open(variant->dev, O_RDWR);
	size_t n = 4, len = n * self->psz;
	char *p, *q, *eager;

	ASSERT_LE(0, other);
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, self->fd, VMALOCK_PFN_OFFSET);
	ASSERT_NE(MAP_FAILED, p);
	eager = mmap(NULL, len, PROT_READ, MAP_SHARED, self->fd,
		     VMALOCK_PFN_EAGER_OFFSET);
	ASSERT_NE(MAP_FAILED, eager);
	q = mmap(NULL, len, PROT_READ, MAP_SHARED, other, VMALOCK_PFN_OFFSET);
	ASSERT_NE(MAP_FAILED, q);
	EXPECT_EQ(-1, bad_page(p, self->psz, 0, n, 0));
	EXPECT_EQ(-1, bad_page(q, self->psz, 0, n, 0));
	ASSERT_EQ(0, vl_revoke(self->fd, VMALOCK_REVOKE_REVOKE));
	EXPECT_EQ(0, count_readable(p, n, self->psz));
	EXPECT_EQ(0, count_readable(eager, n, self->psz));
	/* Another open file's mappings are untouched. */
	EXPECT_EQ(-1, bad_page(q, self->psz, 0, n, 0));
	EXPECT_EQ(0, file_stats(other).revokes);
	EXPECT_EQ(n, file_stats(other).pfn_faults);
	EXPECT_EQ(0, munmap(q, len));
	EXPECT_EQ(0, munmap(eager, len));
	EXPECT_EQ(0, munmap(p, len));
	close(other);
}

/* VMALOCK_REVOKE_DEVICE: the PFN views of every open file, as a reset. */
TEST_F(vmalock, revoke_device)
{
	int other = open(variant->dev, O_RDWR), fresh = open(variant->dev, O_RDWR);
	size_t n = 4, len = n * self->psz;
	char *p, *q, *eager, *r;

	ASSERT_LE(0, other);
	ASSERT_LE(0, fresh);
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, self->fd, VMALOCK_PFN_OFFSET);
	ASSERT_NE(MAP_FAILED, p);
	eager = mmap(NULL, len, PROT_READ, MAP_SHARED, self->fd,
		     VMALOCK_PFN_EAGER_OFFSET);
	ASSERT_NE(MAP_FAILED, eager);
	q = mmap(NULL, len, PROT_READ, MAP_SHARED, other, VMALOCK_PFN_EAGER_OFFSET);
	ASSERT_NE(MAP_FAILED, q);
	EXPECT_EQ(n, count_readable(p, n, self->psz));
	EXPECT_EQ(n, count_readable(q, n, self->psz));
	/* From a file that has no buffer, which is skipped. */
	ASSERT_EQ(0, vl_revoke(fresh, VMALOCK_REVOKE_DEVICE));
	EXPECT_EQ(0, count_readable(p, n, self->psz));
	EXPECT_EQ(0, count_readable(eager, n, self->psz));
	EXPECT_EQ(0, count_readable(q, n, self->psz));
	EXPECT_EQ(1, file_stats(self->fd).revokes);
	EXPECT_EQ(1, file_stats(other).revokes);
	EXPECT_EQ(0, file_stats(fresh).revokes);
	/* Revoked already: a file's own REVOKE fails, the device's skips it. */
	EXPECT_EQ(EALREADY, vl_revoke(other, VMALOCK_REVOKE_REVOKE));
	ASSERT_EQ(0, vl_revoke(self->fd, VMALOCK_REVOKE_DEVICE));
	EXPECT_EQ(1, file_stats(self->fd).revokes);
	EXPECT_EQ(1, file_stats(other).revokes);
	/* Each file restores its own. */
	ASSERT_EQ(0, vl_revoke(other, VMALOCK_REVOKE_RESTORE));
	EXPECT_EQ(n, count_readable(q, n, self->psz));
	EXPECT_EQ(0, count_readable(p, n, self->psz));
	ASSERT_EQ(0, vl_revoke(self->fd, VMALOCK_REVOKE_RESTORE));
	EXPECT_EQ(n, count_readable(p, n, self->psz));
	EXPECT_EQ(n, count_readable(eager, n, self->psz));
	/* The skipped file's views were never revoked. */
	r = mmap(NULL, len, PROT_READ, MAP_SHARED, fresh, VMALOCK_PFN_OFFSET);
	ASSERT_NE(MAP_FAILED, r);
	EXPECT_EQ(n, count_readable(r, n, self->psz));
	EXPECT_EQ(0, munmap(r, len));
	EXPECT_EQ(0, munmap(q, len));
	EXPECT_EQ(0, munmap(eager, len));
	EXPECT_EQ(0, munmap(p, len));
	close(fresh);
	close(other);
}

/* ---------------------------------------------------------------------- */
/*
 * Bad input: every case fails with an exact errno and leaves the file's
 * info, its and the global statistics, and the mapped content unchanged.
 */

FIXTURE(bad) {
	int fd;
	size_t psz;
	size_t npages;
	size_t len;
	char *map;
	struct vmalock_info info;
	struct vmalock_stats file;
	struct vmalock_stats global;
};

FIXTURE_VARIANT(bad) {
	const char *dev;
	__u32 lookup_lock;	/* LOOKUP's lock in the default mode */
};

FIXTURE_VARIANT_ADD(bad, rust) {
	.dev = RUST_DEV,
	.lookup_lock = VMALOCK_LOCK_VMA,
};

FIXTURE_VARIANT_ADD(bad, c) {
	.dev = C_DEV,
	.lookup_lock = 0,	/* vl_c_lookup_lock(): depends on the kernel */
};

static __u64 pattern(size_t i)
{
	return 0x5a5a000000ULL + i;
}

/* Records the state the bad calls must not change. */
static void snap(struct _test_data_bad *self)
{
	vl_info(self->fd, &self->info);
	vl_stats(self->fd, VMALOCK_STATS_FILE, &self->file);
	vl_stats(self->fd, VMALOCK_STATS_GLOBAL, &self->global);
}

FIXTURE_SETUP(bad)
{
	struct vmalock_lookup l;

	self->fd = -1;
	self->map = MAP_FAILED;
	self->psz = getpagesize();
	if (access(variant->dev, F_OK))
		SKIP(return, "%s missing: module not loaded", variant->dev);
	self->fd = open(variant->dev, O_RDWR);
	ASSERT_LE(0, self->fd);
	self->npages = VMALOCK_DEFAULT_PAGES;
	self->len = self->npages * self->psz;
	self->map = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->map);
	for (size_t i = 0; i < self->npages; i++) {
		char *page = self->map + i * self->psz;

		ASSERT_EQ(i, vl_index(page));
		vl_set_data(page, pattern(i));
	}
	/* The good call the bad ones are variations of. */
	ASSERT_EQ(0, vl_lookup(self->fd, (unsigned long)self->map, &l));
	ASSERT_EQ(variant->lookup_lock ?: vl_c_lookup_lock(), l.lock);
	snap(self);
}

FIXTURE_TEARDOWN(bad)
{
	if (self->map != MAP_FAILED)
		munmap(self->map, self->len);
	if (self->fd >= 0)
		close(self->fd);
}

static void expect_same_stats(struct __test_metadata *_metadata,
			      const char *what, const struct vmalock_stats *a,
			      const struct vmalock_stats *b)
{
	for (int i = 0; i < VL_NR_COUNTERS; i++) {
		EXPECT_EQ(vl_counters(a)[i], vl_counters(b)[i])
			TH_LOG("%s %s changed", what, vl_counter_name(i));
	}
}

static void check_unchanged(struct __test_metadata *_metadata,
			    struct _test_data_bad *self)
{
	struct vmalock_stats file, global;
	struct vmalock_info info;

	ASSERT_EQ(0, vl_info(self->fd, &info));
	EXPECT_EQ(self->info.npages, info.npages);
	EXPECT_EQ(self->info.generation, info.generation);
	EXPECT_EQ(self->info.mode, info.mode);
	EXPECT_EQ(self->info.max_pages, info.max_pages);
	ASSERT_EQ(0, vl_stats(self->fd, VMALOCK_STATS_FILE, &file));
	ASSERT_EQ(0, vl_stats(self->fd, VMALOCK_STATS_GLOBAL, &global));
	expect_same_stats(_metadata, "file", &self->file, &file);
	expect_same_stats(_metadata, "global", &self->global, &global);
	for (size_t i = 0; i < self->npages; i++) {
		char *page = self->map + i * self->psz;

		EXPECT_EQ(i, vl_index(page));
		EXPECT_EQ(self->info.generation, vl_gen(page));
		EXPECT_EQ(pattern(i), vl_get_data(page));
	}
	/* Reading the content faulted nothing in: no page was zapped. */
	ASSERT_EQ(0, vl_stats(self->fd, VMALOCK_STATS_FILE, &file));
	expect_same_stats(_metadata, "file (after reading)", &self->file, &file);
}

static int mremap_err(void *old, size_t old_len, size_t new_len, int flags)
{
	void *p = mremap(old, old_len, new_len, flags);

	return p == MAP_FAILED ? errno : 0;
}

/* A page that is no longer mapped. */
static void *unmapped_page(size_t psz)
{
	void *p = mmap(NULL, psz, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	munmap(p, psz);
	return p;
}

/* A copy of an argument in a read-only page; NULL on failure. */
static void *read_only_copy(const void *arg, size_t size, size_t psz)
{
	void *p = mmap(NULL, psz, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memcpy(p, arg, size);
	if (mprotect(p, psz, PROT_READ))
		return NULL;
	return p;
}

#define KERNEL_ADDR	(~0UL - 0xffffUL)	/* page aligned for 4K-64K */

/* Unknown or mis-encoded commands. */

TEST_F(bad, ioctl_unknown_nr)
{
	EXPECT_EQ(ENOTTY, vl_ioctl(self->fd, _IO(VMALOCK_IOC_MAGIC, 99), NULL));
	check_unchanged(_metadata, self);
}

TEST_F(bad, ioctl_wrong_magic)
{
	struct vmalock_info info = { .size = sizeof(info) };

	EXPECT_EQ(ENOTTY, vl_ioctl(self->fd, _IOWR(VMALOCK_IOC_MAGIC + 1, 1,
						   struct vmalock_info), &info));
	check_unchanged(_metadata, self);
}

TEST_F(bad, ioctl_wrong_direction)
{
	struct vmalock_info info = { .size = sizeof(info) };

	EXPECT_EQ(ENOTTY, vl_ioctl(self->fd, _IOR(VMALOCK_IOC_MAGIC, 1,
						  struct vmalock_info), &info));
	check_unchanged(_metadata, self);
}

TEST_F(bad, ioctl_wrong_size_bits)
{
	struct vmalock_zap z = { .size = sizeof(z), .addr = (unsigned long)self->map,
				 .len = self->len };

	EXPECT_EQ(ENOTTY, vl_ioctl(self->fd, _IOWR(VMALOCK_IOC_MAGIC, 4, __u64), &z));
	check_unchanged(_metadata, self);
}

/*
 * Size fields: 0, one short and 8 more than the struct. arg holds the
 * struct (with room for 16 more bytes), its first field is the size.
 */
static void size_case(struct __test_metadata *_metadata, struct _test_data_bad *self,
		      unsigned long cmd, void *arg, __u32 size)
{
	char copy[256];

	memcpy(arg, &size, sizeof(size));
	memcpy(copy, arg, _IOC_SIZE(cmd) + 16);
	EXPECT_EQ(EINVAL, vl_ioctl(self->fd, cmd, arg));
	/* Nothing was written back either. */
	EXPECT_EQ(0, memcmp(copy, arg, _IOC_SIZE(cmd) + 16));
	check_unchanged(_metadata, self);
}

TEST_F(bad, info_size_0)
{
	struct vmalock_info a[2] = { { .npages = 77 } };

	size_case(_metadata, self, VMALOCK_IOC_GET_INFO, a, 0);
}

TEST_F(bad, info_size_short)
{
	struct vmalock_info a[2] = { { .npages = 77 } };

	size_case(_metadata, self, VMALOCK_IOC_GET_INFO, a, sizeof(a[0]) - 1);
}

TEST_F(bad, info_size_long)
{
	struct vmalock_info a[2] = { { .npages = 77 } };

	size_case(_metadata, self, VMALOCK_IOC_GET_INFO, a, sizeof(a[0]) + 8);
}

TEST_F(bad, lookup_size_0)
{
	struct vmalock_lookup a[2] = { { .addr = (unsigned long)self->map } };

	size_case(_metadata, self, VMALOCK_IOC_LOOKUP, a, 0);
}

TEST_F(bad, lookup_size_short)
{
	struct vmalock_lookup a[2] = { { .addr = (unsigned long)self->map } };

	size_case(_metadata, self, VMALOCK_IOC_LOOKUP, a, sizeof(a[0]) - 1);
}

TEST_F(bad, lookup_size_long)
{
	struct vmalock_lookup a[2] = { { .addr = (unsigned long)self->map } };

	size_case(_metadata, self, VMALOCK_IOC_LOOKUP, a, sizeof(a[0]) + 8);
}

TEST_F(bad, zap_size_0)
{
	struct vmalock_zap a[2] = { { .addr = (unsigned long)self->map, .len = self->len } };

	size_case(_metadata, self, VMALOCK_IOC_ZAP, a, 0);
}

TEST_F(bad, zap_size_short)
{
	struct vmalock_zap a[2] = { { .addr = (unsigned long)self->map, .len = self->len } };

	size_case(_metadata, self, VMALOCK_IOC_ZAP, a, sizeof(a[0]) - 1);
}

TEST_F(bad, zap_size_long)
{
	struct vmalock_zap a[2] = { { .addr = (unsigned long)self->map, .len = self->len } };

	size_case(_metadata, self, VMALOCK_IOC_ZAP, a, sizeof(a[0]) + 8);
}

TEST_F(bad, drop_size_0)
{
	struct vmalock_drop a[2] = { { .addr = (unsigned long)self->map, .len = self->len } };

	size_case(_metadata, self, VMALOCK_IOC_DROP, a, 0);
}

TEST_F(bad, drop_size_short)
{
	struct vmalock_drop a[2] = { { .addr = (unsigned long)self->map, .len = self->len } };

	size_case(_metadata, self, VMALOCK_IOC_DROP, a, sizeof(a[0]) - 1);
}

TEST_F(bad, drop_size_long)
{
	struct vmalock_drop a[2] = { { .addr = (unsigned long)self->map, .len = self->len } };

	size_case(_metadata, self, VMALOCK_IOC_DROP, a, sizeof(a[0]) + 8);
}

TEST_F(bad, stats_size_0)
{
	struct vmalock_stats a[2] = { { .scope = VMALOCK_STATS_FILE } };

	size_case(_metadata, self, VMALOCK_IOC_GET_STATS, a, 0);
}

TEST_F(bad, stats_size_short)
{
	struct vmalock_stats a[2] = { { .scope = VMALOCK_STATS_FILE } };

	size_case(_metadata, self, VMALOCK_IOC_GET_STATS, a, sizeof(a[0]) - 1);
}

TEST_F(bad, stats_size_long)
{
	struct vmalock_stats a[2] = { { .scope = VMALOCK_STATS_FILE } };

	size_case(_metadata, self, VMALOCK_IOC_GET_STATS, a, sizeof(a[0]) + 8);
}

/* Pointers, for every command. */

static const unsigned long all_cmds[] = {
	VMALOCK_IOC_SET_SIZE, VMALOCK_IOC_GET_INFO, VMALOCK_IOC_SET_MODE,
	VMALOCK_IOC_LOOKUP, VMALOCK_IOC_ZAP, VMALOCK_IOC_GET_STATS,
	VMALOCK_IOC_RESET_STATS, VMALOCK_IOC_REVOKE, VMALOCK_IOC_DROP,
};

TEST_F(bad, null_pointers)
{
	for (int i = 0; i < ARRAY_SIZE(all_cmds); i++) {
		EXPECT_EQ(EFAULT, vl_ioctl(self->fd, all_cmds[i], NULL))
			TH_LOG("cmd nr %lu", _IOC_NR(all_cmds[i]));
	}
	check_unchanged(_metadata, self);
}

TEST_F(bad, unmapped_pointers)
{
	void *p = unmapped_page(self->psz);

	for (int i = 0; i < ARRAY_SIZE(all_cmds); i++) {
		EXPECT_EQ(EFAULT, vl_ioctl(self->fd, all_cmds[i], p))
			TH_LOG("cmd nr %lu", _IOC_NR(all_cmds[i]));
	}
	check_unchanged(_metadata, self);
}

TEST_F(bad, kernel_pointers)
{
	for (int i = 0; i < ARRAY_SIZE(all_cmds); i++) {
		EXPECT_EQ(EFAULT, vl_ioctl(self->fd, all_cmds[i], (void *)KERNEL_ADDR))
			TH_LOG("cmd nr %lu", _IOC_NR(all_cmds[i]));
	}
	check_unchanged(_metadata, self);
}

TEST_F(bad, info_straddles_unmapped)
{
	char *two = mmap(NULL, 2 * self->psz, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct vmalock_info *info;

	ASSERT_NE(MAP_FAILED, two);
	ASSERT_EQ(0, munmap(two + self->psz, self->psz));
	info = (void *)(two + self->psz - 8);
	info->size = sizeof(*info);
	EXPECT_EQ(EFAULT, vl_ioctl(self->fd, VMALOCK_IOC_GET_INFO, info));
	check_unchanged(_metadata, self);
	munmap(two, self->psz);
}

TEST_F(bad, info_read_only_arg)
{
	struct vmalock_info info = { .size = sizeof(info), .npages = 77 };
	struct vmalock_info *ro = read_only_copy(&info, sizeof(info), self->psz);

	ASSERT_NE(NULL, ro);
	EXPECT_EQ(EFAULT, vl_ioctl(self->fd, VMALOCK_IOC_GET_INFO, ro));
	EXPECT_EQ(77, ro->npages);
	check_unchanged(_metadata, self);
}

TEST_F(bad, lookup_read_only_arg)
{
	struct vmalock_lookup l = { .size = sizeof(l), .addr = (unsigned long)self->map };
	struct vmalock_lookup *ro = read_only_copy(&l, sizeof(l), self->psz);

	ASSERT_NE(NULL, ro);
	EXPECT_EQ(EFAULT, vl_ioctl(self->fd, VMALOCK_IOC_LOOKUP, ro));
	check_unchanged(_metadata, self);
}

TEST_F(bad, zap_read_only_arg)
{
	struct vmalock_zap z = { .size = sizeof(z), .addr = (unsigned long)self->map,
				 .len = self->len };
	struct vmalock_zap *ro = read_only_copy(&z, sizeof(z), self->psz);

	ASSERT_NE(NULL, ro);
	EXPECT_EQ(EFAULT, vl_ioctl(self->fd, VMALOCK_IOC_ZAP, ro));
	check_unchanged(_metadata, self);
}

TEST_F(bad, drop_read_only_arg)
{
	struct vmalock_drop d = { .size = sizeof(d), .addr = (unsigned long)self->map,
				  .len = self->len };
	struct vmalock_drop *ro = read_only_copy(&d, sizeof(d), self->psz);

	ASSERT_NE(NULL, ro);
	EXPECT_EQ(EFAULT, vl_ioctl(self->fd, VMALOCK_IOC_DROP, ro));
	check_unchanged(_metadata, self);
}

TEST_F(bad, stats_read_only_arg)
{
	struct vmalock_stats s = { .size = sizeof(s), .scope = VMALOCK_STATS_FILE };
	struct vmalock_stats *ro = read_only_copy(&s, sizeof(s), self->psz);

	ASSERT_NE(NULL, ro);
	EXPECT_EQ(EFAULT, vl_ioctl(self->fd, VMALOCK_IOC_GET_STATS, ro));
	EXPECT_EQ(0, ro->faults_vma);
	check_unchanged(_metadata, self);
}

/* SET_SIZE and SET_MODE values. */

static void set_size_case(struct __test_metadata *_metadata,
			  struct _test_data_bad *self, const char *dev, __u64 npages)
{
	struct vmalock_info info;
	int fd2 = open(dev, O_RDWR);

	/* On a file without a buffer, so that only the value is wrong. */
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, vl_set_size(fd2, 7));
	EXPECT_EQ(EINVAL, vl_set_size(fd2, npages));
	ASSERT_EQ(0, vl_info(fd2, &info));
	EXPECT_EQ(7, info.npages);
	EXPECT_EQ(0, vl_set_size(fd2, 6));
	close(fd2);
	check_unchanged(_metadata, self);
}

TEST_F(bad, set_size_0)
{
	set_size_case(_metadata, self, variant->dev, 0);
}

TEST_F(bad, set_size_over_max)
{
	set_size_case(_metadata, self, variant->dev, self->info.max_pages + 1);
}

TEST_F(bad, set_size_huge)
{
	set_size_case(_metadata, self, variant->dev, 1ULL << 63);
}

TEST_F(bad, set_size_after_mmap)
{
	EXPECT_EQ(EBUSY, vl_set_size(self->fd, 8));
	check_unchanged(_metadata, self);
}

TEST_F(bad, set_mode_3)
{
	EXPECT_EQ(EINVAL, vl_set_mode(self->fd, 3));
	check_unchanged(_metadata, self);
}

TEST_F(bad, set_mode_all_ones)
{
	EXPECT_EQ(EINVAL, vl_set_mode(self->fd, ~0U));
	check_unchanged(_metadata, self);
}

/* ZAP ranges. */

TEST_F(bad, zap_unaligned_addr)
{
	struct vmalock_zap z;

	EXPECT_EQ(EINVAL, vl_zap(self->fd, (unsigned long)self->map + 8, self->psz, &z));
	check_unchanged(_metadata, self);
}

TEST_F(bad, zap_unaligned_len)
{
	struct vmalock_zap z;

	EXPECT_EQ(EINVAL, vl_zap(self->fd, (unsigned long)self->map, self->psz + 1, &z));
	check_unchanged(_metadata, self);
}

TEST_F(bad, zap_len_0)
{
	struct vmalock_zap z;

	EXPECT_EQ(EINVAL, vl_zap(self->fd, (unsigned long)self->map, 0, &z));
	check_unchanged(_metadata, self);
}

TEST_F(bad, zap_overflow)
{
	struct vmalock_zap z;

	EXPECT_EQ(EINVAL, vl_zap(self->fd, (unsigned long)self->map,
				 -(unsigned long)self->psz, &z));
	check_unchanged(_metadata, self);
}

TEST_F(bad, zap_reserved)
{
	struct vmalock_zap z = {
		.size = sizeof(z), .reserved = 1,
		.addr = (unsigned long)self->map, .len = self->len,
	};

	EXPECT_EQ(EINVAL, vl_ioctl(self->fd, VMALOCK_IOC_ZAP, &z));
	check_unchanged(_metadata, self);
}

TEST_F(bad, zap_foreign_file)
{
	int fd2 = open(variant->dev, O_RDWR);
	struct vmalock_info info;
	struct vmalock_zap z;
	char *p;

	ASSERT_LE(0, fd2);
	p = mmap(NULL, self->len, PROT_READ, MAP_SHARED, fd2, 0);
	ASSERT_NE(MAP_FAILED, p);
	snap(self);
	EXPECT_EQ(EINVAL, vl_zap(self->fd, (unsigned long)p, self->len, &z));
	check_unchanged(_metadata, self);
	ASSERT_EQ(0, vl_info(fd2, &info));
	EXPECT_EQ(0, info.generation);
	munmap(p, self->len);
	close(fd2);
}

TEST_F(bad, zap_by_file_without_mapping)
{
	int fd2 = open(variant->dev, O_RDWR);
	struct vmalock_zap z;

	ASSERT_LE(0, fd2);
	EXPECT_EQ(EINVAL, vl_zap(fd2, (unsigned long)self->map, self->len, &z));
	close(fd2);
	check_unchanged(_metadata, self);
}

TEST_F(bad, zap_anonymous)
{
	char *a = mmap(NULL, self->psz, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct vmalock_zap z;

	ASSERT_NE(MAP_FAILED, a);
	EXPECT_EQ(EINVAL, vl_zap(self->fd, (unsigned long)a, self->psz, &z));
	check_unchanged(_metadata, self);
	munmap(a, self->psz);
}

TEST_F(bad, zap_unmapped)
{
	struct vmalock_zap z;

	EXPECT_EQ(EINVAL, vl_zap(self->fd, (unsigned long)unmapped_page(self->psz),
				 self->psz, &z));
	check_unchanged(_metadata, self);
}

TEST_F(bad, zap_kernel_range)
{
	struct vmalock_zap z;

	EXPECT_EQ(EINVAL, vl_zap(self->fd, KERNEL_ADDR, self->psz, &z));
	check_unchanged(_metadata, self);
}

/* DROP ranges: one VMA of this file, page aligned, not empty. */

TEST_F(bad, drop_unaligned_addr)
{
	EXPECT_EQ(EINVAL, vl_drop(self->fd, (unsigned long)self->map + 8, self->psz, NULL));
	check_unchanged(_metadata, self);
}

TEST_F(bad, drop_unaligned_len)
{
	EXPECT_EQ(EINVAL, vl_drop(self->fd, (unsigned long)self->map, self->psz + 1, NULL));
	check_unchanged(_metadata, self);
}

TEST_F(bad, drop_len_0)
{
	EXPECT_EQ(EINVAL, vl_drop(self->fd, (unsigned long)self->map, 0, NULL));
	check_unchanged(_metadata, self);
}

TEST_F(bad, drop_overflow)
{
	EXPECT_EQ(EINVAL, vl_drop(self->fd, (unsigned long)self->map,
				  -(unsigned long)self->psz, NULL));
	check_unchanged(_metadata, self);
}

TEST_F(bad, drop_beyond_vma)
{
	EXPECT_EQ(EINVAL, vl_drop(self->fd, (unsigned long)self->map,
				  self->len + self->psz, NULL));
	EXPECT_EQ(EINVAL, vl_drop(self->fd, (unsigned long)self->map + self->len - self->psz,
				  2 * self->psz, NULL));
	check_unchanged(_metadata, self);
}

TEST_F(bad, drop_foreign_file)
{
	int fd2 = open(variant->dev, O_RDWR);
	char *p;

	ASSERT_LE(0, fd2);
	p = mmap(NULL, self->psz, PROT_READ, MAP_SHARED, fd2, 0);
	ASSERT_NE(MAP_FAILED, p);
	snap(self);	/* fd2's buffer counts in the global stats */
	EXPECT_EQ(EINVAL, vl_drop(self->fd, (unsigned long)p, self->psz, NULL));
	EXPECT_EQ(EINVAL, vl_drop(fd2, (unsigned long)self->map, self->psz, NULL));
	check_unchanged(_metadata, self);
	munmap(p, self->psz);
	close(fd2);
}

TEST_F(bad, drop_anonymous)
{
	char *a = mmap(NULL, self->psz, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, a);
	EXPECT_EQ(EINVAL, vl_drop(self->fd, (unsigned long)a, self->psz, NULL));
	check_unchanged(_metadata, self);
	munmap(a, self->psz);
}

TEST_F(bad, drop_unmapped)
{
	EXPECT_EQ(ENOENT, vl_drop(self->fd, (unsigned long)unmapped_page(self->psz),
				  self->psz, NULL));
	EXPECT_EQ(ENOENT, vl_drop(self->fd, 0, self->psz, NULL));
	check_unchanged(_metadata, self);
}

TEST_F(bad, drop_kernel_range)
{
	EXPECT_EQ(ENOENT, vl_drop(self->fd, KERNEL_ADDR - self->psz, self->psz, NULL));
	/* The last page: the range wraps (KERNEL_ADDR's with 64K pages). */
	EXPECT_EQ(EINVAL, vl_drop(self->fd, -(unsigned long)self->psz, self->psz, NULL));
	check_unchanged(_metadata, self);
}

/* LOOKUP addresses. */

TEST_F(bad, lookup_null_addr)
{
	struct vmalock_lookup l;

	EXPECT_EQ(ENOENT, vl_lookup(self->fd, 0, &l));
	check_unchanged(_metadata, self);
}

TEST_F(bad, lookup_stack_addr)
{
	struct vmalock_lookup l;

	EXPECT_EQ(EINVAL, vl_lookup(self->fd, (unsigned long)&l, &l));
	check_unchanged(_metadata, self);
}

TEST_F(bad, lookup_kernel_addr)
{
	struct vmalock_lookup l;

	EXPECT_EQ(ENOENT, vl_lookup(self->fd, KERNEL_ADDR, &l));
	check_unchanged(_metadata, self);
}

TEST_F(bad, lookup_unmapped)
{
	struct vmalock_lookup l;

	EXPECT_EQ(ENOENT, vl_lookup(self->fd, (unsigned long)unmapped_page(self->psz), &l));
	check_unchanged(_metadata, self);
}

TEST_F(bad, lookup_anonymous)
{
	char *a = mmap(NULL, self->psz, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct vmalock_lookup l;

	ASSERT_NE(MAP_FAILED, a);
	EXPECT_EQ(EINVAL, vl_lookup(self->fd, (unsigned long)a, &l));
	check_unchanged(_metadata, self);
	munmap(a, self->psz);
}

TEST_F(bad, lookup_foreign_file)
{
	int fd2 = open(variant->dev, O_RDWR);
	struct vmalock_lookup l;
	char *p;

	ASSERT_LE(0, fd2);
	p = mmap(NULL, self->psz, PROT_READ, MAP_SHARED, fd2, 0);
	ASSERT_NE(MAP_FAILED, p);
	snap(self);	/* fd2's buffer counts in the global stats */
	EXPECT_EQ(EINVAL, vl_lookup(self->fd, (unsigned long)p, &l));
	check_unchanged(_metadata, self);
	munmap(p, self->psz);
	close(fd2);
}

/* Statistics scopes. */

TEST_F(bad, stats_scope_2)
{
	struct vmalock_stats s;

	EXPECT_EQ(EINVAL, vl_stats(self->fd, 2, &s));
	check_unchanged(_metadata, self);
}

TEST_F(bad, stats_scope_all_ones)
{
	struct vmalock_stats s;

	EXPECT_EQ(EINVAL, vl_stats(self->fd, ~0U, &s));
	check_unchanged(_metadata, self);
}

TEST_F(bad, reset_scope_2)
{
	EXPECT_EQ(EINVAL, vl_reset(self->fd, 2));
	check_unchanged(_metadata, self);
}

/* mmap. */

TEST_F(bad, mmap_offset_beyond)
{
	EXPECT_EQ(EINVAL, mmap_err(NULL, self->psz, PROT_READ, MAP_SHARED, self->fd,
				   self->len));
	check_unchanged(_metadata, self);
}

TEST_F(bad, mmap_length_beyond)
{
	EXPECT_EQ(EINVAL, mmap_err(NULL, self->len + self->psz, PROT_READ, MAP_SHARED,
				   self->fd, 0));
	check_unchanged(_metadata, self);
}

TEST_F(bad, mmap_range_beyond)
{
	EXPECT_EQ(EINVAL, mmap_err(NULL, 2 * self->psz, PROT_READ, MAP_SHARED, self->fd,
				   self->len - self->psz));
	check_unchanged(_metadata, self);
}

TEST_F(bad, mmap_huge_offset)
{
	off_t off = (off_t)(0x7fffffffffffffffULL & ~(self->psz - 1ULL));

	EXPECT_EQ(EINVAL, mmap_err(NULL, self->psz, PROT_READ, MAP_SHARED, self->fd, off));
	check_unchanged(_metadata, self);
}

TEST_F(bad, mmap_unaligned_offset)
{
	EXPECT_EQ(EINVAL, mmap_err(NULL, self->psz, PROT_READ, MAP_SHARED, self->fd, 8));
	check_unchanged(_metadata, self);
}

TEST_F(bad, mmap_length_0)
{
	EXPECT_EQ(EINVAL, mmap_err(NULL, 0, PROT_READ, MAP_SHARED, self->fd, 0));
	check_unchanged(_metadata, self);
}

TEST_F(bad, mmap_private_writable)
{
	EXPECT_EQ(EINVAL, mmap_err(NULL, self->psz, PROT_READ | PROT_WRITE, MAP_PRIVATE,
				   self->fd, 0));
	check_unchanged(_metadata, self);
}

TEST_F(bad, mmap_pfn_private_writable)
{
	EXPECT_EQ(EINVAL, mmap_err(NULL, self->psz, PROT_READ | PROT_WRITE, MAP_PRIVATE,
				   self->fd, VMALOCK_PFN_OFFSET));
	EXPECT_EQ(EINVAL, mmap_err(NULL, self->psz, PROT_READ | PROT_WRITE, MAP_PRIVATE,
				   self->fd, VMALOCK_PFN_EAGER_OFFSET));
	check_unchanged(_metadata, self);
}

TEST_F(bad, mmap_pfn_range_beyond)
{
	EXPECT_EQ(EINVAL, mmap_err(NULL, 2 * self->psz, PROT_READ, MAP_SHARED, self->fd,
				   VMALOCK_PFN_OFFSET + self->len - self->psz));
	EXPECT_EQ(EINVAL, mmap_err(NULL, self->len + self->psz, PROT_READ, MAP_SHARED,
				   self->fd, VMALOCK_PFN_EAGER_OFFSET));
	/* Between the views. */
	EXPECT_EQ(EINVAL, mmap_err(NULL, self->psz, PROT_READ, MAP_SHARED, self->fd,
				   VMALOCK_PFN_OFFSET - self->psz));
	EXPECT_EQ(EINVAL, mmap_err(NULL, self->psz, PROT_READ, MAP_SHARED, self->fd,
				   VMALOCK_PFN_EAGER_OFFSET - self->psz));
	check_unchanged(_metadata, self);
}

TEST_F(bad, mmap_info_view)
{
	/* Writable (shared or private), two pages, or past its page. */
	EXPECT_EQ(EINVAL, mmap_err(NULL, self->psz, PROT_READ | PROT_WRITE, MAP_SHARED,
				   self->fd, VMALOCK_INFO_OFFSET));
	EXPECT_EQ(EINVAL, mmap_err(NULL, self->psz, PROT_READ | PROT_WRITE, MAP_PRIVATE,
				   self->fd, VMALOCK_INFO_OFFSET));
	EXPECT_EQ(EINVAL, mmap_err(NULL, 2 * self->psz, PROT_READ, MAP_SHARED, self->fd,
				   VMALOCK_INFO_OFFSET));
	EXPECT_EQ(EINVAL, mmap_err(NULL, self->psz, PROT_READ, MAP_SHARED, self->fd,
				   VMALOCK_INFO_OFFSET + self->psz));
	check_unchanged(_metadata, self);
}

TEST_F(bad, mremap_pfn_grow)
{
	char *p = mmap(NULL, self->psz, PROT_READ, MAP_SHARED, self->fd,
		       VMALOCK_PFN_OFFSET);

	ASSERT_NE(MAP_FAILED, p);
	snap(self);
	EXPECT_EQ(EFAULT, mremap_err(p, self->psz, 2 * self->psz, MREMAP_MAYMOVE));
	EXPECT_EQ(EFAULT, mremap_err(p, self->psz, 2 * self->psz, 0));
	check_unchanged(_metadata, self);
	EXPECT_EQ(0, munmap(p, self->psz));
}

TEST_F(bad, revoke_size_0)
{
	struct vmalock_revoke r[4] = { { .op = VMALOCK_REVOKE_REVOKE } };

	size_case(_metadata, self, VMALOCK_IOC_REVOKE, r, 0);
}

TEST_F(bad, revoke_size_long)
{
	struct vmalock_revoke r[4] = { { .op = VMALOCK_REVOKE_REVOKE } };

	size_case(_metadata, self, VMALOCK_IOC_REVOKE, r, sizeof(r[0]) + 8);
}

TEST_F(bad, revoke_op_unknown)
{
	struct vmalock_revoke r = { .size = sizeof(r), .op = 3 };

	EXPECT_EQ(EINVAL, vl_ioctl(self->fd, VMALOCK_IOC_REVOKE, &r));
	r.op = ~0U;
	EXPECT_EQ(EINVAL, vl_ioctl(self->fd, VMALOCK_IOC_REVOKE, &r));
	check_unchanged(_metadata, self);
}

TEST_F(bad, restore_not_revoked)
{
	EXPECT_EQ(EBUSY, vl_revoke(self->fd, VMALOCK_REVOKE_RESTORE));
	check_unchanged(_metadata, self);
}

TEST_F(bad, revoke_before_mmap)
{
	int fd = open(variant->dev, O_RDWR);

	ASSERT_LE(0, fd);
	EXPECT_EQ(EINVAL, vl_revoke(fd, VMALOCK_REVOKE_REVOKE));
	EXPECT_EQ(EINVAL, vl_revoke(fd, VMALOCK_REVOKE_RESTORE));
	EXPECT_EQ(0, file_stats(fd).revokes);
	close(fd);
	check_unchanged(_metadata, self);
}

TEST_F(bad, mmap_shared_writable_on_read_only_fd)
{
	int ro = open(variant->dev, O_RDONLY);

	ASSERT_LE(0, ro);
	EXPECT_EQ(EACCES, mmap_err(NULL, self->psz, PROT_READ | PROT_WRITE, MAP_SHARED,
				   ro, 0));
	close(ro);
	check_unchanged(_metadata, self);
}

/* mprotect, mremap and madvise on a mapping of the file. */

TEST_F(bad, mprotect_write_on_private_read_only)
{
	char *p = mmap(NULL, self->psz, PROT_READ, MAP_PRIVATE, self->fd, 0);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, vl_index(p));
	snap(self);
	EXPECT_EQ(-1, mprotect(p, self->psz, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(0, vl_index(p));
	check_unchanged(_metadata, self);
	munmap(p, self->psz);
}

TEST_F(bad, mremap_grow_in_place)
{
	EXPECT_EQ(EFAULT, mremap_err(self->map, self->len, self->len + self->psz, 0));
	check_unchanged(_metadata, self);
}

TEST_F(bad, mremap_grow_maymove)
{
	EXPECT_EQ(EFAULT, mremap_err(self->map, self->len, 2 * self->len, MREMAP_MAYMOVE));
	check_unchanged(_metadata, self);
}

TEST_F(bad, mremap_duplicate)
{
	/* old_len 0 asks for a second mapping of the same pages. */
	EXPECT_EQ(EFAULT, mremap_err(self->map, 0, self->psz, MREMAP_MAYMOVE));
	check_unchanged(_metadata, self);
}

TEST_F(bad, mremap_dontunmap)
{
	EXPECT_EQ(EINVAL, mremap_err(self->map, self->len, self->len,
				     MREMAP_MAYMOVE | MREMAP_DONTUNMAP));
	check_unchanged(_metadata, self);
}

TEST_F(bad, mremap_across_vma_end)
{
	char *dst;

	/*
	 * 7.x moves every VMA of the range (for files without
	 * ->get_unmapped_area): the input is only bad where a move must stay
	 * within one VMA, as before 7.0.
	 */
	if (ksft_min_kernel_version(7, 0))
		SKIP(return, "mremap() moves across VMAs on this kernel");
	dst = mmap(NULL, self->len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* MREMAP_FIXED: a same-size remap in place succeeds without a look. */
	ASSERT_NE(MAP_FAILED, dst);
	EXPECT_EQ(MAP_FAILED, mremap(self->map + self->psz, self->len, self->len,
				     MREMAP_MAYMOVE | MREMAP_FIXED, dst));
	EXPECT_EQ(EFAULT, errno);
	check_unchanged(_metadata, self);
	munmap(dst, self->len);
}

TEST_F(bad, mremap_unaligned)
{
	EXPECT_EQ(EINVAL, mremap_err(self->map + 8, self->psz, self->psz, MREMAP_MAYMOVE));
	check_unchanged(_metadata, self);
}

TEST_F(bad, madvise_bad_advice)
{
	if (!vl_have_madvise())
		SKIP(return, NO_MADVISE);
	EXPECT_EQ(-1, madvise(self->map, self->len, 12345));
	EXPECT_EQ(EINVAL, errno);
	check_unchanged(_metadata, self);
}

TEST_F(bad, madvise_free_file_mapping)
{
	if (!vl_have_madvise())
		SKIP(return, NO_MADVISE);
	EXPECT_EQ(-1, madvise(self->map, self->len, MADV_FREE));
	EXPECT_EQ(EINVAL, errno);
	check_unchanged(_metadata, self);
}

TEST_F(bad, madvise_unaligned)
{
	if (!vl_have_madvise())
		SKIP(return, NO_MADVISE);
	EXPECT_EQ(-1, madvise(self->map + 8, self->psz, MADV_DONTNEED));
	EXPECT_EQ(EINVAL, errno);
	check_unchanged(_metadata, self);
}

TEST_F(bad, madvise_remove)
{
	if (!vl_have_madvise())
		SKIP(return, NO_MADVISE);
	/* Punching a hole needs a regular file or block device. */
	EXPECT_EQ(-1, madvise(self->map, self->psz, MADV_REMOVE));
	EXPECT_EQ(ENODEV, errno);
	check_unchanged(_metadata, self);
}

TEST_HARNESS_MAIN
