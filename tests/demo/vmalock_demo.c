// SPDX-License-Identifier: GPL-2.0
/*
 * make demo: map /dev/rust-vmalock, touch its pages, show which lock served
 * the faults, look up the VMA, zap it with write marking, then force the
 * mmap-lock path for contrast.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmalock.h"

static unsigned long vmstat(const char *name)
{
	char key[64];
	unsigned long val, ret = 0;
	FILE *f = fopen("/proc/vmstat", "r");

	while (f && fscanf(f, "%63s %lu", key, &val) == 2)
		if (!strcmp(key, name))
			ret = val;
	if (f)
		fclose(f);
	return ret;
}

static void show(int fd, const char *what, unsigned long ok0, unsigned long retry0)
{
	struct vmalock_stats s = { .size = sizeof(s) };

	ioctl(fd, VMALOCK_IOC_GET_STATS, &s);
	printf("%-34s faults: %3llu under VMA lock, %3llu under mmap lock, %3llu retries\n",
	       what, s.faults_vma, s.faults_mmap, s.retries);
	printf("%-34s map_pages %llu, write marks %llu, pages zapped %llu\n", "",
	       s.map_pages, s.write_marks, s.pages_zapped);
	printf("%-34s /proc/vmstat vma_lock_success +%lu, vma_lock_retry +%lu\n", "",
	       vmstat("vma_lock_success") - ok0, vmstat("vma_lock_retry") - retry0);
}

static void touch(char *map, long psz, int n, unsigned long long gen)
{
	int bad = 0;

	for (int i = 0; i < n; i++) {
		struct vmalock_page_header *h = (void *)(map + i * psz);

		bad += h->index != (unsigned long long)i || h->generation != gen;
	}
	printf("touched %d pages: %s (generation %llu)\n", n, bad ? "WRONG CONTENT" : "content ok", gen);
}

int main(void)
{
	long psz = getpagesize();
	int n = VMALOCK_DEFAULT_PAGES;
	struct vmalock_lookup l = { .size = sizeof(l) };
	struct vmalock_zap z = { .size = sizeof(z) };
	__u32 mode = VMALOCK_MODE_FORCE_MMAP;
	unsigned long ok0 = vmstat("vma_lock_success"), retry0 = vmstat("vma_lock_retry");
	int fd = open("/dev/rust-vmalock", O_RDWR);
	char *map;

	if (fd < 0)
		return perror("open /dev/rust-vmalock"), 1;
	map = mmap(NULL, n * psz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return perror("mmap"), 1;
	printf("== mmap %d pages of /dev/rust-vmalock at %p\n", n, map);
	touch(map, psz, n, 0);
	show(fd, "default mode:", ok0, retry0);

	l.addr = (unsigned long)map + psz;
	if (!ioctl(fd, VMALOCK_IOC_LOOKUP, &l))
		printf("\n== LOOKUP %#llx: VMA %#llx-%#llx pgoff %llu, served under the %s lock\n",
		       l.addr, l.start, l.end, l.pgoff,
		       l.lock == VMALOCK_LOCK_VMA ? "per-VMA" : "mmap");

	z.addr = (unsigned long)map;
	z.len = n * psz;
	if (!ioctl(fd, VMALOCK_IOC_ZAP, &z))
		printf("\n== ZAP: mmap write lock, %llu VMA write-marked, generation now %llu\n",
		       z.vmas, z.generation);
	touch(map, psz, n, z.generation);
	show(fd, "after zap and re-fault:", ok0, retry0);

	munmap(map, n * psz);
	ioctl(fd, VMALOCK_IOC_RESET_STATS);
	ioctl(fd, VMALOCK_IOC_SET_MODE, &mode);
	ok0 = vmstat("vma_lock_success");
	retry0 = vmstat("vma_lock_retry");
	map = mmap(NULL, n * psz, PROT_READ, MAP_SHARED, fd, 0);
	printf("\n== forced mmap-lock mode: the fault handler asks for a retry under the VMA lock\n");
	touch(map, psz, n, z.generation);
	show(fd, "forced mode:", ok0, retry0);
	return 0;
}
