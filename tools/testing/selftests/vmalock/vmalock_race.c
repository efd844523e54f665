// SPDX-License-Identifier: GPL-2.0
/*
 * Races on the vmalock sample devices.
 *
 * zap_while_faulting: threads fault the same pages in (and drop them with
 * MADV_DONTNEED or DROP to fault again) while the main thread zaps ranges;
 * once a ZAP has returned generation g, no page it covered may show an
 * older generation to any later reader, and no fault may fail.
 *
 * everything: threads fault and drop pages of a mapping while siblings
 * split it with mprotect, zap it, look it up, drop pages at addresses
 * other threads map and unmap, toggle the mode, fork
 * children that read it, map/move/split/unmap other mappings of the same
 * file and anonymous memory, and open, map and close other files. Headers
 * stay right and calls fail only with the errnos they document.
 *
 * revoke_while_faulting: threads read the PFN view, and another maps
 * ranges of the eager PFN view (populated by mmap) and reads them, while the
 * main thread revokes and restores both. A read that starts and ends while
 * a REVOKE has returned and no RESTORE has started must get SIGBUS, also in
 * a mapping made while that REVOKE ran; one that starts and ends with the
 * views live must succeed; mmap of the eager view fails (ENODEV) only while
 * revoked.
 *
 * The duration of each test is VMALOCK_RACE_MS milliseconds (default 3000);
 * VMALOCK_SEED sets the seed of the random choices.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmalock_util.h"
#include "../kselftest_harness.h"

#define RACE_PAGES	VMALOCK_DEFAULT_PAGES
#define NR_PUB		2	/* published addresses: same file, anonymous */
#define MAX_THREADS	16

/* Shared with forked children, so that they see the published floors. */
struct race_shared {
	__u64 gen;			/* last generation ZAP returned */
	__u64 floor[RACE_PAGES];	/* per page: last ZAP that covered it */
	unsigned long pub[NR_PUB];
	int stop;
	int fails;
	char msg[512];
	/* revoke_while_faulting: 4k live, 4k+1 revoking, 4k+2 revoked, 4k+3 restoring */
	unsigned long phase;
};

enum op {
	OP_READ, OP_DONTNEED, OP_DROP, OP_ZAP, OP_ZAP_PUB, OP_DROP_PUB,
	OP_LOOKUP, OP_LOOKUP_PUB, OP_MODE, OP_SPLIT, OP_MAP, OP_MOVE, OP_ANON,
	OP_FORK, OP_FILE,
	NR_OPS
};

static const char * const op_names[NR_OPS] = {
	"read", "dontneed", "drop", "zap", "zap_pub", "drop_pub", "lookup",
	"lookup_pub", "mode", "split", "map", "move", "anon", "fork", "file",
};

struct race {
	struct race_shared *sh;
	const char *dev;
	__u32 lookup_lock;
	int fd;
	size_t psz;
	char *map;
	size_t len;
	__u64 seed;
	int thread_ids;
	unsigned long ops[NR_OPS];
	unsigned long maps;	/* mmaps of fd made by the threads */
	int madvise;		/* madvise() exists */
	int nap_readers;	/* readers pause now and then */
	int splits;		/* split_thread runs: DROP may span two VMAs */
	char *pfn;		/* revoke_while_faulting: the PFN view */
	unsigned long pfn_ok, pfn_sigbus;
	unsigned long eager_maps, eager_enodev, eager_ok, eager_sigbus;
};

static struct race R;

static void fail(const char *fmt, ...)
{
	va_list ap;

	if (__atomic_fetch_add(&R.sh->fails, 1, __ATOMIC_SEQ_CST) == 0) {
		va_start(ap, fmt);
		vsnprintf(R.sh->msg, sizeof(R.sh->msg), fmt, ap);
		va_end(ap);
	}
	__atomic_store_n(&R.sh->stop, 1, __ATOMIC_SEQ_CST);
}

static int stopped(void)
{
	return __atomic_load_n(&R.sh->stop, __ATOMIC_ACQUIRE);
}

static void count(enum op op)
{
	__atomic_fetch_add(&R.ops[op], 1, __ATOMIC_RELAXED);
}

static __u64 thread_rng(void)
{
	int id = __atomic_fetch_add(&R.thread_ids, 1, __ATOMIC_RELAXED);

	return vl_seed_state(R.seed + 0x1000 * id);
}

/*
 * Checks the header of a page that maps buffer page pgoff: right index,
 * generation at least the last ZAP that covered it and at most one above
 * the last ZAP that returned (one may be running). Returns 0 if right.
 */
static int page_ok(char *page, __u64 pgoff, __u64 *seen)
{
	struct vmalock_page_header *h = vl_hdr(page);
	__u64 low = __atomic_load_n(&R.sh->floor[pgoff], __ATOMIC_ACQUIRE);
	__u64 idx = __atomic_load_n(&h->index, __ATOMIC_RELAXED);
	__u64 gen = __atomic_load_n(&h->generation, __ATOMIC_ACQUIRE);
	__u64 top = __atomic_load_n(&R.sh->gen, __ATOMIC_ACQUIRE);

	*seen = gen;
	return idx == pgoff && gen >= low && gen <= top + 1 ? 0 : -1;
}

static void check_page(const char *who, char *page, __u64 pgoff)
{
	struct vmalock_page_header *h = vl_hdr(page);
	__u64 gen;

	if (page_ok(page, pgoff, &gen))
		fail("%s: page %llu: index %llu generation %llu (floor %llu, last zap %llu)",
		     who, (unsigned long long)pgoff,
		     (unsigned long long)h->index, (unsigned long long)gen,
		     (unsigned long long)R.sh->floor[pgoff],
		     (unsigned long long)R.sh->gen);
}

static void publish_zap(__u64 gen, size_t first, size_t n)
{
	__atomic_store_n(&R.sh->gen, gen, __ATOMIC_SEQ_CST);
	for (size_t i = first; i < first + n; i++)
		__atomic_store_n(&R.sh->floor[i], gen, __ATOMIC_RELEASE);
	/* Ordered before the next ZAP rewrites any header. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Picks a random range of the main mapping: first page and count. */
static void pick_range(__u64 *rng, size_t max, size_t *first, size_t *n)
{
	*n = 1 + vl_below(rng, max);
	*first = vl_below(rng, RACE_PAGES - *n + 1);
}

static void nap(__u64 *rng, unsigned int max_us)
{
	struct timespec ts = { .tv_nsec = 1000L * vl_below(rng, max_us + 1) };

	nanosleep(&ts, NULL);
}

/* Whether DROP may have run under lock (LOOKUP takes the same locks). */
static int drop_lock_ok(__u32 lock)
{
	if (R.lookup_lock == VMALOCK_LOCK_MMAP)
		return lock == VMALOCK_LOCK_MMAP;
	return lock == VMALOCK_LOCK_VMA || lock == VMALOCK_LOCK_MMAP;
}

/* DROP of a range of the main mapping, which must succeed unless split. */
static void drop_main(size_t first, size_t n)
{
	__u32 lock = 0;
	int err;

	err = vl_drop(R.fd, (unsigned long)R.map + first * R.psz, n * R.psz, &lock);
	if (err == EINVAL && R.splits)
		return;
	if (err)
		fail("DROP of the mapping: %s", strerror(err));
	else if (!drop_lock_ok(lock))
		fail("DROP lock %u", lock);
	count(OP_DROP);
}

/* Faults pages of the main mapping in and drops them again. */
static void *fault_thread(void *arg)
{
	__u64 rng = thread_rng();
	size_t first, n;

	for (unsigned long i = 0; !stopped(); i++) {
		size_t p = vl_below(&rng, RACE_PAGES);

		check_page("reader", R.map + p * R.psz, p);
		count(OP_READ);
		/* Pauses, or threads holding mmap_lock would wait for the CPU. */
		if (i % 64 == 63 && R.nap_readers)
			nap(&rng, 200);
		if (i % 16 != 15)
			continue;
		pick_range(&rng, 8, &first, &n);
		if (vl_below(&rng, 2) || !R.madvise) {
			drop_main(first, n);
		} else {
			if (madvise(R.map + first * R.psz, n * R.psz, MADV_DONTNEED))
				fail("madvise(DONTNEED): %s", strerror(errno));
			count(OP_DONTNEED);
		}
	}
	return NULL;
}

/* ZAP of a range of the main mapping, which must succeed. */
static void zap_main(__u64 *rng, size_t max, __u64 *last)
{
	struct vmalock_zap z;
	size_t first, n;
	int err;

	pick_range(rng, max, &first, &n);
	err = vl_zap(R.fd, (unsigned long)R.map + first * R.psz, n * R.psz, &z);
	if (err) {
		fail("ZAP of the mapping: %s", strerror(err));
		return;
	}
	if (z.generation != *last + 1 || !z.vmas)
		fail("ZAP: generation %llu after %llu, %llu VMAs",
		     (unsigned long long)z.generation, (unsigned long long)*last,
		     (unsigned long long)z.vmas);
	*last = z.generation;
	publish_zap(*last, first, n);
	count(OP_ZAP);
}

static void *zap_thread(void *arg)
{
	__u64 rng = thread_rng(), last = R.sh->gen;
	struct vmalock_zap z;
	unsigned long a;
	__u32 lock;
	int err;

	while (!stopped()) {
		switch (vl_below(&rng, 10)) {
		case 0 ... 6:
			zap_main(&rng, 16, &last);
			break;
		case 7 ... 8:
			/* Whatever is at a published address now. */
			a = __atomic_load_n(&R.sh->pub[vl_below(&rng, NR_PUB)],
					    __ATOMIC_ACQUIRE);
			if (!a)
				break;
			err = vl_zap(R.fd, a, R.psz * (1 + vl_below(&rng, 4)), &z);
			if (!err) {
				if (z.generation != last + 1)
					fail("ZAP: generation %llu after %llu",
					     (unsigned long long)z.generation,
					     (unsigned long long)last);
				last = z.generation;
				publish_zap(last, 0, 0);
			} else if (err != EINVAL) {
				fail("ZAP of a published range: %s", strerror(err));
			}
			count(OP_ZAP_PUB);
			/* And DROP there: mapped, moved or gone meanwhile. */
			lock = 0;
			err = vl_drop(R.fd, a, R.psz, &lock);
			if (err && err != ENOENT && err != EINVAL)
				fail("DROP of a published address: %s", strerror(err));
			else if (!err && !drop_lock_ok(lock))
				fail("DROP lock %u", lock);
			count(OP_DROP_PUB);
			break;
		default:
			err = vl_zap(R.fd, (unsigned long)R.map + 8, R.psz, &z);
			if (err != EINVAL)
				fail("unaligned ZAP: %s", strerror(err));
			break;
		}
		nap(&rng, 300);
	}
	return NULL;
}

/* Which LOOKUP locks are right in a mode: a bit per VMALOCK_LOCK_*. */
static unsigned int lookup_locks(__u32 mode)
{
	if (mode == VMALOCK_MODE_FORCE_MMAP || R.lookup_lock == VMALOCK_LOCK_MMAP)
		return 1 << VMALOCK_LOCK_MMAP;
	/* The per-VMA lock, or the mmap lock when the VMA is busy. */
	return 1 << VMALOCK_LOCK_VMA | 1 << VMALOCK_LOCK_MMAP;
}

/* Looks up the main mapping and published addresses; owns the mode. */
static void *lookup_thread(void *arg)
{
	__u64 rng = thread_rng();
	__u32 mode = VMALOCK_MODE_DEFAULT;
	struct vmalock_lookup l;
	unsigned long a, map = (unsigned long)R.map;
	int err;

	while (!stopped()) {
		switch (vl_below(&rng, 20)) {
		case 0 ... 9:
			a = map + vl_below(&rng, R.len);
			err = vl_lookup(R.fd, a, &l);
			if (err) {
				fail("LOOKUP in the mapping: %s", strerror(err));
				break;
			}
			if (l.start > a || l.end <= a || l.start < map ||
			    l.end > map + R.len || (l.start - map) % R.psz ||
			    l.pgoff != (l.start - map) / R.psz ||
			    !(l.flags & VL_VM_MIXEDMAP))
				fail("LOOKUP %#lx: [%#llx, %#llx) pgoff %llu in [%#lx, %#lx)",
				     a, (unsigned long long)l.start,
				     (unsigned long long)l.end,
				     (unsigned long long)l.pgoff, map, map + R.len);
			if (!(lookup_locks(mode) & 1 << l.lock))
				fail("LOOKUP lock %u in mode %u", l.lock, mode);
			count(OP_LOOKUP);
			break;
		case 10 ... 18:
			a = __atomic_load_n(&R.sh->pub[vl_below(&rng, NR_PUB)],
					    __ATOMIC_ACQUIRE);
			if (!a)
				break;
			a += vl_below(&rng, R.psz);
			err = vl_lookup(R.fd, a, &l);
			if (!err && (l.start > a || l.end <= a ||
				     !(l.flags & VL_VM_MIXEDMAP)))
				fail("LOOKUP %#lx: [%#llx, %#llx)", a,
				     (unsigned long long)l.start,
				     (unsigned long long)l.end);
			else if (err && err != ENOENT && err != EINVAL)
				fail("LOOKUP of a published address: %s", strerror(err));
			count(OP_LOOKUP_PUB);
			break;
		default:
			mode = vl_below(&rng, 2);
			err = vl_set_mode(R.fd, mode);
			if (err)
				fail("SET_MODE %u: %s", mode, strerror(err));
			count(OP_MODE);
			break;
		}
	}
	return NULL;
}

/* Splits and re-protects the main mapping; readers only read it. */
static void *split_thread(void *arg)
{
	__u64 rng = thread_rng();
	size_t first, n;

	while (!stopped()) {
		int prot = vl_below(&rng, 2) ? PROT_READ : PROT_READ | PROT_WRITE;

		pick_range(&rng, 16, &first, &n);
		if (mprotect(R.map + first * R.psz, n * R.psz, prot))
			fail("mprotect of the mapping: %s", strerror(errno));
		count(OP_SPLIT);
		nap(&rng, 500);
	}
	return NULL;
}

/* Other mappings of the same file: map, write, split, move, unmap. */
static void *map_thread(void *arg)
{
	__u64 rng = thread_rng(), tag = 0;
	struct vmalock_lookup l;
	size_t n, off, sz;
	char *p, *d;
	int err;

	while (!stopped()) {
		pick_range(&rng, 8, &off, &n);
		sz = n * R.psz;
		p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, R.fd, off * R.psz);
		if (p == MAP_FAILED) {
			fail("mmap of the file: %s", strerror(errno));
			break;
		}
		__atomic_fetch_add(&R.maps, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&R.sh->pub[0], (unsigned long)p, __ATOMIC_RELEASE);
		count(OP_MAP);
		/* The data word is only written here: the main mapping shows it. */
		for (size_t i = 0; i < n; i++) {
			check_page("other mapping", p + i * R.psz, off + i);
			vl_set_data(p + i * R.psz, ++tag);
			if (vl_get_data(R.map + (off + i) * R.psz) != tag)
				fail("page %zu: data not shared", off + i);
		}
		/* Move it onto a reserved range. */
		d = mmap(NULL, sz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (d == MAP_FAILED ||
		    mremap(p, sz, sz, MREMAP_MAYMOVE | MREMAP_FIXED, d) != d) {
			fail("mremap: %s", strerror(errno));
			munmap(p, sz);
			break;
		}
		__atomic_store_n(&R.sh->pub[0], (unsigned long)d, __ATOMIC_RELEASE);
		count(OP_MOVE);
		for (size_t i = 0; i < n; i++) {
			check_page("moved mapping", d + i * R.psz, off + i);
			if (vl_get_data(d + i * R.psz) != tag - n + 1 + i)
				fail("page %zu: data lost in the move", off + i);
		}
		if (n >= 3) {
			if (mprotect(d + R.psz, R.psz, PROT_READ))
				fail("mprotect: %s", strerror(errno));
			for (size_t i = 0; i < n; i++)
				check_page("split mapping", d + i * R.psz, off + i);
			if (mprotect(d + R.psz, R.psz, PROT_READ | PROT_WRITE))
				fail("mprotect: %s", strerror(errno));
		}
		err = vl_lookup(R.fd, (unsigned long)d, &l);
		if (err || l.start > (unsigned long)d || l.end <= (unsigned long)d ||
		    l.pgoff + ((unsigned long)d - l.start) / R.psz != off)
			fail("LOOKUP of a moved mapping: %s", strerror(err));
		if (n >= 2) {
			if (munmap(d, R.psz))
				fail("munmap: %s", strerror(errno));
			/* The hole may be mapped by another thread already. */
			d += R.psz;
			sz -= R.psz;
			check_page("trimmed mapping", d, off + 1);
		}
		/* The published address may go stale: LOOKUP says ENOENT. */
		if (munmap(d, sz))
			fail("munmap: %s", strerror(errno));
	}
	return NULL;
}

/* Anonymous memory next to it all. */
static void *anon_thread(void *arg)
{
	__u64 rng = thread_rng();
	size_t n, sz;
	char *p, *q;

	while (!stopped()) {
		n = 1 + vl_below(&rng, 8);
		sz = n * R.psz;
		p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			fail("anonymous mmap: %s", strerror(errno));
			break;
		}
		__atomic_store_n(&R.sh->pub[1], (unsigned long)p, __ATOMIC_RELEASE);
		for (size_t i = 0; i < n; i++)
			p[i * R.psz] = (char)i;
		q = mremap(p, sz, sz + 2 * R.psz, MREMAP_MAYMOVE);
		if (q == MAP_FAILED) {
			fail("anonymous mremap: %s", strerror(errno));
			munmap(p, sz);
			break;
		}
		__atomic_store_n(&R.sh->pub[1], (unsigned long)q, __ATOMIC_RELEASE);
		if (mprotect(q, R.psz, PROT_READ))
			fail("anonymous mprotect: %s", strerror(errno));
		for (size_t i = 0; i < n; i++)
			if (q[i * R.psz] != (char)i)
				fail("anonymous memory lost in mremap");
		if (munmap(q, sz + 2 * R.psz))
			fail("anonymous munmap: %s", strerror(errno));
		count(OP_ANON);
	}
	return NULL;
}

/* A forked child reads every page; it only reads memory and exits. */
static void *fork_thread(void *arg)
{
	__u64 rng = thread_rng();
	int status;
	pid_t pid;

	while (!stopped()) {
		nap(&rng, 20000);
		pid = fork();
		if (pid < 0) {
			fail("fork: %s", strerror(errno));
			break;
		}
		if (!pid) {
			__u64 gen;

			for (size_t p = 0; p < RACE_PAGES; p++)
				if (page_ok(R.map + p * R.psz, p, &gen))
					_exit(1);
			_exit(0);
		}
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			fail("forked reader: status %#x", status);
		count(OP_FORK);
	}
	return NULL;
}

/* Other files: open, size, map, zap, look up, close while mapped. */
static void *file_thread(void *arg)
{
	__u64 rng = thread_rng();
	struct vmalock_lookup l;
	struct vmalock_zap z;
	size_t n;
	char *p;
	int fd;

	while (!stopped()) {
		fd = open(R.dev, O_RDWR);
		if (fd < 0) {
			fail("open: %s", strerror(errno));
			break;
		}
		n = 1 + vl_below(&rng, 8);
		if (vl_set_size(fd, n))
			fail("SET_SIZE %zu", n);
		p = mmap(NULL, n * R.psz, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			fail("mmap of another file: %s", strerror(errno));
			close(fd);
			break;
		}
		for (size_t i = 0; i < n; i++)
			if (vl_index(p + i * R.psz) != i || vl_gen(p + i * R.psz))
				fail("another file: bad page %zu", i);
		if (vl_zap(fd, (unsigned long)p, n * R.psz, &z) ||
		    z.generation != 1 || z.vmas != 1)
			fail("ZAP of another file");
		if (vl_lookup(fd, (unsigned long)p, &l) || l.start != (unsigned long)p)
			fail("LOOKUP of another file");
		if (vl_below(&rng, 2)) {
			close(fd);
			fd = -1;
		}
		for (size_t i = 0; i < n; i++)
			if (vl_index(p + i * R.psz) != i || vl_gen(p + i * R.psz) != 1)
				fail("another file: bad page %zu after ZAP", i);
		munmap(p, n * R.psz);
		if (fd >= 0)
			close(fd);
		count(OP_FILE);
	}
	return NULL;
}

/* A reader of the PFN view expecting SIGBUS: on_fault() returns there. */
static __thread sigjmp_buf probe_env;
static __thread int probing;

/* Says where a SIGSEGV or SIGBUS hit, then dies of it. */
static void on_fault(int sig, siginfo_t *si, void *uc)
{
	char buf[200];
	int len;

	if (sig == SIGBUS && __atomic_load_n(&probing, __ATOMIC_RELAXED))
		siglongjmp(probe_env, 1);
	len = snprintf(buf, sizeof(buf),
		       "# signal %d code %d at %p; mapping [%p, %p), published %#lx %#lx\n",
		       sig, si->si_code, si->si_addr, R.map, R.map + R.len,
		       R.sh->pub[0], R.sh->pub[1]);
	write(2, buf, len);
	signal(sig, SIG_DFL);
	raise(sig);
}

FIXTURE(race) {
	int fd;
	struct race_shared *sh;
};

FIXTURE_VARIANT(race) {
	const char *dev;
	__u32 lookup_lock;	/* LOOKUP's lock in the default mode */
};

FIXTURE_VARIANT_ADD(race, rust) {
	.dev = RUST_DEV,
	.lookup_lock = VMALOCK_LOCK_VMA,
};

FIXTURE_VARIANT_ADD(race, c) {
	.dev = C_DEV,
	.lookup_lock = 0,	/* vl_c_lookup_lock(): depends on the kernel */
};

FIXTURE_SETUP(race)
{
	struct vmalock_info info;

	self->fd = -1;
	self->sh = MAP_FAILED;
	if (access(variant->dev, F_OK))
		SKIP(return, "%s missing: module not loaded", variant->dev);
	struct sigaction sa = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO };

	memset(&R, 0, sizeof(R));
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	R.dev = variant->dev;
	R.lookup_lock = variant->lookup_lock ?: vl_c_lookup_lock();
	R.psz = getpagesize();
	R.len = RACE_PAGES * R.psz;
	R.madvise = vl_have_madvise();
	if (!R.madvise)
		TH_LOG("no madvise() (CONFIG_ADVISE_SYSCALLS=n): pages fault again after ZAP");
	R.seed = vl_seed();
	TH_LOG("seed %llu (VMALOCK_SEED), %lu ms (VMALOCK_RACE_MS)",
	       (unsigned long long)R.seed, vl_env("VMALOCK_RACE_MS", 3000));
	self->sh = mmap(NULL, sizeof(*self->sh), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->sh);
	R.sh = self->sh;
	self->fd = open(variant->dev, O_RDWR);
	ASSERT_LE(0, self->fd);
	R.fd = self->fd;
	ASSERT_EQ(0, vl_info(R.fd, &info));
	ASSERT_EQ(RACE_PAGES, info.npages);
	R.map = mmap(NULL, R.len, PROT_READ | PROT_WRITE, MAP_SHARED, R.fd, 0);
	ASSERT_NE(MAP_FAILED, R.map);
}

FIXTURE_TEARDOWN(race)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->sh != MAP_FAILED)
		munmap(self->sh, sizeof(*self->sh));
}

static int run_threads(void *(**fns)(void *), int nr)
{
	pthread_t t[MAX_THREADS];
	struct timespec ts;
	unsigned long ms = vl_env("VMALOCK_RACE_MS", 3000);
	int i, started;

	for (started = 0; started < nr; started++)
		if (pthread_create(&t[started], NULL, fns[started], NULL))
			break;
	if (started < nr)
		fail("pthread_create");
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (!stopped() && nanosleep(&ts, &ts))
		;
	__atomic_store_n(&R.sh->stop, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	return R.sh->fails;
}

static void report(struct __test_metadata *_metadata)
{
	char buf[512];
	int len = 0;

	for (int i = 0; i < NR_OPS && len < sizeof(buf); i++)
		if (R.ops[i])
			len += snprintf(buf + len, sizeof(buf) - len, " %s=%lu",
					op_names[i], R.ops[i]);
	TH_LOG("ops:%s", len ? buf : " none");
	EXPECT_EQ(0, R.sh->fails) TH_LOG("%d failures, first: %s", R.sh->fails, R.sh->msg);
}

/* Every page of the main mapping, after the threads are done. */
static void check_all(struct __test_metadata *_metadata)
{
	struct vmalock_info info;

	for (size_t p = 0; p < RACE_PAGES; p++)
		check_page("final", R.map + p * R.psz, p);
	ASSERT_EQ(0, vl_info(R.fd, &info));
	EXPECT_EQ(R.sh->gen, info.generation);
	EXPECT_EQ(0, R.sh->fails) TH_LOG("%s", R.sh->msg);
}

TEST_F_TIMEOUT(race, zap_while_faulting, 300)
{
	unsigned long ms = vl_env("VMALOCK_RACE_MS", 3000), zaps = 0, pages = 0;
	struct vmalock_stats s;
	pthread_t t[4];
	__u64 rng = vl_seed_state(R.seed), last = 0;
	struct timespec start, now;
	struct vmalock_zap z;
	int phase = 0;

	for (int i = 0; i < 4; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, fault_thread, NULL));
	clock_gettime(CLOCK_MONOTONIC, &start);
	/* The first half in the default mode, the second in the forced one. */
	while (!stopped()) {
		size_t first, n;
		unsigned long el;
		int err;

		clock_gettime(CLOCK_MONOTONIC, &now);
		el = (now.tv_sec - start.tv_sec) * 1000 +
		     (now.tv_nsec - start.tv_nsec) / 1000000;
		if (el >= ms)
			break;
		if (!phase && el >= ms / 2) {
			ASSERT_EQ(0, vl_set_mode(R.fd, VMALOCK_MODE_FORCE_MMAP));
			phase = 1;
		}
		pick_range(&rng, RACE_PAGES, &first, &n);
		err = vl_zap(R.fd, (unsigned long)R.map + first * R.psz, n * R.psz, &z);
		if (err || z.generation != last + 1 || z.vmas != 1) {
			fail("ZAP: %s, generation %llu after %llu, %llu VMAs",
			     strerror(err), (unsigned long long)z.generation,
			     (unsigned long long)last, (unsigned long long)z.vmas);
			break;
		}
		last = z.generation;
		publish_zap(last, first, n);
		zaps++;
		pages += n;
		nap(&rng, 1000);
	}
	__atomic_store_n(&R.sh->stop, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	R.ops[OP_ZAP] = zaps;
	report(_metadata);
	check_all(_metadata);
	ASSERT_EQ(0, vl_stats(R.fd, VMALOCK_STATS_FILE, &s));
	EXPECT_EQ(zaps, s.write_marks);
	EXPECT_EQ(pages, s.pages_zapped);
	EXPECT_LE(1, zaps);
	EXPECT_LE(1, R.ops[OP_READ]);
	EXPECT_LE(1, s.faults_vma);
	/* The forced half: faults met a retry and completed under mmap_lock. */
	EXPECT_LE(1, s.retries);
	EXPECT_LE(1, s.faults_mmap);
	TH_LOG("faults: %llu under the VMA lock, %llu under mmap_lock, %llu retries",
	       (unsigned long long)s.faults_vma, (unsigned long long)s.faults_mmap,
	       (unsigned long long)s.retries);
	munmap(R.map, R.len);
}

/*
 * Reads page, which maps buffer page pgoff of a PFN view, and checks the
 * read against the revocation phase. Returns whether it read.
 */
static int check_pfn_read(const char *view, char *page, size_t pgoff)
{
	unsigned long before, after;
	__u64 idx = ~0ULL;
	int ok;

	/* Nothing local changes between sigsetjmp() and a SIGBUS. */
	before = __atomic_load_n(&R.sh->phase, __ATOMIC_SEQ_CST);
	__atomic_store_n(&probing, 1, __ATOMIC_SEQ_CST);
	ok = !sigsetjmp(probe_env, 1);
	if (ok)
		idx = vl_index(page);
	__atomic_store_n(&probing, 0, __ATOMIC_SEQ_CST);
	after = __atomic_load_n(&R.sh->phase, __ATOMIC_SEQ_CST);
	if (ok && idx != pgoff)
		fail("%s: page %zu shows index %llu", view, pgoff, (unsigned long long)idx);
	if (ok && before == after && before % 4 == 2)
		fail("%s: page %zu readable after REVOKE returned (phase %lu)", view, pgoff,
		     before);
	if (!ok && before == after && before % 4 == 0)
		fail("%s: page %zu: SIGBUS while live (phase %lu)", view, pgoff, before);
	return ok;
}

/* Reads the PFN view, checking each read against the revocation phase. */
static void *pfn_thread(void *arg)
{
	__u64 rng = thread_rng();

	while (!stopped()) {
		size_t p = vl_below(&rng, RACE_PAGES);
		int ok = check_pfn_read("PFN view", R.pfn + p * R.psz, p);

		__atomic_fetch_add(ok ? &R.pfn_ok : &R.pfn_sigbus, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * Maps ranges of the eager PFN view, which mmap populates, while REVOKE and
 * RESTORE run: a mapping made during a revocation must have no page left
 * once REVOKE returned, and mmap fails with ENODEV only while revoked.
 */
static void *eager_thread(void *arg)
{
	__u64 rng = thread_rng();

	while (!stopped()) {
		unsigned long before, after;
		size_t first, n;
		char *p;

		pick_range(&rng, RACE_PAGES, &first, &n);
		/* One page would be remapped whole: refused on x86. */
		if (n == 1 && vl_whole_remap_refused()) {
			first -= !!first;
			n = 2;
		}
		before = __atomic_load_n(&R.sh->phase, __ATOMIC_SEQ_CST);
		p = mmap(NULL, n * R.psz, PROT_READ, MAP_SHARED, R.fd,
			 VMALOCK_PFN_EAGER_OFFSET + first * R.psz);
		after = __atomic_load_n(&R.sh->phase, __ATOMIC_SEQ_CST);
		if (p == MAP_FAILED) {
			if (errno != ENODEV || (before == after && before % 4 == 0))
				fail("eager mmap (phase %lu..%lu): %s", before, after,
				     strerror(errno));
			__atomic_fetch_add(&R.eager_enodev, 1, __ATOMIC_RELAXED);
			continue;
		}
		__atomic_fetch_add(&R.eager_maps, 1, __ATOMIC_RELAXED);
		for (size_t i = 0; i < n; i++) {
			int ok = check_pfn_read("eager view", p + i * R.psz, first + i);

			__atomic_fetch_add(ok ? &R.eager_ok : &R.eager_sigbus, 1,
					   __ATOMIC_RELAXED);
		}
		munmap(p, n * R.psz);
	}
	return NULL;
}

TEST_F_TIMEOUT(race, revoke_while_faulting, 300)
{
	unsigned long ms = vl_env("VMALOCK_RACE_MS", 3000), revokes = 0;
	__u64 rng = vl_seed_state(R.seed);
	struct timespec start, now;
	struct vmalock_stats s;
	pthread_t t[5];

	R.pfn = mmap(NULL, R.len, PROT_READ, MAP_SHARED, R.fd, VMALOCK_PFN_OFFSET);
	ASSERT_NE(MAP_FAILED, R.pfn);
	for (int i = 0; i < 5; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, i < 4 ? pfn_thread : eager_thread,
					    NULL));
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!stopped()) {
		int err;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000 >= ms)
			break;
		nap(&rng, 2000);
		__atomic_fetch_add(&R.sh->phase, 1, __ATOMIC_SEQ_CST);
		err = vl_revoke(R.fd, VMALOCK_REVOKE_REVOKE);
		__atomic_fetch_add(&R.sh->phase, 1, __ATOMIC_SEQ_CST);
		if (err) {
			fail("REVOKE: %s", strerror(err));
			break;
		}
		revokes++;
		nap(&rng, 2000);
		__atomic_fetch_add(&R.sh->phase, 1, __ATOMIC_SEQ_CST);
		err = vl_revoke(R.fd, VMALOCK_REVOKE_RESTORE);
		__atomic_fetch_add(&R.sh->phase, 1, __ATOMIC_SEQ_CST);
		if (err) {
			fail("RESTORE: %s", strerror(err));
			break;
		}
	}
	__atomic_store_n(&R.sh->stop, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 5; i++)
		pthread_join(t[i], NULL);
	TH_LOG("%lu revocations; PFN reads: %lu ok, %lu SIGBUS", revokes, R.pfn_ok,
	       R.pfn_sigbus);
	TH_LOG("eager maps: %lu, %lu ENODEV; reads: %lu ok, %lu SIGBUS", R.eager_maps,
	       R.eager_enodev, R.eager_ok, R.eager_sigbus);
	EXPECT_EQ(0, R.sh->fails) TH_LOG("%d failures, first: %s", R.sh->fails, R.sh->msg);
	ASSERT_EQ(0, vl_stats(R.fd, VMALOCK_STATS_FILE, &s));
	EXPECT_EQ(revokes, s.revokes);
	EXPECT_LE(1, revokes);
	EXPECT_LE(1, R.pfn_ok);
	EXPECT_LE(1, R.pfn_sigbus);
	EXPECT_LE(1, R.eager_maps);
	/* Live again: every page reads. */
	for (size_t p = 0; p < RACE_PAGES; p++)
		EXPECT_EQ(p, vl_index(R.pfn + p * R.psz));
	munmap(R.pfn, R.len);
	munmap(R.map, R.len);
}

TEST_F_TIMEOUT(race, everything, 300)
{
	void *(*fns[])(void *) = {
		fault_thread, fault_thread, zap_thread, lookup_thread,
		split_thread, map_thread, anon_thread, fork_thread, file_thread,
	};
	struct vmalock_stats s;

	R.nap_readers = 1;
	R.splits = 1;
	run_threads(fns, ARRAY_SIZE(fns));
	report(_metadata);
	check_all(_metadata);
	/* Given a second, every kind of operation happens. */
	for (int i = 0; i < NR_OPS; i++) {
		if ((i == OP_DONTNEED && !R.madvise) ||
		    vl_env("VMALOCK_RACE_MS", 3000) < 1000)
			continue;
		EXPECT_LE(1, R.ops[i]) TH_LOG("no %s happened", op_names[i]);
	}
	/* Every VMA of the file is gone: opens and closes balance. */
	ASSERT_EQ(0, munmap(R.map, R.len));
	ASSERT_EQ(0, vl_stats(R.fd, VMALOCK_STATS_FILE, &s));
	EXPECT_EQ(s.vma_opens + 1 + R.maps, s.vma_closes);
}

TEST_HARNESS_MAIN
