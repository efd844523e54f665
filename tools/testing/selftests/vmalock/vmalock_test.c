// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of the vmalock sample device: mapping, faults under the per-VMA
 * lock, the forced mmap-lock mode, VMA lookup, write-marking zap, VMA
 * split/fork bookkeeping and bad input.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmalock.h"
#include "../kselftest_harness.h"

static unsigned long read_vmstat(const char *name)
{
	char key[64];
	unsigned long val, ret = 0;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return 0;
	while (fscanf(f, "%63s %lu", key, &val) == 2)
		if (!strcmp(key, name))
			ret = val;
	fclose(f);
	return ret;
}

FIXTURE(vmalock) {
	int fd;
	long psz;
	size_t len;
	char *map;
};

FIXTURE_VARIANT(vmalock) {
	const char *dev;
};

FIXTURE_VARIANT_ADD(vmalock, rust) {
	.dev = "/dev/rust-vmalock",
};

FIXTURE_SETUP(vmalock)
{
	self->psz = getpagesize();
	self->len = VMALOCK_DEFAULT_PAGES * self->psz;
	self->map = MAP_FAILED;
	self->fd = open(variant->dev, O_RDWR);
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %s", variant->dev, strerror(errno));
}

FIXTURE_TEARDOWN(vmalock)
{
	if (self->map != MAP_FAILED)
		munmap(self->map, self->len);
	close(self->fd);
}

static char *map_all(int fd, size_t len)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
}

static struct vmalock_stats get_stats(int fd)
{
	struct vmalock_stats s = { .size = sizeof(s) };

	if (ioctl(fd, VMALOCK_IOC_GET_STATS, &s))
		memset(&s, 0xff, sizeof(s));
	return s;
}

static int check_pages(char *map, long psz, size_t n, __u64 gen)
{
	for (size_t i = 0; i < n; i++) {
		struct vmalock_page_header *h = (void *)(map + i * psz);

		if (h->index != i || h->generation != gen)
			return -1;
	}
	return 0;
}

TEST_F(vmalock, faults_under_vma_lock)
{
	unsigned long success = read_vmstat("vma_lock_success");
	struct vmalock_stats s;
	char *map;

	self->map = map_all(self->fd, self->len);
	map = self->map;
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, check_pages(map, self->psz, VMALOCK_DEFAULT_PAGES, 0));
	s = get_stats(self->fd);
	EXPECT_EQ(VMALOCK_DEFAULT_PAGES, s.faults_vma);
	EXPECT_EQ(0, s.faults_mmap);
	EXPECT_EQ(0, s.retries);
	EXPECT_LT(0, s.map_pages);
	EXPECT_LE(success + VMALOCK_DEFAULT_PAGES, read_vmstat("vma_lock_success"));
}

TEST_F(vmalock, forced_mmap_lock_mode)
{
	__u32 mode = VMALOCK_MODE_FORCE_MMAP;
	unsigned long retry = read_vmstat("vma_lock_retry");
	struct vmalock_info info = { .size = sizeof(info) };
	struct vmalock_stats s;
	char *map;

	ASSERT_EQ(0, ioctl(self->fd, VMALOCK_IOC_SET_MODE, &mode));
	ASSERT_EQ(0, ioctl(self->fd, VMALOCK_IOC_GET_INFO, &info));
	EXPECT_EQ(VMALOCK_MODE_FORCE_MMAP, info.mode);
	self->map = map_all(self->fd, self->len);
	map = self->map;
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, check_pages(map, self->psz, VMALOCK_DEFAULT_PAGES, 0));
	s = get_stats(self->fd);
	EXPECT_EQ(0, s.faults_vma);
	EXPECT_EQ(VMALOCK_DEFAULT_PAGES, s.faults_mmap);
	EXPECT_EQ(VMALOCK_DEFAULT_PAGES, s.retries);
	EXPECT_LE(retry + VMALOCK_DEFAULT_PAGES, read_vmstat("vma_lock_retry"));
}

TEST_F(vmalock, lookup)
{
	struct vmalock_lookup l = { .size = sizeof(l) };
	char *map;
	int local;

	self->map = map_all(self->fd, self->len);
	map = self->map;
	ASSERT_NE(MAP_FAILED, map);
	l.addr = (unsigned long)map + 3 * self->psz;
	ASSERT_EQ(0, ioctl(self->fd, VMALOCK_IOC_LOOKUP, &l));
	EXPECT_EQ(VMALOCK_LOCK_VMA, l.lock);
	EXPECT_EQ((unsigned long)map, l.start);
	EXPECT_EQ((unsigned long)map + self->len, l.end);
	EXPECT_EQ(0, l.pgoff);
	EXPECT_EQ(1, get_stats(self->fd).lookups_vma);

	/* Another mapping (the stack) is not described. */
	l.addr = (unsigned long)&local;
	EXPECT_EQ(-1, ioctl(self->fd, VMALOCK_IOC_LOOKUP, &l));
	EXPECT_EQ(EINVAL, errno);
	/* No VMA at all. */
	l.addr = 0;
	EXPECT_EQ(-1, ioctl(self->fd, VMALOCK_IOC_LOOKUP, &l));
	EXPECT_EQ(ENOENT, errno);
	/* Wrong size. */
	l.size = 8;
	l.addr = (unsigned long)map;
	EXPECT_EQ(-1, ioctl(self->fd, VMALOCK_IOC_LOOKUP, &l));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(vmalock, zap_bumps_generation)
{
	struct vmalock_zap z = { .size = sizeof(z) };
	char *map;
	struct vmalock_stats s;

	self->map = map_all(self->fd, self->len);
	map = self->map;
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, check_pages(map, self->psz, VMALOCK_DEFAULT_PAGES, 0));
	z.addr = (unsigned long)map;
	z.len = self->len;
	ASSERT_EQ(0, ioctl(self->fd, VMALOCK_IOC_ZAP, &z));
	EXPECT_EQ(1, z.generation);
	EXPECT_EQ(1, z.vmas);
	ASSERT_EQ(0, check_pages(map, self->psz, VMALOCK_DEFAULT_PAGES, 1));
	s = get_stats(self->fd);
	EXPECT_EQ(1, s.write_marks);
	EXPECT_EQ(VMALOCK_DEFAULT_PAGES, s.pages_zapped);
	EXPECT_EQ(2 * VMALOCK_DEFAULT_PAGES, s.faults_vma);

	/* Misaligned, empty or foreign ranges change nothing. */
	z.addr = (unsigned long)map + 1;
	EXPECT_EQ(-1, ioctl(self->fd, VMALOCK_IOC_ZAP, &z));
	EXPECT_EQ(EINVAL, errno);
	z.addr = (unsigned long)map;
	z.len = 0;
	EXPECT_EQ(-1, ioctl(self->fd, VMALOCK_IOC_ZAP, &z));
	EXPECT_EQ(EINVAL, errno);
	z.addr = 0;
	z.len = self->psz;
	EXPECT_EQ(-1, ioctl(self->fd, VMALOCK_IOC_ZAP, &z));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(1, get_stats(self->fd).write_marks);
}

TEST_F(vmalock, split_and_fork_keep_vma_refs_balanced)
{
	char *map;
	struct vmalock_stats s;
	pid_t pid;
	int status;

	self->map = map_all(self->fd, self->len);
	map = self->map;
	ASSERT_NE(MAP_FAILED, map);
	/* Split into three VMAs. */
	ASSERT_EQ(0, mprotect(map + self->psz, self->psz, PROT_READ));
	ASSERT_EQ(0, check_pages(map, self->psz, VMALOCK_DEFAULT_PAGES, 0));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid)
		_exit(check_pages(map, self->psz, VMALOCK_DEFAULT_PAGES, 0) ? 1 : 0);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(0, munmap(map, self->len));
	self->map = MAP_FAILED;
	s = get_stats(self->fd);
	/* Two splits, three VMAs copied by fork; every VMA closed. */
	EXPECT_EQ(5, s.vma_opens);
	EXPECT_EQ(s.vma_opens + 1, s.vma_closes);
}

TEST_F(vmalock, bad_input)
{
	struct vmalock_info info = { .size = sizeof(info) };
	__u64 npages = 0;
	char *p;

	EXPECT_EQ(-1, ioctl(self->fd, _IO(VMALOCK_IOC_MAGIC, 99)));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(self->fd, VMALOCK_IOC_GET_INFO, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(self->fd, VMALOCK_IOC_SET_SIZE, &npages));
	EXPECT_EQ(EINVAL, errno);
	npages = VMALOCK_MAX_PAGES + 1;
	EXPECT_EQ(-1, ioctl(self->fd, VMALOCK_IOC_SET_SIZE, &npages));
	EXPECT_EQ(EINVAL, errno);
	npages = 2;
	EXPECT_EQ(0, ioctl(self->fd, VMALOCK_IOC_SET_SIZE, &npages));
	ASSERT_EQ(0, ioctl(self->fd, VMALOCK_IOC_GET_INFO, &info));
	EXPECT_EQ(2, info.npages);
	/* Beyond the buffer, by length or by offset. */
	p = mmap(NULL, 3 * self->psz, PROT_READ, MAP_SHARED, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, self->psz, PROT_READ, MAP_SHARED, self->fd, 2 * self->psz);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* A writable private mapping is refused. */
	p = mmap(NULL, self->psz, PROT_READ | PROT_WRITE, MAP_PRIVATE, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* The size is fixed once mapped; mremap cannot grow the mapping. */
	p = mmap(NULL, self->psz, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, ioctl(self->fd, VMALOCK_IOC_SET_SIZE, &npages));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(MAP_FAILED, mremap(p, self->psz, 2 * self->psz, MREMAP_MAYMOVE));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(0, munmap(p, self->psz));
}

TEST_HARNESS_MAIN
