// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded random run of operations on the vmalock sample devices, checked
 * against a model of the address space, the buffers and the statistics.
 *
 * Two open files share a window of address space. The model knows, for
 * every page of the window, whether it is unmapped, anonymous or maps a
 * page of one of the files (with its protection and VMA), whether its PTE
 * is present, and for every buffer page its header generation and data
 * word, and which view maps it (pages, the PFN view or the eager PFN view)
 * and whether the PFN views are revoked. From that it predicts the result of
 * each mmap, munmap, mprotect, mremap, madvise(MADV_DONTNEED), touch
 * (SIGBUS included), ZAP, DROP, LOOKUP, SET_MODE, GET_INFO, REVOKE and
 * RESTORE (errno included), the VMA a LOOKUP reports, the lock a LOOKUP or a
 * DROP took, and the exact fault, retry, write-mark, zapped-page, drop, PFN
 * fault and remap, revocation and VMA open/close counters.
 *
 * VMALOCK_RANDOM_OPS sets the number of operations (default 100000),
 * VMALOCK_SEED the seed (printed, so that a failure can be replayed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

#define WIN		96	/* pages of the window */
#define BUF		24	/* pages of each file's buffer */
#define NR_FILES	2
#define VERIFY_EVERY	2000

enum kind { HOLE, ANON, FILE_PAGE };

/* The view a file page is mapped through: the mmap offset of each. */
enum view { PAGES, PFN, PFN_EAGER, NR_VIEWS };

static const __u64 view_offset[NR_VIEWS] = {
	0, VMALOCK_PFN_OFFSET, VMALOCK_PFN_EAGER_OFFSET,
};

struct mpage {
	unsigned char kind;
	unsigned char file;
	unsigned char prot;
	unsigned char priv;	/* MAP_PRIVATE, read-only */
	unsigned char present;	/* its PTE is populated */
	unsigned char view;	/* enum view */
	unsigned int pgoff;
	unsigned int vma;	/* VMA id: pages of a VMA are contiguous */
};

struct mfile {
	int fd;
	__u32 mode;
	__u64 gen;
	__u64 hgen[BUF];	/* header generation of each buffer page */
	__u64 data[BUF];	/* data word of each buffer page */
	__u64 maps;		/* successful mmaps */
	int revoked;		/* the PFN view is revoked */
	/* Expected counters. */
	__u64 faults_vma, faults_mmap, retries, write_marks, pages_zapped;
	__u64 pfn_faults, pfn_remaps, revokes;
	__u64 drops_vma, drops_mmap;
};

static struct {
	struct mpage pg[WIN];
	struct mfile f[NR_FILES];
	char *win;
	size_t psz;
	__u32 lookup_lock;	/* LOOKUP's lock in the default mode */
	int madvise;		/* madvise() exists */
	unsigned int next_vma;
	__u64 rng;
	unsigned long op;
	const char *op_name;
	char msg[512];
	unsigned long counts[32];
} M;

static int failed(const char *fmt, ...)
{
	va_list ap;
	int len;

	len = snprintf(M.msg, sizeof(M.msg), "op %lu (%s): ", M.op, M.op_name);
	va_start(ap, fmt);
	vsnprintf(M.msg + len, sizeof(M.msg) - len, fmt, ap);
	va_end(ap);
	return -1;
}

/* Formats the expected side of a failure message. */
static const char *want(const char *fmt, ...)
{
	static char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return buf;
}

static char *addr(size_t w)
{
	return M.win + w * M.psz;
}

static unsigned long below(unsigned long n)
{
	return vl_below(&M.rng, n);
}

/* A random range of the window: first page and count (1..8). */
static void range(size_t *a, size_t *n)
{
	*n = 1 + below(8);
	*a = below(WIN - *n + 1);
}

/* Makes w the first page of its VMA, as a split of the kernel would. */
static void split_at(size_t w)
{
	unsigned int id, fresh;

	if (w == 0 || w >= WIN || M.pg[w].kind != FILE_PAGE ||
	    M.pg[w - 1].kind != FILE_PAGE || M.pg[w - 1].vma != M.pg[w].vma)
		return;
	id = M.pg[w].vma;
	fresh = ++M.next_vma;
	for (; w < WIN && M.pg[w].kind == FILE_PAGE && M.pg[w].vma == id; w++)
		M.pg[w].vma = fresh;
}

/* The model of an munmap, also the first step of MAP_FIXED and moves. */
static void unmap_model(size_t a, size_t n, enum kind kind)
{
	split_at(a);
	split_at(a + n);
	for (size_t w = a; w < a + n; w++) {
		memset(&M.pg[w], 0, sizeof(M.pg[w]));
		M.pg[w].kind = kind;
	}
}

static void vma_bounds(size_t w, size_t *start, size_t *end)
{
	unsigned int id = M.pg[w].vma;

	*start = w;
	while (*start > 0 && M.pg[*start - 1].kind == FILE_PAGE &&
	       M.pg[*start - 1].vma == id)
		--*start;
	*end = w + 1;
	while (*end < WIN && M.pg[*end].kind == FILE_PAGE && M.pg[*end].vma == id)
		++*end;
}

/* VMAs of file f in the window. */
static unsigned int nr_vmas(int f)
{
	unsigned int n = 0;

	for (size_t w = 0; w < WIN; w++)
		if (M.pg[w].kind == FILE_PAGE && M.pg[w].file == f &&
		    (w == 0 || M.pg[w - 1].kind != FILE_PAGE ||
		     M.pg[w - 1].vma != M.pg[w].vma))
			n++;
	return n;
}

/* Counts the fault a touch of page pg makes in some process. */
static void count_fault(struct mpage *pg)
{
	struct mfile *mf = &M.f[pg->file];

	if (mf->mode == VMALOCK_MODE_DEFAULT) {
		mf->faults_vma++;
	} else {
		mf->retries++;
		mf->faults_mmap++;
	}
	if (pg->view != PAGES)
		mf->pfn_faults++;
}

/* The lock a LOOKUP or a DROP on file f takes in its mode. */
static __u32 ioctl_lock(int f)
{
	return M.f[f].mode == VMALOCK_MODE_DEFAULT ? M.lookup_lock : VMALOCK_LOCK_MMAP;
}

/* A page of a revoked PFN view (either): its faults get SIGBUS. */
static int revoked(const struct mpage *pg)
{
	return pg->view != PAGES && M.f[pg->file].revoked;
}

/* Reads page w and compares it with the model; faults it in if needed. */
static int verify_page(size_t w)
{
	struct mpage *pg = &M.pg[w];
	struct mfile *mf = &M.f[pg->file];
	__u64 idx, gen, data;
	int sigbus;

	if (!pg->present)
		count_fault(pg);
	sigbus = vl_try_index(addr(w), &idx);
	if (revoked(pg)) {
		if (!sigbus)
			return failed("page %zu (file %d pgoff %u): readable while revoked",
				      w, pg->file, pg->pgoff);
		return 0;
	}
	if (sigbus)
		return failed("page %zu (file %d pgoff %u, view %d): SIGBUS", w, pg->file,
			      pg->pgoff, pg->view);
	pg->present = 1;
	gen = vl_gen(addr(w));
	if (idx != pg->pgoff || gen != mf->hgen[pg->pgoff])
		return failed("page %zu (file %d pgoff %u): index %llu generation %llu, want %llu",
			      w, pg->file, pg->pgoff, (unsigned long long)idx,
			      (unsigned long long)gen,
			      (unsigned long long)mf->hgen[pg->pgoff]);
	data = vl_get_data(addr(w));
	if (data != mf->data[pg->pgoff])
		return failed("page %zu (file %d pgoff %u): data %#llx, want %#llx",
			      w, pg->file, pg->pgoff, (unsigned long long)data,
			      (unsigned long long)mf->data[pg->pgoff]);
	return 0;
}

static int readable(size_t w)
{
	return M.pg[w].kind == FILE_PAGE && (M.pg[w].prot & PROT_READ);
}

/* A random page that maps a file, or -1. */
static long file_page(void)
{
	for (int tries = 0; tries < 8; tries++) {
		size_t w = below(WIN);

		if (M.pg[w].kind == FILE_PAGE)
			return w;
	}
	return -1;
}

static int op_touch(void)
{
	long w = file_page();

	if (w < 0 || !readable(w))
		return 0;
	return verify_page(w);
}

static int op_write(void)
{
	long w = file_page();
	struct mpage *pg;

	if (w < 0)
		return 0;
	pg = &M.pg[w];
	if (pg->priv || pg->prot != (PROT_READ | PROT_WRITE) || revoked(pg))
		return 0;
	if (!pg->present)
		count_fault(pg);
	pg->present = 1;
	M.f[pg->file].data[pg->pgoff] = vl_rand(&M.rng);
	vl_set_data(addr(w), M.f[pg->file].data[pg->pgoff]);
	return 0;
}

static int op_map(void)
{
	int f = below(5) ? 0 : 1, priv = !below(6), prot, view = below(10);
	size_t a, n, pgoff;
	char *p;

	view = view < 6 ? PAGES : view < 9 ? PFN : PFN_EAGER;
	range(&a, &n);
	/*
	 * An eager view of one page would be PAT-tracked whole on x86:
	 * its mmap fails with EINVAL there (vmalock_test covers that), and a
	 * failed MAP_FIXED mmap would leave a hole the model does not expect.
	 */
	if (view == PFN_EAGER && n == 1 && vl_whole_remap_refused())
		view = PFN;
	pgoff = below(BUF - n + 1);
	if (view != PAGES && M.f[f].revoked) {
		/* Not MAP_FIXED: a failed MAP_FIXED leaves a hole behind. */
		p = mmap(NULL, n * M.psz, PROT_READ, MAP_SHARED, M.f[f].fd,
			 view_offset[view] + pgoff * M.psz);
		if (p != MAP_FAILED || errno != ENODEV)
			return failed("mmap of the revoked PFN view: %s", strerror(errno));
		return 0;
	}
	if (priv)
		prot = below(4) ? PROT_READ : PROT_NONE;
	else
		prot = below(10) ? (below(2) ? PROT_READ : PROT_READ | PROT_WRITE) : PROT_NONE;
	p = mmap(addr(a), n * M.psz, prot, (priv ? MAP_PRIVATE : MAP_SHARED) | MAP_FIXED,
		 M.f[f].fd, view_offset[view] + pgoff * M.psz);
	if (p != addr(a))
		return failed("mmap(%zu pages at %zu, view %d pgoff %zu, prot %d, %s): %s",
			      n, a, view, pgoff, prot, priv ? "private" : "shared",
			      strerror(errno));
	unmap_model(a, n, HOLE);
	M.next_vma++;
	for (size_t i = 0; i < n; i++) {
		struct mpage *pg = &M.pg[a + i];

		pg->kind = FILE_PAGE;
		pg->file = f;
		pg->prot = prot;
		pg->priv = priv;
		pg->pgoff = pgoff + i;
		pg->vma = M.next_vma;
		pg->view = view;
		/* The eager view is mapped at mmap time. */
		pg->present = view == PFN_EAGER;
	}
	if (view == PFN_EAGER)
		M.f[f].pfn_remaps += n;
	M.f[f].maps++;
	return 0;
}

static int op_map_bad(void)
{
	size_t n = 1 + below(4), pgoff = BUF - n + 1 + below(4);
	void *p;

	/* Not MAP_FIXED: a failed MAP_FIXED leaves a hole behind. */
	p = mmap(NULL, n * M.psz, PROT_READ, MAP_SHARED, M.f[0].fd, pgoff * M.psz);
	if (p != MAP_FAILED || errno != EINVAL)
		return failed("mmap beyond the buffer: %s", strerror(errno));
	return 0;
}

static int op_unmap(void)
{
	size_t a, n;

	range(&a, &n);
	if (munmap(addr(a), n * M.psz))
		return failed("munmap: %s", strerror(errno));
	unmap_model(a, n, HOLE);
	return 0;
}

static int op_reserve(void)
{
	size_t a, n;
	void *p;

	range(&a, &n);
	p = mmap(addr(a), n * M.psz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0);
	if (p != addr(a))
		return failed("anonymous mmap: %s", strerror(errno));
	unmap_model(a, n, ANON);
	return 0;
}

/* A random sub-range [a, a + n) of the VMA of page w. */
static void vma_sub_range(size_t w, size_t *a, size_t *n)
{
	size_t s, e;

	vma_bounds(w, &s, &e);
	*a = s + below(e - s);
	*n = 1 + below(e - *a);
}

static int op_mprotect(void)
{
	static const int prots[] = { PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE };
	int prot = prots[below(3)], err;
	long w = file_page();
	size_t a, n;

	if (w < 0)
		return 0;
	vma_sub_range(w, &a, &n);
	err = mprotect(addr(a), n * M.psz, prot) ? errno : 0;
	if (M.pg[a].priv && (prot & PROT_WRITE)) {
		if (err != EACCES)
			return failed("mprotect(PROT_WRITE) of a private mapping: %s",
				      strerror(err));
		return 0;
	}
	if (err)
		return failed("mprotect(%zu pages at %zu, %d): %s", n, a, prot, strerror(err));
	if (M.pg[a].prot == prot)
		return 0;
	split_at(a);
	split_at(a + n);
	for (size_t i = a; i < a + n; i++)
		M.pg[i].prot = prot;
	return 0;
}

static int op_move(void)
{
	struct mpage saved[8];
	long w = file_page();
	size_t a, n, d;
	void *p;

	if (w < 0)
		return 0;
	vma_sub_range(w, &a, &n);
	if (n > 8)
		n = 8;
	d = below(WIN - n + 1);
	if (d < a + n && a < d + n)
		return 0;
	p = mremap(addr(a), n * M.psz, n * M.psz, MREMAP_MAYMOVE | MREMAP_FIXED, addr(d));
	if (p != addr(d))
		return failed("mremap(%zu pages at %zu to %zu): %s", n, a, d, strerror(errno));
	memcpy(saved, &M.pg[a], n * sizeof(saved[0]));
	unmap_model(d, n, HOLE);
	M.next_vma++;
	for (size_t i = 0; i < n; i++) {
		M.pg[d + i] = saved[i];
		M.pg[d + i].vma = M.next_vma;
	}
	unmap_model(a, n, HOLE);
	return 0;
}

static int op_grow(void)
{
	long w = file_page();
	size_t s, e;
	void *p;

	if (w < 0)
		return 0;
	vma_bounds(w, &s, &e);
	p = mremap(addr(w), (e - w) * M.psz, (e - w + 1) * M.psz, MREMAP_MAYMOVE);
	if (p != MAP_FAILED || errno != EFAULT)
		return failed("mremap grow: %s", strerror(errno));
	return 0;
}

static int op_dontneed(void)
{
	int hole = 0, err;
	size_t a, n;

	if (!M.madvise)
		return 0;
	range(&a, &n);
	/* PFN maps refuse MADV_DONTNEED (EINVAL), after the VMAs before them. */
	for (size_t w = a; w < a + n; w++)
		if (M.pg[w].kind == FILE_PAGE && M.pg[w].view != PAGES)
			return 0;
	err = madvise(addr(a), n * M.psz, MADV_DONTNEED) ? errno : 0;
	for (size_t w = a; w < a + n; w++) {
		hole |= M.pg[w].kind == HOLE;
		M.pg[w].present = 0;
	}
	if (err != (hole ? ENOMEM : 0))
		return failed("madvise(DONTNEED) %zu pages at %zu: %s", n, a, strerror(err));
	return 0;
}

static int op_zap(void)
{
	int f = below(8) ? 0 : 1, err;
	struct mfile *mf = &M.f[f];
	unsigned int vmas = 0, pages = 0;
	struct vmalock_zap z;
	size_t a, n;

	range(&a, &n);
	for (size_t w = a; w < a + n; w++) {
		if (M.pg[w].kind != FILE_PAGE || M.pg[w].file != f)
			continue;
		pages++;
		if (w == a || M.pg[w - 1].kind != FILE_PAGE || M.pg[w - 1].vma != M.pg[w].vma)
			vmas++;
	}
	err = vl_zap(mf->fd, (unsigned long)addr(a), n * M.psz, &z);
	if (!vmas) {
		if (err != EINVAL)
			return failed("ZAP without a VMA of the file: %s", strerror(err));
		return 0;
	}
	if (err)
		return failed("ZAP of %zu pages at %zu: %s", n, a, strerror(err));
	mf->gen++;
	if (z.generation != mf->gen || z.vmas != vmas)
		return failed("ZAP: generation %llu vmas %llu, want %llu and %u",
			      (unsigned long long)z.generation,
			      (unsigned long long)z.vmas,
			      (unsigned long long)mf->gen, vmas);
	mf->write_marks += vmas;
	mf->pages_zapped += pages;
	for (size_t w = a; w < a + n; w++) {
		if (M.pg[w].kind != FILE_PAGE || M.pg[w].file != f)
			continue;
		mf->hgen[M.pg[w].pgoff] = mf->gen;
		M.pg[w].present = 0;
	}
	return 0;
}

/*
 * DROP: the caller's pages of a range inside one VMA of the file lose their
 * PTEs and keep their contents, under the lock a LOOKUP would take.
 */
static int op_drop(void)
{
	int f = below(8) ? 0 : 1, err, expect = 0;
	struct mfile *mf = &M.f[f];
	__u32 lock = 0;
	size_t a, n, s, e;

	range(&a, &n);
	if (M.pg[a].kind == HOLE) {
		expect = ENOENT;
	} else if (M.pg[a].kind != FILE_PAGE || M.pg[a].file != f) {
		expect = EINVAL;
	} else {
		vma_bounds(a, &s, &e);
		if (a + n > e)
			expect = EINVAL;
	}
	err = vl_drop(mf->fd, (unsigned long)addr(a), n * M.psz, &lock);
	if (err != expect)
		return failed("DROP of %zu pages at %zu: %s, want %s", n, a, strerror(err),
			      strerror(expect));
	if (err)
		return 0;
	if (lock != ioctl_lock(f))
		return failed("DROP under lock %u, want %u", lock, ioctl_lock(f));
	if (lock == VMALOCK_LOCK_VMA)
		mf->drops_vma++;
	else
		mf->drops_mmap++;
	for (size_t w = a; w < a + n; w++)
		M.pg[w].present = 0;
	return 0;
}

static int op_zap_bad(void)
{
	struct vmalock_zap z;
	int err;

	err = vl_zap(M.f[0].fd, (unsigned long)addr(below(WIN)) + 8, M.psz, &z);
	if (err != EINVAL)
		return failed("unaligned ZAP: %s", strerror(err));
	return 0;
}

static int op_revoke(void)
{
	int f = below(4) ? 0 : 1, restore = below(2), err;
	struct mfile *mf = &M.f[f];

	err = vl_revoke(mf->fd, restore ? VMALOCK_REVOKE_RESTORE : VMALOCK_REVOKE_REVOKE);
	if (!mf->maps)
		return err == EINVAL ? 0 : failed("REVOKE before mmap: %s", strerror(err));
	if (restore) {
		if (err != (mf->revoked ? 0 : EBUSY))
			return failed("RESTORE (revoked %d): %s", mf->revoked, strerror(err));
		mf->revoked = 0;
		return 0;
	}
	if (err != (mf->revoked ? EALREADY : 0))
		return failed("REVOKE (revoked %d): %s", mf->revoked, strerror(err));
	if (mf->revoked)
		return 0;
	/* Every mapping of the file loses its pages. */
	mf->revoked = 1;
	mf->revokes++;
	for (size_t w = 0; w < WIN; w++)
		if (M.pg[w].kind == FILE_PAGE && M.pg[w].file == f)
			M.pg[w].present = 0;
	return 0;
}

static int check_lookup(int f, size_t w)
{
	unsigned long a = (unsigned long)addr(w) + below(M.psz);
	struct mpage *pg = &M.pg[w];
	struct vmalock_lookup l;
	__u64 flags = 0;
	size_t s, e;
	__u32 lock;
	int err;

	err = vl_lookup(M.f[f].fd, a, &l);
	if (pg->kind == HOLE)
		return err == ENOENT ? 0 : failed("LOOKUP of a hole: %s", strerror(err));
	if (pg->kind == ANON || pg->file != f)
		return err == EINVAL ? 0 :
			failed("LOOKUP of page %zu mapping something else: %s",
			       w, strerror(err));
	if (err)
		return failed("LOOKUP of page %zu: %s", w, strerror(err));
	vma_bounds(w, &s, &e);
	if (pg->prot & PROT_READ)
		flags |= VL_VM_READ;
	if (pg->prot & PROT_WRITE)
		flags |= VL_VM_WRITE;
	if (!pg->priv)
		flags |= VL_VM_SHARED;
	lock = ioctl_lock(f);
	if (l.start != (unsigned long)addr(s) || l.end != (unsigned long)addr(e) ||
	    l.pgoff != M.pg[s].pgoff + view_offset[pg->view] / M.psz || l.lock != lock ||
	    (l.flags & (VL_VM_READ | VL_VM_WRITE | VL_VM_SHARED)) != flags)
		return failed("LOOKUP of %zu: [%lld, %lld) pgoff %llu lock %u flags %#llx; want %s",
			      w, (long long)(l.start - (unsigned long)M.win) / (long long)M.psz,
			      (long long)(l.end - (unsigned long)M.win) / (long long)M.psz,
			      (unsigned long long)l.pgoff, l.lock,
			      (unsigned long long)l.flags,
			      want("[%zu, %zu) pgoff %u lock %u flags %#llx", s, e,
				   M.pg[s].pgoff, lock, (unsigned long long)flags));
	return 0;
}

static int op_lookup(void)
{
	return check_lookup(below(5) ? 0 : 1, below(WIN));
}

static int op_mode(void)
{
	int f = below(NR_FILES);
	__u32 mode = below(2);
	int err = vl_set_mode(M.f[f].fd, mode);

	if (err)
		return failed("SET_MODE %u: %s", mode, strerror(err));
	M.f[f].mode = mode;
	return 0;
}

static int op_info(void)
{
	int f = below(NR_FILES);
	struct vmalock_info info;
	int err = vl_info(M.f[f].fd, &info);

	if (err)
		return failed("GET_INFO: %s", strerror(err));
	if (info.npages != BUF || info.generation != M.f[f].gen || info.mode != M.f[f].mode)
		return failed("GET_INFO of file %d: npages %llu generation %llu mode %u",
			      f, (unsigned long long)info.npages,
			      (unsigned long long)info.generation, info.mode);
	if (M.f[f].maps && vl_set_size(M.f[f].fd, BUF) != EBUSY)
		return failed("SET_SIZE after mmap did not fail with EBUSY");
	return 0;
}

/* A child reads every readable page and exits; its faults count too. */
static int op_fork(void)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return failed("fork: %s", strerror(errno));
	if (!pid) {
		for (size_t w = 0; w < WIN; w++)
			if (readable(w) && verify_page(w))
				_exit(1);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return failed("forked reader: status %#x", status);
	for (size_t w = 0; w < WIN; w++)
		if (readable(w) && !M.pg[w].present)
			count_fault(&M.pg[w]);
	return 0;
}

/* Every page, every LOOKUP and the exact counters. */
static int verify_all(void)
{
	for (size_t w = 0; w < WIN; w++) {
		if (readable(w) && verify_page(w))
			return -1;
		if (check_lookup(0, w))
			return -1;
	}
	for (int f = 0; f < NR_FILES; f++) {
		struct mfile *mf = &M.f[f];
		struct vmalock_stats s;
		__u64 live;

		if (vl_stats(mf->fd, VMALOCK_STATS_FILE, &s))
			return failed("GET_STATS: %s", strerror(errno));
		live = s.vma_opens + mf->maps - s.vma_closes;
		if (s.drops_vma != mf->drops_vma || s.drops_mmap != mf->drops_mmap)
			return failed("file %d drops_vma/drops_mmap %llu/%llu, want %llu/%llu", f,
				      (unsigned long long)s.drops_vma,
				      (unsigned long long)s.drops_mmap,
				      (unsigned long long)mf->drops_vma,
				      (unsigned long long)mf->drops_mmap);
		if (s.pfn_faults != mf->pfn_faults || s.pfn_remaps != mf->pfn_remaps ||
		    s.revokes != mf->revokes)
			return failed("file %d pfn_faults/pfn_remaps/revokes %llu/%llu/%llu, %s",
				      f, (unsigned long long)s.pfn_faults,
				      (unsigned long long)s.pfn_remaps,
				      (unsigned long long)s.revokes,
				      want("want %llu/%llu/%llu",
					   (unsigned long long)mf->pfn_faults,
					   (unsigned long long)mf->pfn_remaps,
					   (unsigned long long)mf->revokes));
		if (s.faults_vma != mf->faults_vma || s.faults_mmap != mf->faults_mmap ||
		    s.retries != mf->retries || s.write_marks != mf->write_marks ||
		    s.pages_zapped != mf->pages_zapped || live != nr_vmas(f))
			/* faults_vma/faults_mmap/retries/write_marks/pages_zapped/VMAs */
			return failed("file %d counters %llu/%llu/%llu/%llu/%llu/%llu, %s",
				      f, (unsigned long long)s.faults_vma,
				      (unsigned long long)s.faults_mmap,
				      (unsigned long long)s.retries,
				      (unsigned long long)s.write_marks,
				      (unsigned long long)s.pages_zapped,
				      (unsigned long long)live,
				      want("want %llu/%llu/%llu/%llu/%llu/%u",
					   (unsigned long long)mf->faults_vma,
					   (unsigned long long)mf->faults_mmap,
					   (unsigned long long)mf->retries,
					   (unsigned long long)mf->write_marks,
					   (unsigned long long)mf->pages_zapped, nr_vmas(f)));
	}
	return 0;
}

struct op_def {
	const char *name;
	int weight;
	int (*fn)(void);
};

/* Mostly cheap operations; a sixth change the address space. */
static const struct op_def ops[] = {
	{ "touch", 400, op_touch },
	{ "write", 150, op_write },
	{ "lookup", 200, op_lookup },
	{ "mode", 10, op_mode },
	{ "info", 30, op_info },
	{ "map", 40, op_map },
	{ "unmap", 20, op_unmap },
	{ "reserve", 10, op_reserve },
	{ "mprotect", 35, op_mprotect },
	{ "mremap", 25, op_move },
	{ "dontneed", 30, op_dontneed },
	{ "zap", 35, op_zap },
	{ "drop", 30, op_drop },
	{ "map_bad", 5, op_map_bad },
	{ "grow", 5, op_grow },
	{ "zap_bad", 5, op_zap_bad },
	{ "revoke", 10, op_revoke },
};

FIXTURE(random) {
	int fd[NR_FILES];
};

FIXTURE_VARIANT(random) {
	const char *dev;
	__u32 lookup_lock;
};

FIXTURE_VARIANT_ADD(random, rust) {
	.dev = RUST_DEV,
	.lookup_lock = VMALOCK_LOCK_VMA,
};

FIXTURE_VARIANT_ADD(random, c) {
	.dev = C_DEV,
	.lookup_lock = 0,	/* vl_c_lookup_lock(): depends on the kernel */
};

FIXTURE_SETUP(random)
{
	for (int f = 0; f < NR_FILES; f++)
		self->fd[f] = -1;
	if (access(variant->dev, F_OK))
		SKIP(return, "%s missing: module not loaded", variant->dev);
	memset(&M, 0, sizeof(M));
	M.psz = getpagesize();
	M.lookup_lock = variant->lookup_lock ?: vl_c_lookup_lock();
	M.madvise = vl_have_madvise();
	if (!M.madvise)
		TH_LOG("madvise() missing (CONFIG_ADVISE_SYSCALLS=n): no MADV_DONTNEED ops");
	for (int f = 0; f < NR_FILES; f++) {
		struct vmalock_info info;

		self->fd[f] = open(variant->dev, O_RDWR);
		ASSERT_LE(0, self->fd[f]);
		M.f[f].fd = self->fd[f];
		ASSERT_EQ(0, vl_set_size(self->fd[f], BUF));
		ASSERT_EQ(0, vl_info(self->fd[f], &info));
		if (info.mode != VMALOCK_MODE_DEFAULT)
			SKIP(return, "module loaded with force_mmap=1");
	}
	M.win = mmap(NULL, WIN * M.psz, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, M.win);
	for (size_t w = 0; w < WIN; w++)
		M.pg[w].kind = ANON;
}

FIXTURE_TEARDOWN(random)
{
	for (int f = 0; f < NR_FILES; f++)
		if (self->fd[f] >= 0)
			close(self->fd[f]);
}

TEST_F_TIMEOUT(random, ops, 900)
{
	unsigned long nr = vl_env("VMALOCK_RANDOM_OPS", 100000), forks = 0;
	__u64 seed = vl_seed();
	int total = 0, err = 0;
	struct timespec t0, t1;
	char line[512];
	int len = 0;

	for (int i = 0; i < ARRAY_SIZE(ops); i++)
		total += ops[i].weight;
	ksft_print_msg("%s: seed %llu (VMALOCK_SEED), %lu ops (VMALOCK_RANDOM_OPS)\n",
		       variant->dev, (unsigned long long)seed, nr);
	M.rng = vl_seed_state(seed);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (M.op = 0; M.op < nr && !err; M.op++) {
		int pick = below(total), i = 0;

		if (!below(5000)) {
			M.op_name = "fork";
			err = op_fork();
			forks++;
			continue;
		}
		while (pick >= ops[i].weight)
			pick -= ops[i++].weight;
		M.op_name = ops[i].name;
		M.counts[i]++;
		err = ops[i].fn();
		if (!err && M.op % VERIFY_EVERY == VERIFY_EVERY - 1) {
			M.op_name = "verify";
			err = verify_all();
		}
	}
	if (!err) {
		M.op_name = "final verify";
		err = verify_all();
	}
	ASSERT_EQ(0, err) TH_LOG("seed %llu: %s", (unsigned long long)seed, M.msg);

	/* All unmapped: every VMA opened was closed. */
	ASSERT_EQ(0, munmap(M.win, WIN * M.psz));
	for (size_t w = 0; w < WIN; w++)
		M.pg[w].kind = HOLE;
	for (int f = 0; f < NR_FILES; f++) {
		struct vmalock_stats s;

		ASSERT_EQ(0, vl_stats(M.f[f].fd, VMALOCK_STATS_FILE, &s));
		EXPECT_EQ(s.vma_opens + M.f[f].maps, s.vma_closes);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (int i = 0; i < ARRAY_SIZE(ops) && len < sizeof(line); i++)
		len += snprintf(line + len, sizeof(line) - len, " %s=%lu",
				ops[i].name, M.counts[i]);
	TH_LOG("%lu ops in %ld ms, forks=%lu%s", nr,
	       (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000),
	       forks, line);
}

TEST_HARNESS_MAIN
