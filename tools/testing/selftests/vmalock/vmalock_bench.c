// SPDX-License-Identifier: GPL-2.0
/*
 * Fault-path benchmark of the vmalock sample devices.
 *
 * Each worker thread maps a region of its own (a buffer of its own open
 * file of /dev/rust-vmalock or /dev/c-vmalock, or anonymous memory), then
 * loops: drop the region's pages and write-touch every page again, one page
 * fault per touch. By default the device's pages are dropped with its DROP
 * ioctl (the per-VMA lock alone, or the mmap read lock in the forced mode,
 * and for the 6.12 C twin, which cannot take the per-VMA lock), anonymous
 * memory with MADV_DONTNEED. -R madvise uses MADV_DONTNEED for the devices
 * too (the mmap read lock on 6.12). On kernels without madvise
 * (CONFIG_ADVISE_SYSCALLS=n) the device's ZAP ioctl or mmap(MAP_FIXED) over
 * anonymous memory drop them (mmap write lock). The FAULT_PFN operation
 * does the same in the device's PFN view (VM_PFNMAP, vmf_insert_pfn_prot),
 * whose pages only DROP and ZAP drop: MADV_DONTNEED refuses PFN maps. The
 * LOOKUP operation instead loops on VMALOCK_IOC_LOOKUP over the region.
 *
 * A case is an operation on a target in a mode with a number of threads,
 * alone or with a writer thread that loops on an unrelated anonymous region
 * of its own. The writers separate the two costs a writer can put on
 * faults elsewhere in the address space (-W picks them; the first one also
 * runs against every other case):
 *   mmap      mmap/munmap of memory never touched: the mmap write lock,
 *             no page table and no TLB flush;
 *   mprotect  split and merge a VMA of memory never touched: the same;
 *   populate  mmap with MAP_POPULATE, munmap: the mmap write lock, page
 *             tables filled and zapped, and a TLB flush of every CPU the
 *             process runs on (the pages are faulted in by GUP, not by
 *             the page fault handler, so /proc/vmstat's vma_lock_* count
 *             the measured faults only);
 *   dontneed  write every page, MADV_DONTNEED: the TLB flushes without the
 *             mmap write lock (madvise takes the mmap read lock on 6.12,
 *             the VMA's lock on 7.3);
 *   spin      a loop that never enters the kernel: no lock, no page table,
 *             no flush, only a second busy CPU. The control: what a writer
 *             costs the faults beyond this is the writer's own work;
 *   mmap_other  the mmap writer in another process (forked at start, before
 *             anything is mapped): the same kernel work on another mm, so
 *             what mmap costs beyond it comes from sharing the address
 *             space (its VMA tree, its lock sequence), not from the work.
 * Every repetition runs all cases in turn (round-robin), so that drift of
 * the machine hits both sides of a comparison alike. One run of a case is:
 * start the threads, warm up, take a fixed-length sample, stop.
 *
 * A sample records operations per second, operations per CPU-second of the
 * workers, a log-linear histogram of per-operation latency (CLOCK_MONOTONIC
 * around each touch or ioctl) summarised as p50/p99/p99.9, and the device's
 * per-file counters, which tell which lock the faults and lookups took, the
 * kernel's per-VMA lock counters (vma_lock_* in /proc/vmstat), and where
 * the kernel counts them (x86 with CONFIG_DEBUG_TLBFLUSH), the TLB flushes,
 * and the interrupts and softirqs the workers' CPUs took (when pinned).
 * On a kernel with CONFIG_LOCK_STAT (make bench's profile kernel) it also
 * records how often and how long the mmap lock and the VMA locks were
 * waited for during the sample (/proc/lock_stat, cleared before it).
 *
 * Output: progress on stderr; a summary table and then JSON with every
 * sample on stdout, the JSON between the lines BENCH-JSON-BEGIN and
 * BENCH-JSON-END (or in the file given with -o). scripts/bench-report.py
 * turns the JSON into a ratio table and a plot. The exit status is 1 if a
 * run of a case failed (its sample is then marked "ok": false), 2 on bad
 * options, 0 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "vmalock.h"
#include "../kselftest.h"

#define CACHELINE	128	/* covers adjacent-line prefetch too */
#define TOUCH_OFFSET	64	/* past the page header */
#define WRITER_PAGES	16
#define SPIN_LOOPS	1024	/* one operation of the spin writer */
#define MAX_THREADS	1024
#define MAX_TCOUNTS	16
#define MAX_REPS	256

/* Log-linear histogram: exact below HIST_SUB, then HIST_SUB buckets per power of two. */
#define HIST_SUB_BITS	5
#define HIST_SUB	32	/* 1 << HIST_SUB_BITS */
#define HIST_BUCKETS	((64 - HIST_SUB_BITS + 1) * HIST_SUB)

enum phase { PHASE_WARM, PHASE_MEASURE, PHASE_COOL, PHASE_STOP };
enum op { OP_FAULT, OP_LOOKUP, OP_FAULT_PFN };
enum target { TGT_RUST, TGT_C, TGT_ANON, NR_TARGETS };
enum writer_kind { WRITER_NONE, WRITER_MMAP, WRITER_MPROTECT, WRITER_POPULATE,
		   WRITER_DONTNEED, WRITER_SPIN, WRITER_MMAP_OTHER, NR_WRITERS };
enum refault { REFAULT_AUTO, REFAULT_MADVISE, REFAULT_ZAP, REFAULT_DROP };
enum cpu_clock { CPU_CLOCK_THREAD, CPU_CLOCK_SCHEDSTAT, CPU_CLOCK_NONE };

static const char * const op_name[] = { "fault", "lookup", "fault_pfn" };
static const char * const target_name[] = { "rust", "c", "anon" };
static const char * const mode_name[] = { "default", "force_mmap" };
static const char * const writer_name[] = { "alone", "mmap", "mprotect", "populate",
					     "dontneed", "spin", "mmap_other" };
static const char * const refault_name[] = { "auto", "madvise", "zap", "drop" };
static const char * const cpu_clock_name[] = { "thread_cputime", "schedstat", "none" };

static const char * const vmstat_names[] = {
	"vma_lock_success", "vma_lock_abort", "vma_lock_retry", "vma_lock_miss",
};

#define NR_VMSTAT	4

/* x86 counts TLB flushes with CONFIG_DEBUG_TLBFLUSH. */
static const char * const tlb_names[] = {
	"nr_tlb_remote_flush", "nr_tlb_remote_flush_received",
	"nr_tlb_local_flush_all", "nr_tlb_local_flush_one",
};

#define NR_TLB		4

/* The lock classes of /proc/lock_stat kept per sample: the mmap and VMA locks. */
static const char * const lockstat_classes[] = { "mmap_lock", "vm_lock" };

#define MAX_LOCKSTAT	8

/* Rows of /proc/interrupts or /proc/softirqs, summed over the workers' CPUs. */
#define MAX_IRQ_ROWS	96

struct irq_row {
	char name[40];		/* "IPI0", "TLB", "RCU"; an IRQ number with its name */
	__u64 count;
};

struct irq_rows {
	struct irq_row row[MAX_IRQ_ROWS];
	unsigned int nr;
};

struct lockstat_row {
	char cls[48];		/* class name, -R/-W for the read/write side */
	__u64 contentions;
	__u64 acquisitions;
	double wait_us;		/* total wait time */
	double hold_us;		/* total hold time */
};

/* The counters of struct vmalock_stats, in JSON under these names. */
static const struct {
	const char *name;
	size_t off;
} stat_fields[] = {
	{ "faults_vma", offsetof(struct vmalock_stats, faults_vma) },
	{ "faults_mmap", offsetof(struct vmalock_stats, faults_mmap) },
	{ "retries", offsetof(struct vmalock_stats, retries) },
	{ "map_pages", offsetof(struct vmalock_stats, map_pages) },
	{ "lookups_vma", offsetof(struct vmalock_stats, lookups_vma) },
	{ "lookups_mmap", offsetof(struct vmalock_stats, lookups_mmap) },
	{ "write_marks", offsetof(struct vmalock_stats, write_marks) },
	{ "pages_zapped", offsetof(struct vmalock_stats, pages_zapped) },
	{ "vma_opens", offsetof(struct vmalock_stats, vma_opens) },
	{ "vma_closes", offsetof(struct vmalock_stats, vma_closes) },
	{ "drops_vma", offsetof(struct vmalock_stats, drops_vma) },
	{ "drops_mmap", offsetof(struct vmalock_stats, drops_mmap) },
};

#define NR_STATS	ARRAY_SIZE(stat_fields)

static __u64 *stat_ptr(struct vmalock_stats *s, unsigned int i)
{
	return (__u64 *)((char *)s + stat_fields[i].off);
}

struct config {
	unsigned int sample_ms;
	unsigned int warmup_ms;
	unsigned int reps;
	unsigned int pages;
	unsigned int lat_every;
	unsigned int tcounts[MAX_TCOUNTS];
	unsigned int nr_tcounts;
	enum writer_kind writers[NR_WRITERS];
	unsigned int nr_writers;
	enum refault refault;
	bool pin;
	bool quiet;
	bool list;
	const char *output;
	const char *filter;
	const char *dev[NR_TARGETS];
};

struct bcase {
	enum op op;
	enum target target;
	unsigned int mode;	/* VMALOCK_MODE_* */
	enum writer_kind writer;
	unsigned int threads;
	char id[64];
	const char *expect;	/* "vma", "mmap" or "any": the lock the path should take */
	unsigned int failed;	/* runs that failed */
	char error[128];
};

/* Everything one worker thread writes lives in its own cache lines. */
struct worker {
	alignas(CACHELINE) __u64 ops;	/* published after every operation */
	__u64 lat_count;
	__u64 lat_sum;
	__u64 lat_max;
	int err;			/* errno of a failed setup or operation */
	const char *what;		/* what failed */
	__u64 hist[HIST_BUCKETS];
	/* Set up before the start barrier, read-only afterwards. */
	const struct bcase *c;
	pthread_t thread;
	clockid_t clock;
	pid_t tid;
	int cpu;
	int fd;
	char *map;
	size_t len;
};

struct writer {
	alignas(CACHELINE) __u64 ops;
	enum writer_kind kind;
	int err;
	const char *what;
	pthread_t thread;
	int cpu;
};

struct snapshot {
	__u64 ns;
	__u64 ops;
	__u64 cpu_ns;
	__u64 writer_ops;
	__u64 thread_ops[MAX_THREADS];
	struct vmalock_stats stats;
	bool has_stats;
	__u64 vmstat[NR_VMSTAT];
	bool has_vmstat;
	__u64 tlb[NR_TLB];
	bool has_tlb;
	struct irq_rows irqs, softirqs;
	bool has_irqs;
};

struct sample {
	unsigned int case_idx;
	unsigned int rep;
	unsigned int seq;
	bool ok;
	double wall_s;
	double cpu_s;
	__u64 ops;
	__u64 writer_ops;
	__u64 *thread_ops;
	__u64 lat_count;
	__u64 lat_mean;
	__u64 lat_max;
	__u64 p50, p99, p999;
	struct vmalock_stats stats;	/* deltas over the sample */
	bool has_stats;
	__u64 vmstat[NR_VMSTAT];	/* deltas over the sample */
	bool has_vmstat;
	__u64 tlb[NR_TLB];		/* deltas over the sample */
	bool has_tlb;
	struct lockstat_row lockstat[MAX_LOCKSTAT];	/* over the sample */
	unsigned int nr_lockstat;
	bool has_lockstat;
	struct irq_rows *irqs, *softirqs;	/* deltas, the rows that moved */
};

static struct config cfg = {
	.sample_ms = 1500,
	.warmup_ms = 250,
	.reps = 5,
	.pages = 256,
	.lat_every = 1,
	.writers = { WRITER_MMAP, WRITER_POPULATE, WRITER_DONTNEED, WRITER_SPIN,
		     WRITER_MMAP_OTHER },
	.nr_writers = 5,
	.refault = REFAULT_AUTO,
	.pin = true,
	.dev = { "/dev/rust-vmalock", "/dev/c-vmalock", NULL },
};

/* Shared with the process the mmap_other writer runs in. */
struct shared {
	int phase;
	pthread_barrier_t start_barrier;
	int other_go;		/* set: run shared.other until PHASE_STOP */
	struct writer other;
};

static struct shared *shared;
static long page_size;
static int cpus[MAX_THREADS];
static unsigned int nr_cpus;
static bool present[NR_TARGETS];
static char absent_note[NR_TARGETS][160];
static enum cpu_clock cpu_clock;
static bool lockstat;
static __u64 clock_res_ns;
static char notes[8][200];
static unsigned int nr_notes;

/* Per thread count: 8 cases alone, 8 with the first writer, 3 with each other. */
static struct bcase cases[(8 * 2 + 3 * (NR_WRITERS - 2)) * MAX_TCOUNTS];
static unsigned int nr_cases;
static struct sample *samples;
static unsigned int nr_samples;

static int get_phase(void)
{
	return __atomic_load_n(&shared->phase, __ATOMIC_RELAXED);
}

static void set_phase(int p)
{
	__atomic_store_n(&shared->phase, p, __ATOMIC_SEQ_CST);
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static __u64 clock_ns(clockid_t clock)
{
	struct timespec ts;

	if (clock_gettime(clock, &ts))
		return 0;
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* CPU time of a worker so far. */
static __u64 worker_cpu_ns(struct worker *w)
{
	unsigned long long ns = 0;
	char path[64];
	FILE *f;

	if (cpu_clock == CPU_CLOCK_THREAD)
		return clock_ns(w->clock);
	if (cpu_clock != CPU_CLOCK_SCHEDSTAT)
		return 0;
	/* Without CONFIG_POSIX_TIMERS: the first field is the time on a CPU in ns. */
	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", w->tid);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%llu", &ns) != 1)
			ns = 0;
		fclose(f);
	}
	return ns;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

static unsigned int hist_index(__u64 v)
{
	unsigned int msb;

	if (v < HIST_SUB)
		return v;
	msb = 63 - __builtin_clzll(v);
	return (msb - HIST_SUB_BITS + 1) * HIST_SUB +
	       ((v >> (msb - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

/* The middle of bucket i. */
static __u64 hist_value(unsigned int i)
{
	unsigned int e = i / HIST_SUB, s = i % HIST_SUB;

	if (i < HIST_SUB)
		return i;
	return ((__u64)(HIST_SUB + s) << (e - 1)) + ((1ULL << (e - 1)) >> 1);
}

static __u64 hist_percentile(const __u64 *hist, __u64 count, double q)
{
	__u64 rank = (__u64)(q * count), seen = 0;
	unsigned int i;

	if (!count)
		return 0;
	if (rank >= count)
		rank = count - 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += hist[i];
		if (seen > rank)
			return hist_value(i);
	}
	return hist_value(HIST_BUCKETS - 1);
}

static void record(struct worker *w, __u64 ns)
{
	w->hist[hist_index(ns)]++;
	w->lat_count++;
	w->lat_sum += ns;
	if (ns > w->lat_max)
		w->lat_max = ns;
}

static int fail(struct worker *w, const char *what)
{
	w->err = errno ? errno : EIO;
	w->what = what;
	return -1;
}

static void touch(char *p, char v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/*
 * Maps the worker's region: a buffer of its own open file of the device, or
 * anonymous memory between two PROT_NONE guard pages, so that it merges
 * with no other VMA.
 */
static int worker_setup(struct worker *w)
{
	const struct bcase *c = w->c;
	__u64 npages = cfg.pages;
	__u32 mode = c->mode;
	size_t i;

	w->fd = -1;
	w->len = cfg.pages * page_size;
	if (c->target == TGT_ANON) {
		char *g = mmap(NULL, w->len + 2 * page_size, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (g == MAP_FAILED)
			return fail(w, "mmap guard");
		w->map = mmap(g + page_size, w->len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (w->map == MAP_FAILED) {
			fail(w, "mmap anon");
			munmap(g, w->len + 2 * page_size);
			return -1;
		}
		madvise(w->map, w->len, MADV_NOHUGEPAGE);
	} else {
		w->fd = open(cfg.dev[c->target], O_RDWR | O_CLOEXEC);
		if (w->fd < 0)
			return fail(w, "open");
		if (ioctl(w->fd, VMALOCK_IOC_SET_SIZE, &npages))
			return fail(w, "VMALOCK_IOC_SET_SIZE");
		if (ioctl(w->fd, VMALOCK_IOC_SET_MODE, &mode))
			return fail(w, "VMALOCK_IOC_SET_MODE");
		w->map = mmap(NULL, w->len, PROT_READ | PROT_WRITE, MAP_SHARED, w->fd,
			      c->op == OP_FAULT_PFN ? VMALOCK_PFN_OFFSET : 0);
		if (w->map == MAP_FAILED)
			return fail(w, "mmap device");
	}
	for (i = 0; i < cfg.pages; i++)
		touch(w->map + i * page_size + TOUCH_OFFSET, 1);
	return 0;
}

static void worker_teardown(struct worker *w)
{
	if (w->map && w->map != MAP_FAILED && w->c->target == TGT_ANON)
		munmap(w->map - page_size, w->len + 2 * page_size);
	else if (w->map && w->map != MAP_FAILED)
		munmap(w->map, w->len);
	if (w->fd >= 0)
		close(w->fd);
}

static int refault(struct worker *w)
{
	struct vmalock_zap z = {
		.size = sizeof(z),
		.addr = (unsigned long)w->map,
		.len = w->len,
	};
	struct vmalock_drop d = {
		.size = sizeof(d),
		.addr = (unsigned long)w->map,
		.len = w->len,
	};

	if (cfg.refault == REFAULT_DROP && w->fd >= 0) {
		if (ioctl(w->fd, VMALOCK_IOC_DROP, &d))
			return fail(w, "VMALOCK_IOC_DROP");
	} else if ((cfg.refault == REFAULT_MADVISE || cfg.refault == REFAULT_DROP) &&
		   w->c->op != OP_FAULT_PFN) {
		if (madvise(w->map, w->len, MADV_DONTNEED))
			return fail(w, "madvise(MADV_DONTNEED)");
	} else if (w->fd >= 0) {
		if (ioctl(w->fd, VMALOCK_IOC_ZAP, &z))
			return fail(w, "VMALOCK_IOC_ZAP");
	} else if (mmap(w->map, w->len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
		return fail(w, "mmap(MAP_FIXED)");
	}
	return 0;
}

static void run_faults(struct worker *w)
{
	unsigned int every = cfg.lat_every, k = 0;
	__u64 ops = 0, t0;
	size_t i;
	int ph;

	for (;;) {
		if (get_phase() == PHASE_STOP || refault(w))
			return;
		for (i = 0; i < cfg.pages; i++) {
			char *p = w->map + i * page_size + TOUCH_OFFSET;

			ph = get_phase();
			if (ph == PHASE_STOP)
				return;
			if (ph == PHASE_MEASURE && ++k >= every) {
				k = 0;
				t0 = now_ns();
				touch(p, (char)ops);
				record(w, now_ns() - t0);
			} else {
				touch(p, (char)ops);
			}
			__atomic_store_n(&w->ops, ++ops, __ATOMIC_RELAXED);
		}
	}
}

static void run_lookups(struct worker *w)
{
	struct vmalock_lookup l = { .size = sizeof(l) };
	unsigned int every = cfg.lat_every, k = 0;
	__u64 ops = 0, t0;
	int ph, ret;

	for (;;) {
		ph = get_phase();
		if (ph == PHASE_STOP)
			return;
		l.addr = (unsigned long)w->map + (ops % cfg.pages) * page_size;
		if (ph == PHASE_MEASURE && ++k >= every) {
			k = 0;
			t0 = now_ns();
			ret = ioctl(w->fd, VMALOCK_IOC_LOOKUP, &l);
			record(w, now_ns() - t0);
		} else {
			ret = ioctl(w->fd, VMALOCK_IOC_LOOKUP, &l);
		}
		if (ret) {
			fail(w, "VMALOCK_IOC_LOOKUP");
			return;
		}
		__atomic_store_n(&w->ops, ++ops, __ATOMIC_RELAXED);
	}
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int ok;

	w->tid = gettid();
	pin(w->cpu);
	ok = !worker_setup(w);
	pthread_barrier_wait(&shared->start_barrier);
	if (ok && get_phase() != PHASE_STOP) {
		if (w->c->op == OP_LOOKUP)
			run_lookups(w);
		else
			run_faults(w);
	}
	/* The main thread reads the file's counters before it says stop. */
	while (get_phase() != PHASE_STOP)
		sleep_ms(1);
	worker_teardown(w);
	return NULL;
}

static void *writer_main(void *arg)
{
	struct writer *wr = arg;
	size_t len = WRITER_PAGES * page_size;
	char *region = NULL, *p;
	unsigned int i;
	__u64 ops = 0;

	pin(wr->cpu);
	if (wr->kind == WRITER_MPROTECT || wr->kind == WRITER_DONTNEED) {
		region = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			      -1, 0);
		if (region == MAP_FAILED) {
			wr->err = errno;
			wr->what = "mmap";
			region = NULL;
		}
	}
	pthread_barrier_wait(&shared->start_barrier);
	while (!wr->err && get_phase() != PHASE_STOP) {
		switch (wr->kind) {
		case WRITER_MPROTECT:
			/* Split the VMA, then merge it back. */
			if (mprotect(region + page_size, page_size, PROT_READ) ||
			    mprotect(region + page_size, page_size, PROT_READ | PROT_WRITE)) {
				wr->err = errno;
				wr->what = "mprotect";
			}
			break;
		case WRITER_DONTNEED:
			/* Its own faults: on a VMA with an anon_vma, under its lock. */
			for (p = region; p < region + len; p += page_size)
				touch(p, (char)ops);
			if (madvise(region, len, MADV_DONTNEED)) {
				wr->err = errno;
				wr->what = "madvise(MADV_DONTNEED)";
			}
			break;
		case WRITER_SPIN:
			for (i = 0; i < SPIN_LOOPS; i++)
				asm volatile("" ::: "memory");
			break;
		default:
			p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
				 (wr->kind == WRITER_POPULATE ? MAP_POPULATE : 0), -1, 0);
			if (p == MAP_FAILED) {
				wr->err = errno;
				wr->what = "mmap";
				break;
			}
			if (munmap(p, len)) {
				wr->err = errno;
				wr->what = "munmap";
			}
		}
		__atomic_store_n(&wr->ops, ++ops, __ATOMIC_RELAXED);
	}
	if (region)
		munmap(region, len);
	return NULL;
}

/*
 * The process the mmap_other writer runs in, forked before anything is
 * mapped: it shares only the shared page with this one, and dies with it.
 */
static void other_main(pid_t parent)
{
	cpu_set_t all;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sched_getaffinity(0, sizeof(all), &all);
	for (;;) {
		while (!__atomic_load_n(&shared->other_go, __ATOMIC_ACQUIRE)) {
			if (getppid() != parent)
				_exit(0);
			sleep_ms(1);
		}
		/* Unpinned unless this case pins the writer, as a thread would be. */
		sched_setaffinity(0, sizeof(all), &all);
		writer_main(&shared->other);
		__atomic_store_n(&shared->other_go, 0, __ATOMIC_RELEASE);
	}
}

/* The state the cases' threads and the mmap_other writer's process share. */
static void setup_shared(void)
{
	pid_t parent = getpid();
	unsigned int i;

	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	for (i = 0; i < cfg.nr_writers; i++) {
		if (cfg.writers[i] != WRITER_MMAP_OTHER)
			continue;
		switch (fork()) {
		case -1:
			perror("fork");
			exit(1);
		case 0:
			other_main(parent);
		}
	}
}

/* The /proc/vmstat counters of names[], all of them or false. */
static bool read_vmstat(const char * const *names, unsigned int n, __u64 *vals)
{
	char key[64];
	unsigned long long v;
	unsigned int i, found = 0;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return false;
	while (fscanf(f, "%63s %llu", key, &v) == 2) {
		for (i = 0; i < n; i++) {
			if (!strcmp(key, names[i])) {
				vals[i] = v;
				found++;
			}
		}
	}
	fclose(f);
	return found == n;
}

/* Zero every lock class's statistics (CONFIG_LOCK_STAT). */
static bool lockstat_clear(void)
{
	int fd = open("/proc/lock_stat", O_WRONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, "0\n", 2) == 2;
	close(fd);
	return ok;
}

/*
 * The rows of the mmap and VMA lock classes: "name: con-bounces contentions
 * wait-min wait-max wait-total wait-avg acq-bounces acquisitions hold-min
 * hold-max hold-total hold-avg", times in microseconds.
 */
static bool lockstat_read(struct sample *smp)
{
	char line[512];
	unsigned long long bounces, cont, acq_b, acq;
	double wmin, wmax, wtot, wavg, hmin, hmax, htot;
	FILE *f = fopen("/proc/lock_stat", "r");
	unsigned int i;

	if (!f)
		return false;
	smp->nr_lockstat = 0;
	while (fgets(line, sizeof(line), f) && smp->nr_lockstat < MAX_LOCKSTAT) {
		char *colon = strstr(line, ": ");
		struct lockstat_row *r = &smp->lockstat[smp->nr_lockstat];

		if (!colon || sscanf(line, " %47[^:]:", r->cls) != 1 ||
		    sscanf(colon + 1, "%llu %llu %lf %lf %lf %lf %llu %llu %lf %lf %lf", &bounces,
			   &cont, &wmin, &wmax, &wtot, &wavg, &acq_b, &acq, &hmin, &hmax,
			   &htot) != 11)
			continue;
		for (i = 0; i < ARRAY_SIZE(lockstat_classes); i++)
			if (strstr(r->cls, lockstat_classes[i]))
				break;
		if (i == ARRAY_SIZE(lockstat_classes))
			continue;
		r->contentions = cont;
		r->acquisitions = acq;
		r->wait_us = wtot;
		r->hold_us = htot;
		smp->nr_lockstat++;
	}
	fclose(f);
	return true;
}

/*
 * Reads /proc/interrupts or /proc/softirqs: a header of "CPU<n>" columns
 * (online CPUs), then per row "name:" and a count per column, for an IRQ
 * line followed by its chip and name. Sums every row over the columns of
 * the CPUs in cpu[] (each once) into rows.
 */
static bool read_irqs(const char *path, const int *cpu, unsigned int n, struct irq_rows *rows)
{
	bool col[MAX_THREADS] = { false };
	unsigned int ncol = 0, i, t;
	char *line = NULL, *p, *end, *colon, *last;
	size_t size = 0;
	int id;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	if (getline(&line, &size, f) > 0) {
		for (p = strtok_r(line, " \t\n", &end); p && ncol < MAX_THREADS;
		     p = strtok_r(NULL, " \t\n", &end), ncol++) {
			if (sscanf(p, "CPU%d", &id) != 1)
				break;
			for (i = 0; i < n; i++)
				col[ncol] |= cpu[i] == id;
		}
	}
	rows->nr = 0;
	while (ncol && rows->nr < MAX_IRQ_ROWS && getline(&line, &size, f) > 0) {
		struct irq_row *r = &rows->row[rows->nr];

		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		p = line + strspn(line, " ");
		r->count = 0;
		for (t = 0, end = colon + 1; t < ncol; t++) {
			unsigned long long v = strtoull(end, &last, 10);

			if (last == end)
				break;
			end = last;
			if (col[t])
				r->count += v;
		}
		/* An IRQ line: add the last word, its name ("arch_timer"). */
		last = end + strlen(end);
		while (last > end && (last[-1] == '\n' || last[-1] == ' '))
			*--last = '\0';
		while (last > end && last[-1] != ' ')
			last--;
		if (*p >= '0' && *p <= '9' && *last)
			snprintf(r->name, sizeof(r->name), "%s %s", p, last);
		else
			snprintf(r->name, sizeof(r->name), "%s", p);
		rows->nr++;
	}
	free(line);
	fclose(f);
	return ncol > 0;
}

static void snap_vmstat(struct snapshot *s, struct worker *ws, unsigned int n)
{
	int cpu[MAX_THREADS];
	unsigned int i;

	s->has_vmstat = read_vmstat(vmstat_names, NR_VMSTAT, s->vmstat);
	s->has_tlb = read_vmstat(tlb_names, NR_TLB, s->tlb);
	/* The faulting CPUs' interrupts: only if the workers are pinned. */
	for (i = 0; i < n; i++)
		cpu[i] = ws[i].cpu;
	s->has_irqs = cfg.pin && read_irqs("/proc/interrupts", cpu, n, &s->irqs) &&
		      read_irqs("/proc/softirqs", cpu, n, &s->softirqs);
}

/* The rows of b that moved since a (same file, same rows), or NULL. */
static struct irq_rows *irqs_delta(const struct irq_rows *a, const struct irq_rows *b)
{
	struct irq_rows *d = calloc(1, sizeof(*d));
	unsigned int i;

	for (i = 0; d && i < a->nr && i < b->nr; i++) {
		if (strcmp(a->row[i].name, b->row[i].name) || b->row[i].count == a->row[i].count)
			continue;
		d->row[d->nr] = b->row[i];
		d->row[d->nr++].count -= a->row[i].count;
	}
	return d;
}

static void snap_counts(struct snapshot *s, struct worker *ws, unsigned int n,
			struct writer *wr)
{
	unsigned int i;

	s->ops = 0;
	s->cpu_ns = 0;
	s->ns = now_ns();
	for (i = 0; i < n; i++) {
		s->thread_ops[i] = __atomic_load_n(&ws[i].ops, __ATOMIC_RELAXED);
		s->ops += s->thread_ops[i];
		s->cpu_ns += worker_cpu_ns(&ws[i]);
	}
	s->writer_ops = wr ? __atomic_load_n(&wr->ops, __ATOMIC_RELAXED) : 0;
}

static void snap_stats(struct snapshot *s, struct worker *ws, unsigned int n)
{
	struct vmalock_stats st;
	unsigned int i, j;

	memset(&s->stats, 0, sizeof(s->stats));
	s->has_stats = ws[0].fd >= 0;
	for (i = 0; s->has_stats && i < n; i++) {
		memset(&st, 0, sizeof(st));
		st.size = sizeof(st);
		st.scope = VMALOCK_STATS_FILE;
		if (ioctl(ws[i].fd, VMALOCK_IOC_GET_STATS, &st)) {
			s->has_stats = false;
			break;
		}
		for (j = 0; j < NR_STATS; j++)
			*stat_ptr(&s->stats, j) += *stat_ptr(&st, j);
	}
}

static void stats_delta(struct vmalock_stats *d, struct vmalock_stats *a,
			struct vmalock_stats *b)
{
	unsigned int j;

	memset(d, 0, sizeof(*d));
	for (j = 0; j < NR_STATS; j++)
		*stat_ptr(d, j) = *stat_ptr(b, j) - *stat_ptr(a, j);
}

/* One run of a case: set up, warm up, sample, stop. */
static int run_case(struct bcase *c, struct sample *smp)
{
	static struct snapshot s0, s1;
	static __u64 hist[HIST_BUCKETS];
	unsigned int i, j, n = c->threads;
	size_t wsize = n * sizeof(struct worker);
	pthread_barrierattr_t battr;
	struct writer *wr = NULL;
	struct worker *ws;
	int err = 0;

	ws = mmap(NULL, wsize + sizeof(*wr), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ws == MAP_FAILED) {
		snprintf(c->error, sizeof(c->error), "mmap: %s", strerror(errno));
		return -1;
	}
	if (c->writer != WRITER_NONE) {
		wr = c->writer == WRITER_MMAP_OTHER ? &shared->other :
		     (struct writer *)((char *)ws + wsize);
		memset(wr, 0, sizeof(*wr));
		wr->kind = c->writer;
		/* Workers are on the first CPUs: the writer gets the last if it is free. */
		wr->cpu = cfg.pin && n < nr_cpus ? cpus[nr_cpus - 1] : -1;
	}
	set_phase(PHASE_WARM);
	pthread_barrierattr_init(&battr);
	pthread_barrierattr_setpshared(&battr, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&shared->start_barrier, &battr, n + 1 + !!wr);
	pthread_barrierattr_destroy(&battr);
	for (i = 0; i < n; i++) {
		ws[i].c = c;
		ws[i].cpu = cfg.pin ? cpus[i % nr_cpus] : -1;
		if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i])) {
			fprintf(stderr, "pthread_create failed\n");
			exit(1);
		}
		pthread_getcpuclockid(ws[i].thread, &ws[i].clock);
	}
	if (wr == &shared->other) {
		__atomic_store_n(&shared->other_go, 1, __ATOMIC_RELEASE);
	} else if (wr && pthread_create(&wr->thread, NULL, writer_main, wr)) {
		fprintf(stderr, "pthread_create failed\n");
		exit(1);
	}
	pthread_barrier_wait(&shared->start_barrier);
	for (i = 0; i < n && !err; i++) {
		if (ws[i].err) {
			snprintf(c->error, sizeof(c->error), "%s: %s", ws[i].what,
				 strerror(ws[i].err));
			err = -1;
		}
	}
	if (!err) {
		/* The counters closest to the sample, /proc/vmstat (slower) outside. */
		sleep_ms(cfg.warmup_ms);
		smp->has_lockstat = lockstat && lockstat_clear();
		snap_vmstat(&s0, ws, n);
		snap_stats(&s0, ws, n);
		snap_counts(&s0, ws, n, wr);
		set_phase(PHASE_MEASURE);
		sleep_ms(cfg.sample_ms);
		set_phase(PHASE_COOL);
		snap_counts(&s1, ws, n, wr);
		snap_stats(&s1, ws, n);
		snap_vmstat(&s1, ws, n);
		if (smp->has_lockstat)
			smp->has_lockstat = lockstat_read(smp);
	}
	set_phase(PHASE_STOP);
	for (i = 0; i < n; i++)
		pthread_join(ws[i].thread, NULL);
	if (wr == &shared->other) {
		while (__atomic_load_n(&shared->other_go, __ATOMIC_ACQUIRE))
			sleep_ms(1);
	} else if (wr) {
		pthread_join(wr->thread, NULL);
	}
	pthread_barrier_destroy(&shared->start_barrier);

	for (i = 0; i < n && !err; i++) {
		if (ws[i].err) {
			snprintf(c->error, sizeof(c->error), "%s: %s", ws[i].what,
				 strerror(ws[i].err));
			err = -1;
		}
	}
	if (!err && wr && wr->err) {
		snprintf(c->error, sizeof(c->error), "writer %s: %s", wr->what,
			 strerror(wr->err));
		err = -1;
	}
	if (err) {
		munmap(ws, wsize + sizeof(*wr));
		return err;
	}

	memset(hist, 0, sizeof(hist));
	smp->lat_count = 0;
	smp->lat_max = 0;
	smp->lat_mean = 0;
	for (i = 0; i < n; i++) {
		for (j = 0; j < HIST_BUCKETS; j++)
			hist[j] += ws[i].hist[j];
		smp->lat_count += ws[i].lat_count;
		smp->lat_mean += ws[i].lat_sum;
		if (ws[i].lat_max > smp->lat_max)
			smp->lat_max = ws[i].lat_max;
	}
	if (smp->lat_count)
		smp->lat_mean /= smp->lat_count;
	smp->p50 = hist_percentile(hist, smp->lat_count, 0.50);
	smp->p99 = hist_percentile(hist, smp->lat_count, 0.99);
	smp->p999 = hist_percentile(hist, smp->lat_count, 0.999);
	smp->wall_s = (s1.ns - s0.ns) / 1e9;
	smp->cpu_s = (s1.cpu_ns - s0.cpu_ns) / 1e9;
	smp->ops = s1.ops - s0.ops;
	smp->writer_ops = s1.writer_ops - s0.writer_ops;
	smp->thread_ops = calloc(n, sizeof(__u64));
	for (i = 0; smp->thread_ops && i < n; i++)
		smp->thread_ops[i] = s1.thread_ops[i] - s0.thread_ops[i];
	smp->has_stats = s0.has_stats && s1.has_stats;
	if (smp->has_stats)
		stats_delta(&smp->stats, &s0.stats, &s1.stats);
	smp->has_vmstat = s0.has_vmstat && s1.has_vmstat;
	for (j = 0; smp->has_vmstat && j < NR_VMSTAT; j++)
		smp->vmstat[j] = s1.vmstat[j] - s0.vmstat[j];
	smp->has_tlb = s0.has_tlb && s1.has_tlb;
	for (j = 0; smp->has_tlb && j < NR_TLB; j++)
		smp->tlb[j] = s1.tlb[j] - s0.tlb[j];
	if (s0.has_irqs && s1.has_irqs) {
		smp->irqs = irqs_delta(&s0.irqs, &s1.irqs);
		smp->softirqs = irqs_delta(&s0.softirqs, &s1.softirqs);
	}
	smp->ok = true;
	munmap(ws, wsize + sizeof(*wr));
	return 0;
}

/* Operations that took the per-VMA lock and the mmap lock, as the counters tell. */
static bool path_counts(const struct bcase *c, const struct sample *s, __u64 *vma, __u64 *mmap_)
{
	if (c->target == TGT_ANON) {
		if (!s->has_vmstat)
			return false;
		*vma = s->vmstat[0];
		*mmap_ = s->vmstat[1] + s->vmstat[2] + s->vmstat[3];
		return true;
	}
	if (!s->has_stats)
		return false;
	if (c->op == OP_LOOKUP) {
		*vma = s->stats.lookups_vma;
		*mmap_ = s->stats.lookups_mmap;
	} else {
		*vma = s->stats.faults_vma;
		*mmap_ = s->stats.faults_mmap;
	}
	return true;
}

static void add_case(enum op op, enum target t, unsigned int mode, enum writer_kind writer,
		     unsigned int threads)
{
	struct bcase *c = &cases[nr_cases];

	if (!present[t] || nr_cases >= ARRAY_SIZE(cases))
		return;
	memset(c, 0, sizeof(*c));
	c->op = op;
	c->target = t;
	c->mode = mode;
	c->writer = writer;
	c->threads = threads;
	snprintf(c->id, sizeof(c->id), "%s/%s/%s/%s/t%u", op_name[op], target_name[t],
		 t == TGT_ANON ? "kernel" : mode_name[mode], writer_name[writer], threads);
	if (t == TGT_ANON)
		c->expect = "vma";
	else if (mode == VMALOCK_MODE_FORCE_MMAP)
		c->expect = "mmap";
	else if (op == OP_LOOKUP && t == TGT_C)
		c->expect = "mmap";	/* the C twin cannot take the VMA lock in LOOKUP */
	else
		c->expect = "vma";
	if (cfg.filter) {
		char *f = strdup(cfg.filter), *tok, *save = NULL;
		bool match = false;

		for (tok = strtok_r(f, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			match |= !!strstr(c->id, tok);
		free(f);
		if (!match)
			return;
	}
	nr_cases++;
}

/*
 * Cases that are compared are next to each other in the order of runs.
 * Every case runs alone and with the first writer; the other writers only
 * run against the faults of both modes and anonymous faults, the cases
 * that tell what each writer's costs do to a fault.
 */
static void build_cases(void)
{
	unsigned int i, k;

	for (i = 0; i < cfg.nr_tcounts; i++) {
		for (k = 0; k <= cfg.nr_writers; k++) {
			enum writer_kind w = k ? cfg.writers[k - 1] : WRITER_NONE;
			unsigned int t = cfg.tcounts[i];

			add_case(OP_FAULT, TGT_RUST, VMALOCK_MODE_DEFAULT, w, t);
			add_case(OP_FAULT, TGT_RUST, VMALOCK_MODE_FORCE_MMAP, w, t);
			if (k <= 1) {
				add_case(OP_FAULT, TGT_C, VMALOCK_MODE_DEFAULT, w, t);
				add_case(OP_FAULT_PFN, TGT_RUST, VMALOCK_MODE_DEFAULT, w, t);
				add_case(OP_FAULT_PFN, TGT_C, VMALOCK_MODE_DEFAULT, w, t);
				add_case(OP_LOOKUP, TGT_RUST, VMALOCK_MODE_DEFAULT, w, t);
				add_case(OP_LOOKUP, TGT_RUST, VMALOCK_MODE_FORCE_MMAP, w, t);
			}
			add_case(OP_FAULT, TGT_ANON, VMALOCK_MODE_DEFAULT, w, t);
		}
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct mmm {
	double min, median, max;
};

/* min/median/max over the successful samples of case ci of field(sample). */
static bool case_stat(unsigned int ci, double (*field)(const struct sample *), struct mmm *r)
{
	double v[MAX_REPS];
	unsigned int i, n = 0;

	for (i = 0; i < nr_samples && n < MAX_REPS; i++)
		if (samples[i].case_idx == ci && samples[i].ok)
			v[n++] = field(&samples[i]);
	if (!n)
		return false;
	qsort(v, n, sizeof(v[0]), cmp_double);
	r->min = v[0];
	r->max = v[n - 1];
	r->median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return true;
}

static double f_ops_s(const struct sample *s)
{
	return s->wall_s > 0 ? s->ops / s->wall_s : 0;
}

static double f_ops_cpu(const struct sample *s)
{
	return s->cpu_s > 0 ? s->ops / s->cpu_s : 0;
}

static double f_p50(const struct sample *s)
{
	return s->p50;
}

static double f_p99(const struct sample *s)
{
	return s->p99;
}

static double f_p999(const struct sample *s)
{
	return s->p999;
}

static double f_writer_ops_s(const struct sample *s)
{
	return s->wall_s > 0 ? s->writer_ops / s->wall_s : 0;
}

/* TLB flushes this CPU asked of others, per writer operation (-1: not counted). */
static double f_remote_flushes(const struct sample *s)
{
	return s->has_tlb && s->writer_ops ? (double)s->tlb[0] / s->writer_ops : -1;
}

/* Per-VMA lock attempts of the faults that failed (abort, retry, miss), per mille. */
static double f_vma_fail(const struct sample *s)
{
	__u64 all = s->vmstat[0] + s->vmstat[1] + s->vmstat[2] + s->vmstat[3];

	return s->has_vmstat && all ? 1000.0 * (all - s->vmstat[0]) / all : -1;
}

static double f_vma_frac(const struct sample *s)
{
	__u64 v = 0, m = 0;

	if (!path_counts(&cases[s->case_idx], s, &v, &m) || !(v + m))
		return -1;
	return (double)v / (v + m);
}

/* Did every sample of the case take the lock its mode should? */
static const char *path_check(unsigned int ci)
{
	const struct bcase *c = &cases[ci];
	struct mmm f;

	if (!case_stat(ci, f_vma_frac, &f))
		return "none";
	if (f.min < 0)
		return "unknown";
	if (!strcmp(c->expect, "vma"))
		return f.min >= 0.99 ? "ok" : "WRONG";
	return f.max <= 0.01 ? "ok" : "WRONG";
}

static void print_summary(FILE *out)
{
	unsigned int ci;
	struct mmm ops, cpu, p50, p99, p999, frac;
	char vma[16];

	fprintf(out, "%-34s %10s %10s %10s %10s %8s %8s %8s %6s %s\n", "case", "ops/s",
		"min", "max", "ops/cpu-s", "p50 us", "p99 us", "p99.9 us", "vma%", "path");
	for (ci = 0; ci < nr_cases; ci++) {
		if (!case_stat(ci, f_ops_s, &ops)) {
			fprintf(out, "%-34s failed: %s\n", cases[ci].id, cases[ci].error);
			continue;
		}
		case_stat(ci, f_ops_cpu, &cpu);
		case_stat(ci, f_p50, &p50);
		case_stat(ci, f_p99, &p99);
		case_stat(ci, f_p999, &p999);
		case_stat(ci, f_vma_frac, &frac);
		if (frac.median < 0)
			snprintf(vma, sizeof(vma), "-");
		else
			snprintf(vma, sizeof(vma), "%.1f", 100 * frac.median);
		fprintf(out, "%-34s %10.0f %10.0f %10.0f %10.0f %8.2f %8.2f %8.2f %6s %s\n",
			cases[ci].id, ops.median, ops.min, ops.max, cpu.median,
			p50.median / 1e3, p99.median / 1e3, p999.median / 1e3,
			vma, path_check(ci));
	}
}

/* What the writers did, and what it cost the system, per case with a writer. */
static void print_writers(FILE *out)
{
	struct mmm wops, flushes, fail;
	unsigned int ci;

	fprintf(out, "\n%-34s %12s %18s %20s\n", "case with a writer", "writer ops/s",
		"remote TLB fl/op", "VMA-lock fails 1/1000");
	for (ci = 0; ci < nr_cases; ci++) {
		if (cases[ci].writer == WRITER_NONE || !case_stat(ci, f_writer_ops_s, &wops))
			continue;
		case_stat(ci, f_remote_flushes, &flushes);
		case_stat(ci, f_vma_fail, &fail);
		fprintf(out, "%-34s %12.0f ", cases[ci].id, wops.median);
		if (flushes.min < 0)
			fprintf(out, "%18s ", "-");
		else
			fprintf(out, "%18.2f ", flushes.median);
		if (fail.min < 0)
			fprintf(out, "%20s\n", "-");
		else
			fprintf(out, "%20.2f\n", fail.median);
	}
}

static void json_mmm(FILE *out, const char *name, unsigned int ci,
		     double (*field)(const struct sample *), bool last)
{
	const char *sep = last ? "" : ", ";
	struct mmm r;

	if (case_stat(ci, field, &r))
		fprintf(out, "\"%s\": {\"min\": %.6g, \"median\": %.6g, \"max\": %.6g}%s", name,
			r.min, r.median, r.max, sep);
	else
		fprintf(out, "\"%s\": null%s", name, sep);
}

/* Strings written here come from this program, uname or /proc: quote and backslash only. */
static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, out);
	}
	fputc('"', out);
}

/* ", key": the rows as an object of counts, or null. */
static void json_irqs(FILE *out, const char *key, const struct irq_rows *rows)
{
	unsigned int j;

	fprintf(out, ", \"%s\": ", key);
	if (!rows) {
		fprintf(out, "null");
		return;
	}
	fprintf(out, "{");
	for (j = 0; j < rows->nr; j++) {
		fprintf(out, "%s", j ? ", " : "");
		json_str(out, rows->row[j].name);
		fprintf(out, ": %llu", rows->row[j].count);
	}
	fprintf(out, "}");
}

static void read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");

	buf[0] = 0;
	if (f) {
		if (fgets(buf, size, f))
			buf[strcspn(buf, "\n")] = 0;
		fclose(f);
	}
}

static void print_json(FILE *out)
{
	struct utsname u;
	char clocksource[64];
	unsigned int i, j, t;

	uname(&u);
	read_line("/sys/devices/system/clocksource/clocksource0/current_clocksource",
		  clocksource, sizeof(clocksource));
	fprintf(out, "{\"format\": \"vmalock-bench/1\",\n\"system\": {\"machine\": ");
	json_str(out, u.machine);
	fprintf(out, ", \"release\": ");
	json_str(out, u.release);
	fprintf(out, ", \"version\": ");
	json_str(out, u.version);
	fprintf(out, ", \"cpus\": %u, \"page_size\": %ld, \"clocksource\": ", nr_cpus, page_size);
	json_str(out, clocksource);
	fprintf(out, ", \"clock_step_ns\": %llu, \"cpu_clock\": \"%s\"", clock_res_ns,
		cpu_clock_name[cpu_clock]);
	fprintf(out, "},\n\"config\": {\"sample_ms\": %u, \"warmup_ms\": %u, \"reps\": %u, ",
		cfg.sample_ms, cfg.warmup_ms, cfg.reps);
	fprintf(out, "\"pages_per_thread\": %u, \"lat_every\": %u, \"writers\": [",
		cfg.pages, cfg.lat_every);
	for (i = 0; i < cfg.nr_writers; i++)
		fprintf(out, "%s\"%s\"", i ? ", " : "", writer_name[cfg.writers[i]]);
	fprintf(out, "], ");
	fprintf(out, "\"refault\": \"%s\", \"pin\": %s, \"threads\": [", refault_name[cfg.refault],
		cfg.pin ? "true" : "false");
	for (i = 0; i < cfg.nr_tcounts; i++)
		fprintf(out, "%s%u", i ? ", " : "", cfg.tcounts[i]);
	fprintf(out, "], \"filter\": ");
	if (cfg.filter)
		json_str(out, cfg.filter);
	else
		fprintf(out, "null");
	fprintf(out, "},\n\"devices\": {");
	for (t = 0; t < NR_TARGETS; t++) {
		if (t == TGT_ANON)
			continue;
		fprintf(out, "%s\"%s\": {\"path\": ", t ? ", " : "", target_name[t]);
		json_str(out, cfg.dev[t]);
		fprintf(out, ", \"present\": %s, \"note\": ", present[t] ? "true" : "false");
		if (present[t])
			fprintf(out, "null");
		else
			json_str(out, absent_note[t]);
		fprintf(out, "}");
	}
	fprintf(out, "},\n\"notes\": [");
	for (j = 0; j < nr_notes; j++) {
		fprintf(out, "%s", j ? ", " : "");
		json_str(out, notes[j]);
	}
	fprintf(out, "],\n\"cases\": [\n");
	for (i = 0; i < nr_cases; i++) {
		const struct bcase *c = &cases[i];

		fprintf(out, "{\"id\": \"%s\", \"op\": \"%s\", \"target\": \"%s\", ", c->id,
			op_name[c->op], target_name[c->target]);
		fprintf(out, "\"mode\": \"%s\", \"writer\": \"%s\", \"threads\": %u, ",
			c->target == TGT_ANON ? "kernel" : mode_name[c->mode],
			writer_name[c->writer], c->threads);
		fprintf(out, "\"expect\": \"%s\", \"path_check\": \"%s\", \"failed\": %u, ",
			c->expect, path_check(i), c->failed);
		fprintf(out, "\"error\": ");
		if (c->error[0])
			json_str(out, c->error);
		else
			fprintf(out, "null");
		fprintf(out, ",\n \"summary\": {");
		json_mmm(out, "ops_per_s", i, f_ops_s, false);
		json_mmm(out, "ops_per_cpu_s", i, f_ops_cpu, false);
		json_mmm(out, "p50_ns", i, f_p50, false);
		json_mmm(out, "p99_ns", i, f_p99, false);
		json_mmm(out, "p999_ns", i, f_p999, false);
		json_mmm(out, "vma_frac", i, f_vma_frac, true);
		fprintf(out, "}}%s\n", i + 1 < nr_cases ? "," : "");
	}
	fprintf(out, "],\n\"samples\": [\n");
	for (i = 0; i < nr_samples; i++) {
		struct sample *s = &samples[i];
		const struct bcase *c = &cases[s->case_idx];

		fprintf(out, "{\"case\": \"%s\", \"rep\": %u, \"seq\": %u, \"ok\": %s", c->id,
			s->rep, s->seq, s->ok ? "true" : "false");
		if (s->ok) {
			fprintf(out, ", \"wall_s\": %.6f, \"ops\": %llu, \"ops_per_s\": %.1f, ",
				s->wall_s, s->ops, f_ops_s(s));
			fprintf(out, "\"cpu_s\": %.6f, \"ops_per_cpu_s\": %.1f, ", s->cpu_s,
				f_ops_cpu(s));
			fprintf(out, "\"lat\": {\"count\": %llu, \"mean_ns\": %llu, ", s->lat_count,
				s->lat_mean);
			fprintf(out, "\"p50_ns\": %llu, \"p99_ns\": %llu, \"p999_ns\": %llu, ",
				s->p50, s->p99, s->p999);
			fprintf(out, "\"max_ns\": %llu}, \"writer_ops\": %llu, \"thread_ops\": [",
				s->lat_max, s->writer_ops);
			for (j = 0; s->thread_ops && j < c->threads; j++)
				fprintf(out, "%s%llu", j ? ", " : "", s->thread_ops[j]);
			fprintf(out, "], \"stats\": ");
			if (s->has_stats) {
				for (j = 0; j < NR_STATS; j++)
					fprintf(out, "%s\"%s\": %llu", j ? ", " : "{",
						stat_fields[j].name, *stat_ptr(&s->stats, j));
				fprintf(out, "}");
			} else {
				fprintf(out, "null");
			}
			fprintf(out, ", \"vmstat\": ");
			if (s->has_vmstat) {
				for (j = 0; j < NR_VMSTAT; j++)
					fprintf(out, "%s\"%s\": %llu", j ? ", " : "{",
						vmstat_names[j], s->vmstat[j]);
				fprintf(out, "}");
			} else {
				fprintf(out, "null");
			}
			fprintf(out, ", \"tlb\": ");
			if (s->has_tlb) {
				for (j = 0; j < NR_TLB; j++)
					fprintf(out, "%s\"%s\": %llu", j ? ", " : "{",
						tlb_names[j], s->tlb[j]);
				fprintf(out, "}");
			} else {
				fprintf(out, "null");
			}
			fprintf(out, ", \"lock_stat\": ");
			if (s->has_lockstat) {
				fprintf(out, "[");
				for (j = 0; j < s->nr_lockstat; j++) {
					const struct lockstat_row *r = &s->lockstat[j];

					fprintf(out, "%s{\"class\": ", j ? ", " : "");
					json_str(out, r->cls);
					fprintf(out, ", \"contentions\": %llu, \"wait_us\": %.2f, ",
						r->contentions, r->wait_us);
					fprintf(out, "\"hold_us\": %.2f, \"acquisitions\": %llu}",
						r->hold_us, r->acquisitions);
				}
				fprintf(out, "]");
			} else {
				fprintf(out, "null");
			}
			json_irqs(out, "irqs", s->irqs);
			json_irqs(out, "softirqs", s->softirqs);
			fprintf(out, ", \"vma_frac\": %.6g", f_vma_frac(s));
		}
		fprintf(out, "}%s\n", i + 1 < nr_samples ? "," : "");
	}
	fprintf(out, "]}\n");
}

static unsigned int env_uint(const char *name, unsigned int def)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 0) : def;
}

static void parse_threads(const char *arg)
{
	char *s = strdup(arg), *tok, *save = NULL;

	cfg.nr_tcounts = 0;
	for (tok = strtok_r(s, ",", &save); tok && cfg.nr_tcounts < MAX_TCOUNTS;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned int t = strtoul(tok, NULL, 0);

		if (t < 1 || t > MAX_THREADS) {
			fprintf(stderr, "bad thread count %s (1..%d)\n", tok, MAX_THREADS);
			exit(2);
		}
		cfg.tcounts[cfg.nr_tcounts++] = t;
	}
	free(s);
}

static void parse_writers(const char *arg)
{
	char *s = strdup(arg), *tok, *save = NULL;
	unsigned int i, k;

	cfg.nr_writers = 0;
	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (k = WRITER_NONE + 1; k < NR_WRITERS; k++)
			if (!strcmp(tok, writer_name[k]))
				break;
		for (i = 0; i < cfg.nr_writers && k < NR_WRITERS; i++)
			if (cfg.writers[i] == k)
				k = NR_WRITERS;
		if (k == NR_WRITERS) {
			fprintf(stderr, "bad or repeated writer %s\n", tok);
			exit(2);
		}
		cfg.writers[cfg.nr_writers++] = k;
	}
	free(s);
	if (!cfg.nr_writers) {
		fprintf(stderr, "no writer in %s\n", arg);
		exit(2);
	}
}

static void print_usage(const char *prog, int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s [options]\n"
		"  -s, --sample-ms MS    sample length (default 1500, env VMALOCK_BENCH_SAMPLE_MS)\n"
		"  -w, --warmup-ms MS    warm-up before each sample (default 250,\n"
		"                        env VMALOCK_BENCH_WARMUP_MS)\n"
		"  -r, --reps N          repetitions of every case (default 5, env VMALOCK_BENCH_REPS)\n"
		"  -t, --threads LIST    thread counts, e.g. 1,2 (default 1,2,4,..,online CPUs)\n"
		"  -p, --pages N         pages per thread (default 256)\n"
		"  -W, --writers LIST    writer loops, first one against every case (default\n"
		"                        mmap,populate,dontneed,spin,mmap_other; also mprotect)\n"
		"  -R, --refault HOW     drop pages with drop (device DROP ioctl, per-VMA lock;\n"
		"                        anon: madvise), madvise (MADV_DONTNEED; the PFN view:\n"
		"                        zap) or zap (device ZAP ioctl; anon: mmap MAP_FIXED);\n"
		"                        default: drop if madvise works, else zap\n"
		"  -l, --lat-every K     time one operation in K (default 1: all)\n"
		"  -f, --filter S1,S2    only cases whose id contains one of the strings\n"
		"  -o, --output FILE     JSON to FILE instead of stdout between markers\n"
		"      --rust DEV, --c DEV   device nodes (default /dev/rust-vmalock, /dev/c-vmalock)\n"
		"      --no-pin          do not pin worker i to online CPU i %% N (and the\n"
		"                        writer to the last CPU if no worker is there)\n"
		"  -L, --list            list the cases and exit\n"
		"  -q, --quiet           no progress lines on stderr\n", prog);
	exit(code);
}

static void parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sample-ms", required_argument, NULL, 's' },
		{ "warmup-ms", required_argument, NULL, 'w' },
		{ "reps", required_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 't' },
		{ "pages", required_argument, NULL, 'p' },
		{ "writers", required_argument, NULL, 'W' },
		{ "refault", required_argument, NULL, 'R' },
		{ "lat-every", required_argument, NULL, 'l' },
		{ "filter", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "rust", required_argument, NULL, 1 },
		{ "c", required_argument, NULL, 2 },
		{ "no-pin", no_argument, NULL, 3 },
		{ "list", no_argument, NULL, 'L' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	int o;

	cfg.sample_ms = env_uint("VMALOCK_BENCH_SAMPLE_MS", cfg.sample_ms);
	cfg.warmup_ms = env_uint("VMALOCK_BENCH_WARMUP_MS", cfg.warmup_ms);
	cfg.reps = env_uint("VMALOCK_BENCH_REPS", cfg.reps);
	while ((o = getopt_long(argc, argv, "s:w:r:t:p:W:R:l:f:o:Lqh", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			cfg.sample_ms = strtoul(optarg, NULL, 0);
			break;
		case 'w':
			cfg.warmup_ms = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			cfg.reps = strtoul(optarg, NULL, 0);
			break;
		case 't':
			parse_threads(optarg);
			break;
		case 'p':
			cfg.pages = strtoul(optarg, NULL, 0);
			break;
		case 'W':
			parse_writers(optarg);
			break;
		case 'R':
			if (!strcmp(optarg, "madvise"))
				cfg.refault = REFAULT_MADVISE;
			else if (!strcmp(optarg, "zap"))
				cfg.refault = REFAULT_ZAP;
			else if (!strcmp(optarg, "drop"))
				cfg.refault = REFAULT_DROP;
			else
				print_usage(argv[0], 2);
			break;
		case 'l':
			cfg.lat_every = strtoul(optarg, NULL, 0);
			break;
		case 'f':
			cfg.filter = optarg;
			break;
		case 'o':
			cfg.output = optarg;
			break;
		case 1:
			cfg.dev[TGT_RUST] = optarg;
			break;
		case 2:
			cfg.dev[TGT_C] = optarg;
			break;
		case 3:
			cfg.pin = false;
			break;
		case 'L':
			cfg.list = true;
			break;
		case 'q':
			cfg.quiet = true;
			break;
		case 'h':
			print_usage(argv[0], 0);
			break;
		default:
			print_usage(argv[0], 2);
		}
	}
	if (optind < argc || !cfg.sample_ms || !cfg.reps || cfg.reps > MAX_REPS || !cfg.pages ||
	    !cfg.lat_every)
		print_usage(argv[0], 2);
}

static void add_note(const char *fmt, ...)
{
	va_list ap;

	if (nr_notes >= ARRAY_SIZE(notes))
		return;
	va_start(ap, fmt);
	vsnprintf(notes[nr_notes], sizeof(notes[0]), fmt, ap);
	va_end(ap);
	fprintf(stderr, "vmalock_bench: %s\n", notes[nr_notes++]);
}

/* The smallest step of CLOCK_MONOTONIC seen in about 20 ms. */
static __u64 clock_step(void)
{
	__u64 start = now_ns(), prev = start, t, step = ~0ULL;

	do {
		t = now_ns();
		if (t != prev && t - prev < step)
			step = t - prev;
		prev = t;
	} while (t - start < 20000000ULL);
	return step;
}

/* What the kernel offers: madvise, thread CPU clocks, a fine clock. */
static void probe_system(void)
{
	struct timespec ts;
	char *p;

	p = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED) {
		touch(p, 1);
		if (madvise(p, page_size, MADV_DONTNEED)) {
			if (cfg.refault == REFAULT_AUTO)
				add_note("madvise: %s: %s", strerror(errno),
					 "pages dropped with the ZAP ioctl (device) or mmap(MAP_FIXED) (anon), under the mmap write lock");
			else if (cfg.refault == REFAULT_MADVISE)
				add_note("madvise: %s: fault cases will fail", strerror(errno));
			else if (cfg.refault == REFAULT_DROP)
				add_note("madvise: %s: anonymous fault cases will fail",
					 strerror(errno));
			if (cfg.refault == REFAULT_AUTO)
				cfg.refault = REFAULT_ZAP;
		}
		munmap(p, page_size);
	}
	if (cfg.refault == REFAULT_AUTO)
		cfg.refault = REFAULT_DROP;

	if (!clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)) {
		cpu_clock = CPU_CLOCK_THREAD;
	} else if (!access("/proc/self/schedstat", R_OK)) {
		cpu_clock = CPU_CLOCK_SCHEDSTAT;
		add_note("no thread CPU clock (%s): CPU time read from /proc/self/task/*/schedstat",
			 strerror(errno));
	} else {
		cpu_clock = CPU_CLOCK_NONE;
		add_note("no thread CPU clock and no schedstat: ops per CPU-second not measured");
	}

	lockstat = !access("/proc/lock_stat", W_OK);
	if (lockstat)
		add_note("CONFIG_LOCK_STAT: lock waits recorded; %s",
			 "lockdep's overhead makes the timings a profile, not a measurement");

	clock_res_ns = clock_step();
	if (clock_res_ns > 1000)
		add_note("CLOCK_MONOTONIC moves in steps of %llu ns: %s", clock_res_ns,
			 "latency percentiles are not meaningful");
	if (nr_cpus < 2)
		add_note("one CPU online: no multi-thread case unless -t asks for it");
	if (cfg.reps < 5)
		add_note("%u repetitions: fewer than 5", cfg.reps);
}

static void probe_devices(void)
{
	unsigned int t;
	int fd;

	present[TGT_ANON] = true;
	for (t = 0; t < TGT_ANON; t++) {
		fd = open(cfg.dev[t], O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			present[t] = true;
			close(fd);
			continue;
		}
		snprintf(absent_note[t], sizeof(absent_note[t]),
			 "%s: %s: its cases were skipped", cfg.dev[t], strerror(errno));
		add_note("%s", absent_note[t]);
	}
}

int main(int argc, char **argv)
{
	unsigned int i, rep, ci, seq = 0, failures = 0;
	cpu_set_t set;
	FILE *out = stdout;

	setvbuf(stdout, NULL, _IOLBF, 0);
	page_size = sysconf(_SC_PAGESIZE);
	if (!sched_getaffinity(0, sizeof(set), &set)) {
		for (i = 0; i < CPU_SETSIZE && nr_cpus < MAX_THREADS; i++)
			if (CPU_ISSET(i, &set))
				cpus[nr_cpus++] = i;
	}
	if (!nr_cpus)
		cpus[nr_cpus++] = 0;
	for (i = 1; i < nr_cpus && cfg.nr_tcounts < MAX_TCOUNTS - 1; i *= 2)
		cfg.tcounts[cfg.nr_tcounts++] = i;
	cfg.tcounts[cfg.nr_tcounts++] = nr_cpus;
	parse_args(argc, argv);
	setup_shared();
	probe_system();
	probe_devices();
	build_cases();
	if (cfg.list) {
		for (ci = 0; ci < nr_cases; ci++)
			printf("%s\n", cases[ci].id);
		return 0;
	}
	if (!nr_cases) {
		fprintf(stderr, "vmalock_bench: no case to run\n");
		return 1;
	}
	samples = calloc((size_t)nr_cases * cfg.reps, sizeof(*samples));
	if (!samples)
		return 1;
	fprintf(stderr, "vmalock_bench: %u cases x %u reps x (%u + %u ms): about %u s\n",
		nr_cases, cfg.reps, cfg.warmup_ms, cfg.sample_ms,
		(unsigned int)((__u64)nr_cases * cfg.reps * (cfg.warmup_ms + cfg.sample_ms + 50) /
			       1000));

	for (rep = 0; rep < cfg.reps; rep++) {
		for (ci = 0; ci < nr_cases; ci++) {
			struct sample *s = &samples[nr_samples++];
			__u64 v = 0, m = 0;

			s->case_idx = ci;
			s->rep = rep;
			s->seq = seq++;
			if (run_case(&cases[ci], s)) {
				cases[ci].failed++;
				failures++;
				fprintf(stderr, "rep %u %s: failed: %s\n", rep, cases[ci].id,
					cases[ci].error);
				continue;
			}
			if (cfg.quiet)
				continue;
			fprintf(stderr, "rep %u %-34s %10.0f ops/s %10.0f ops/cpu-s p99 %8.2f us",
				rep, cases[ci].id, f_ops_s(s), f_ops_cpu(s), s->p99 / 1e3);
			if (path_counts(&cases[ci], s, &v, &m))
				fprintf(stderr, " vma %llu mmap %llu", v, m);
			fprintf(stderr, "\n");
		}
	}

	printf("vmalock_bench summary: medians of %u samples of %u ms\n", cfg.reps,
	       cfg.sample_ms);
	print_summary(stdout);
	print_writers(stdout);
	if (cfg.output) {
		out = fopen(cfg.output, "w");
		if (!out) {
			perror(cfg.output);
			return 1;
		}
		print_json(out);
		fclose(out);
	} else {
		printf("BENCH-JSON-BEGIN\n");
		print_json(stdout);
		printf("BENCH-JSON-END\n");
	}
	return failures ? 1 : 0;
}
