// SPDX-License-Identifier: GPL-2.0
/*
 * make demo: the same short sequence on /dev/rust-vmalock and its C twin
 * /dev/c-vmalock, printed side by side. Map and touch pages, show which lock
 * served the faults (device counters and /proc/vmstat), look the VMA up, zap
 * the range while two threads keep faulting it in, force the mmap-lock path
 * for contrast, map the pages as page frames (the PFN view, faulted, and the
 * eager PFN view, mapped at mmap time) and revoke both, and print the global
 * counters.
 *
 * Exits 1 if a page header is wrong, if a thread read an older generation
 * than a ZAP had returned, if a revoked page is readable, or if a call
 * fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmalock.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define NR_DEVS		2
#define NR_PAGES	VMALOCK_DEFAULT_PAGES
#define NR_READERS	2
#define NR_ZAPS		5
#define ZAP_GAP_US	30000

struct dev {
	const char *name;
	int fd;
	char *map;
};

static struct dev devs[NR_DEVS] = {
	{ .name = "rust-vmalock" },
	{ .name = "c-vmalock" },
};

static long psz;
static int failed;

enum { VM_SUCCESS, VM_ABORT, VM_RETRY, VM_MISS, NR_VMSTAT };

static const char * const vmstat_names[NR_VMSTAT] = {
	"vma_lock_success", "vma_lock_abort", "vma_lock_retry", "vma_lock_miss",
};

/* What one device did during a step. */
struct window {
	unsigned long vm0[NR_VMSTAT];
	unsigned long vm[NR_VMSTAT];	/* /proc/vmstat deltas */
	struct vmalock_stats st;	/* counters of the open file */
};

static void die(const struct dev *d, const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", d ? d->name : "demo", what,
		strerror(errno));
	exit(1);
}

static void xioctl(struct dev *d, unsigned long req, void *arg,
		   const char *what)
{
	if (ioctl(d->fd, req, arg))
		die(d, what);
}

static void vmstat_read(unsigned long *v)
{
	unsigned long val;
	char key[64];
	FILE *f;
	int i;

	memset(v, 0, NR_VMSTAT * sizeof(*v));
	f = fopen("/proc/vmstat", "r");
	if (!f)
		return;
	while (fscanf(f, "%63s %lu", key, &val) == 2)
		for (i = 0; i < NR_VMSTAT; i++)
			if (!strcmp(key, vmstat_names[i]))
				v[i] = val;
	fclose(f);
}

static void stats(struct dev *d, __u32 scope, struct vmalock_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->scope = scope;
	xioctl(d, VMALOCK_IOC_GET_STATS, st, "GET_STATS");
}

static void window_start(struct dev *d, struct window *w)
{
	__u32 scope = VMALOCK_STATS_FILE;

	xioctl(d, VMALOCK_IOC_RESET_STATS, &scope, "RESET_STATS");
	vmstat_read(w->vm0);
}

static void window_end(struct dev *d, struct window *w)
{
	int i;

	vmstat_read(w->vm);
	for (i = 0; i < NR_VMSTAT; i++)
		w->vm[i] -= w->vm0[i];
	stats(d, VMALOCK_STATS_FILE, &w->st);
}

/* Table rows: a label and one column per device. */
static void title(const char *t)
{
	printf("\n%-46s%14s%14s\n", t, devs[0].name, devs[1].name);
}

static void row_str(const char *label, const char *a, const char *b)
{
	printf("  %-44s%14s%14s\n", label, a, b);
}

static void row(const char *label, unsigned long long a, unsigned long long b)
{
	printf("  %-44s%14llu%14llu\n", label, a, b);
}

/* A counter of struct vmalock_stats, by its offset, for each device. */
#define STAT(field) offsetof(struct vmalock_stats, field)

static void row_stat(const char *label, const struct window *w, size_t off)
{
	const char *a = (const char *)&w[0].st + off;
	const char *b = (const char *)&w[1].st + off;

	row(label, *(const __u64 *)a, *(const __u64 *)b);
}

static void row_vmstat(const struct window *w)
{
	char cell[NR_DEVS][32];
	int i;

	for (i = 0; i < NR_DEVS; i++)
		snprintf(cell[i], sizeof(cell[i]), "+%lu", w[i].vm[VM_SUCCESS]);
	row_str("/proc/vmstat vma_lock_success", cell[0], cell[1]);
	for (i = 0; i < NR_DEVS; i++)
		snprintf(cell[i], sizeof(cell[i]), "+%lu/+%lu/+%lu",
			 w[i].vm[VM_ABORT], w[i].vm[VM_RETRY], w[i].vm[VM_MISS]);
	row_str("/proc/vmstat vma_lock_abort/retry/miss", cell[0], cell[1]);
}

static __u64 page_index(const char *page)
{
	const struct vmalock_page_header *h = (const void *)page;

	return __atomic_load_n(&h->index, __ATOMIC_RELAXED);
}

static __u64 page_gen(const char *page)
{
	const struct vmalock_page_header *h = (const void *)page;

	return __atomic_load_n(&h->generation, __ATOMIC_RELAXED);
}

/* Reads every page header; returns how many are right. */
static int touch(struct dev *d, __u64 gen)
{
	int i, ok = 0;

	for (i = 0; i < NR_PAGES; i++) {
		const char *page = d->map + i * psz;

		ok += page_index(page) == (__u64)i && page_gen(page) == gen;
	}
	if (ok != NR_PAGES)
		failed = 1;
	return ok;
}

static char *map_dev(struct dev *d, int prot)
{
	d->map = mmap(NULL, NR_PAGES * psz, prot, MAP_SHARED, d->fd, 0);
	if (d->map == MAP_FAILED)
		die(d, "mmap");
	return d->map;
}

static void step_map(void)
{
	struct window w[NR_DEVS];
	int ok[NR_DEVS], i;

	for (i = 0; i < NR_DEVS; i++) {
		map_dev(&devs[i], PROT_READ | PROT_WRITE);
		window_start(&devs[i], &w[i]);
		ok[i] = touch(&devs[i], 0);
		window_end(&devs[i], &w[i]);
	}
	title("== 1. mmap(MAP_SHARED) 64 pages, read each");
	row("page headers right (index, generation 0)", ok[0], ok[1]);
	row_stat("faults under the per-VMA lock", w, STAT(faults_vma));
	row_stat("faults under the mmap lock", w, STAT(faults_mmap));
	row_stat("->map_pages calls (fault-around; none with 64K pages)", w, STAT(map_pages));
	row_vmstat(w);
}

static const char *lock_name(__u32 lock)
{
	return lock == VMALOCK_LOCK_VMA ? "per-VMA lock" :
	       lock == VMALOCK_LOCK_MMAP ? "mmap lock" : "?";
}

static __u32 lookup(struct dev *d, int *same)
{
	struct vmalock_lookup l = { .size = sizeof(l) };

	l.addr = (unsigned long)d->map + psz;
	xioctl(d, VMALOCK_IOC_LOOKUP, &l, "LOOKUP");
	*same = l.start == (unsigned long)d->map &&
		l.end == (unsigned long)d->map + NR_PAGES * psz && !l.pgoff;
	return l.lock;
}

static void step_lookup(void)
{
	__u32 lock[NR_DEVS];
	int same[NR_DEVS], i;

	for (i = 0; i < NR_DEVS; i++)
		lock[i] = lookup(&devs[i], &same[i]);
	title("== 2. LOOKUP of an address in the mapping");
	row_str("VMA found: the mapping, pgoff 0", same[0] ? "yes" : "NO",
		same[1] ? "yes" : "NO");
	row_str("served under the", lock_name(lock[0]), lock_name(lock[1]));
	if (lock[1] == VMALOCK_LOCK_MMAP)
		printf("  (c_vmalock: lock_vma_under_rcu() is not exported to modules here)\n");
	if (!same[0] || !same[1])
		failed = 1;
}

/* A thread that drops the pages of the mapping and reads them back. */
struct reader {
	pthread_t tid;
	struct dev *d;
	unsigned long reads;	/* page headers read during the ZAPs */
	unsigned long stale;	/* older than a ZAP that had returned */
	unsigned long wrong;	/* wrong index */
	int err;		/* errno of a failed madvise */
};

static int ready, go, stop;
static __u64 last_zap_gen;	/* generation returned by the last ZAP */

static int read_pass(struct reader *r)
{
	int i;

	if (madvise(r->d->map, NR_PAGES * psz, MADV_DONTNEED)) {
		r->err = errno;
		return -1;
	}
	for (i = 0; i < NR_PAGES; i++) {
		__u64 floor = __atomic_load_n(&last_zap_gen, __ATOMIC_ACQUIRE);
		const char *page = r->d->map + i * psz;

		r->stale += page_gen(page) < floor;
		r->wrong += page_index(page) != (__u64)i;
		r->reads++;
	}
	return 0;
}

static void *reader_fn(void *arg)
{
	struct reader *r = arg;

	/* A first pass out of the measured window, then wait for the go. */
	if (read_pass(r))
		return NULL;
	r->reads = 0;
	__atomic_add_fetch(&ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
		sched_yield();
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
		if (read_pass(r))
			break;
	return NULL;
}

struct zap_result {
	struct window w;
	struct reader r[NR_READERS];
	__u64 gen0, gen;
	unsigned long zaps, marks;
};

static __u64 generation(struct dev *d)
{
	struct vmalock_info info = { .size = sizeof(info) };

	xioctl(d, VMALOCK_IOC_GET_INFO, &info, "GET_INFO");
	return info.generation;
}

static void zap_under_faults(struct dev *d, struct zap_result *z)
{
	int i;

	memset(z, 0, sizeof(*z));
	z->gen0 = generation(d);
	last_zap_gen = z->gen0;
	ready = 0;
	go = 0;
	stop = 0;
	for (i = 0; i < NR_READERS; i++) {
		z->r[i].d = d;
		errno = pthread_create(&z->r[i].tid, NULL, reader_fn, &z->r[i]);
		if (errno)
			die(d, "pthread_create");
	}
	while (__atomic_load_n(&ready, __ATOMIC_ACQUIRE) < NR_READERS)
		usleep(1000);

	window_start(d, &z->w);
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
	for (i = 0; i < NR_ZAPS; i++) {
		struct vmalock_zap zap = { .size = sizeof(zap) };

		usleep(ZAP_GAP_US);
		zap.addr = (unsigned long)d->map;
		zap.len = NR_PAGES * psz;
		xioctl(d, VMALOCK_IOC_ZAP, &zap, "ZAP");
		__atomic_store_n(&last_zap_gen, zap.generation, __ATOMIC_RELEASE);
		z->gen = zap.generation;
		z->zaps++;
		z->marks += zap.vmas;
	}
	usleep(ZAP_GAP_US);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < NR_READERS; i++) {
		pthread_join(z->r[i].tid, NULL);
		if (z->r[i].err) {
			errno = z->r[i].err;
			die(d, "madvise(MADV_DONTNEED)");
		}
		if (z->r[i].stale || z->r[i].wrong)
			failed = 1;
	}
	window_end(d, &z->w);
}

static void step_zap(void)
{
	static struct zap_result z[NR_DEVS];
	struct window w[NR_DEVS];
	char cell[NR_DEVS][32], label[64];
	int i;

	for (i = 0; i < NR_DEVS; i++) {
		zap_under_faults(&devs[i], &z[i]);
		w[i] = z[i].w;
	}
	title("== 3. 5 ZAPs while 2 threads re-fault");
	printf("  (each thread: MADV_DONTNEED all, read all headers, repeat)\n");
	for (i = 0; i < NR_DEVS; i++)
		snprintf(cell[i], sizeof(cell[i]), "%lu / %lu",
			 z[i].zaps, z[i].marks);
	row_str("ZAPs returned / VMAs write-marked", cell[0], cell[1]);
	for (i = 0; i < NR_DEVS; i++)
		snprintf(cell[i], sizeof(cell[i]), "%llu -> %llu",
			 z[i].gen0, z[i].gen);
	row_str("generation", cell[0], cell[1]);
	for (i = 0; i < NR_READERS; i++) {
		snprintf(label, sizeof(label), "page headers read by thread %d", i + 1);
		row(label, z[0].r[i].reads, z[1].r[i].reads);
	}
	row("  older than a ZAP that had returned",
	    z[0].r[0].stale + z[0].r[1].stale, z[1].r[0].stale + z[1].r[1].stale);
	row("  with a wrong index",
	    z[0].r[0].wrong + z[0].r[1].wrong, z[1].r[0].wrong + z[1].r[1].wrong);
	row_stat("faults under the per-VMA lock", w, STAT(faults_vma));
	row_stat("faults under the mmap lock (ZAP running)", w, STAT(faults_mmap));
	row_stat("pages zapped", w, STAT(pages_zapped));
	row_vmstat(w);
	printf("  (vmstat also counts faults that found the page mapped by the other thread)\n");
}

static void step_forced(void)
{
	__u32 mode = VMALOCK_MODE_FORCE_MMAP, lock[NR_DEVS];
	struct window w[NR_DEVS];
	int ok[NR_DEVS], same, i;

	for (i = 0; i < NR_DEVS; i++) {
		struct dev *d = &devs[i];

		if (munmap(d->map, NR_PAGES * psz))
			die(d, "munmap");
		xioctl(d, VMALOCK_IOC_SET_MODE, &mode, "SET_MODE");
		map_dev(d, PROT_READ);
		window_start(d, &w[i]);
		ok[i] = touch(d, generation(d));
		lock[i] = lookup(d, &same);
		window_end(d, &w[i]);
	}
	title("== 4. SET_MODE FORCE_MMAP, map, read each");
	row("page headers right (index, last generation)", ok[0], ok[1]);
	row_stat("faults under the per-VMA lock", w, STAT(faults_vma));
	row_stat("retries asked under the per-VMA lock", w, STAT(retries));
	row_stat("faults under the mmap lock", w, STAT(faults_mmap));
	row_vmstat(w);
	row_str("LOOKUP served under the", lock_name(lock[0]), lock_name(lock[1]));
}

static sigjmp_buf probe_env;

static void probe_sigbus(int sig)
{
	siglongjmp(probe_env, 1);
}

/* How many pages of a mapping can be read; the others raise SIGBUS. */
static int readable(const char *map)
{
	struct sigaction sa = { .sa_handler = probe_sigbus }, old;
	int i, ok = 0;

	/* Nothing local changes between sigsetjmp() and a SIGBUS. */
	sigaction(SIGBUS, &sa, &old);
	for (i = 0; i < NR_PAGES; i++)
		if (!sigsetjmp(probe_env, 1) && page_index(map + i * psz) != ~0ULL)
			ok++;
	sigaction(SIGBUS, &old, NULL);
	return ok;
}

static void step_pfn(void)
{
	struct vmalock_revoke rv = { .size = sizeof(rv) };
	int ok[NR_DEVS], gone[NR_DEVS], back[NR_DEVS], i;
	int egone[NR_DEVS], eback[NR_DEVS];
	__u32 mode = VMALOCK_MODE_DEFAULT;
	struct window w[NR_DEVS], r[NR_DEVS];
	char *pfn[NR_DEVS], *eager[NR_DEVS];

	for (i = 0; i < NR_DEVS; i++) {
		struct dev *d = &devs[i];

		xioctl(d, VMALOCK_IOC_SET_MODE, &mode, "SET_MODE");
		pfn[i] = mmap(NULL, NR_PAGES * psz, PROT_READ, MAP_SHARED, d->fd,
			      VMALOCK_PFN_OFFSET);
		if (pfn[i] == MAP_FAILED)
			die(d, "mmap of the PFN view");
		window_start(d, &w[i]);
		d->map = pfn[i];
		ok[i] = touch(d, generation(d));
		window_end(d, &w[i]);
		window_start(d, &r[i]);
		/* The eager view: every page mapped by mmap, before any fault. */
		eager[i] = mmap(NULL, NR_PAGES * psz, PROT_READ, MAP_SHARED, d->fd,
				VMALOCK_PFN_EAGER_OFFSET);
		if (eager[i] == MAP_FAILED)
			die(d, "mmap of the eager PFN view");
		rv.op = VMALOCK_REVOKE_REVOKE;
		xioctl(d, VMALOCK_IOC_REVOKE, &rv, "REVOKE");
		gone[i] = readable(pfn[i]);
		egone[i] = readable(eager[i]);
		rv.op = VMALOCK_REVOKE_RESTORE;
		xioctl(d, VMALOCK_IOC_REVOKE, &rv, "RESTORE");
		back[i] = readable(pfn[i]);
		eback[i] = readable(eager[i]);
		window_end(d, &r[i]);
		munmap(eager[i], NR_PAGES * psz);
		if (gone[i] || back[i] != NR_PAGES || egone[i] || eback[i] != NR_PAGES)
			failed = 1;
	}
	title("== 5. SET_MODE DEFAULT, map the PFN view (VM_PFNMAP), read each");
	row("page headers right (index, last generation)", ok[0], ok[1]);
	row_stat("faults in the PFN view (vmf_insert_pfn_prot)", w, STAT(pfn_faults));
	row_stat("faults under the per-VMA lock", w, STAT(faults_vma));
	row_stat("faults under the mmap lock", w, STAT(faults_mmap));
	row_vmstat(w);
	title("== 6. Map the eager PFN view; REVOKE, read both; RESTORE, read both");
	row_stat("eager pages mapped at mmap (pfn_remaps)", r, STAT(pfn_remaps));
	row("PFN pages readable after REVOKE", gone[0], gone[1]);
	row("eager pages readable after REVOKE", egone[0], egone[1]);
	row("PFN pages readable after RESTORE", back[0], back[1]);
	row("eager pages readable after RESTORE", eback[0], eback[1]);
	row_stat("faults in the PFN views", r, STAT(pfn_faults));
	row_stat("revocations", r, STAT(revokes));
	for (i = 0; i < NR_DEVS; i++)
		devs[i].map = pfn[i];
}

static void step_global(void)
{
	static const char * const names[] = {
		"faults_vma", "faults_mmap", "retries", "map_pages",
		"lookups_vma", "lookups_mmap", "write_marks", "pages_zapped",
		"vma_opens", "vma_closes", "pfn_faults", "pfn_remaps",
		"revokes", "buffers", "buffers_freed", "drops_vma", "drops_mmap",
	};
	struct window g[NR_DEVS];
	int i;

	for (i = 0; i < NR_DEVS; i++) {
		if (munmap(devs[i].map, NR_PAGES * psz))
			die(&devs[i], "munmap");
		stats(&devs[i], VMALOCK_STATS_GLOBAL, &g[i].st);
	}
	title("== 7. VMALOCK_STATS_GLOBAL (since load)");
	/* The counters follow one another from faults_vma on. */
	for (i = 0; i < (int)ARRAY_SIZE(names); i++)
		row_stat(names[i], g, STAT(faults_vma) + i * sizeof(__u64));
}

int main(void)
{
	char path[64];
	int i;

	psz = getpagesize();
	setvbuf(stdout, NULL, _IOLBF, 0);
	/*
	 * Fault in everything the program has mapped so far, so that its own
	 * faults stay out of the /proc/vmstat deltas.
	 */
	if (mlockall(MCL_CURRENT))
		die(NULL, "mlockall");
	for (i = 0; i < NR_DEVS; i++) {
		snprintf(path, sizeof(path), "/dev/%s", devs[i].name);
		devs[i].fd = open(path, O_RDWR);
		if (devs[i].fd < 0)
			die(&devs[i], "open");
	}
	step_map();
	step_lookup();
	step_zap();
	step_forced();
	step_pfn();
	step_global();
	for (i = 0; i < NR_DEVS; i++)
		close(devs[i].fd);
	printf("\n%s\n", failed ? "FAILED: see the rows above" :
	       "all page headers right, no stale read after a ZAP, no page readable after REVOKE");
	return failed;
}
