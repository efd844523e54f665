/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * User API of the vmalock sample devices: /dev/rust-vmalock (Rust,
 * samples/rust/rust_vmalock.rs) and /dev/c-vmalock (its C twin,
 * samples/vmalock/c_vmalock.c), which behave the same.
 *
 * Each open file owns a buffer of pages, mapped with mmap(MAP_SHARED) and
 * faulted in under the per-VMA lock. Module parameters: max_pages (upper
 * bound of VMALOCK_IOC_SET_SIZE, default VMALOCK_MAX_PAGES) and force_mmap
 * (initial mode of every open file: 0 = VMALOCK_MODE_DEFAULT, 1 =
 * VMALOCK_MODE_FORCE_MMAP).
 *
 * Every ioctl structure starts with its own size, so that it can grow; a
 * size other than the one the module knows gives EINVAL. On any error,
 * nothing changes.
 */
#ifndef _SAMPLES_VMALOCK_H
#define _SAMPLES_VMALOCK_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define VMALOCK_DEFAULT_PAGES	64
#define VMALOCK_MAX_PAGES	4096

/* Content of the first bytes of every page of the buffer. */
struct vmalock_page_header {
	__u64 index;		/* page index in the buffer */
	__u64 generation;	/* bumped by VMALOCK_IOC_ZAP */
};

struct vmalock_info {
	__u32 size;		/* in: sizeof(struct vmalock_info) */
	__u32 mode;		/* VMALOCK_MODE_* */
	__u64 npages;		/* buffer size in pages */
	__u64 generation;	/* current generation */
	__u64 max_pages;	/* upper bound of npages (module parameter) */
};

/*
 * Views of the buffer, chosen by the mmap offset. At offset i * page_size,
 * buffer page i is mapped with VM_MIXEDMAP (vm_insert_page). In the PFN view,
 * at VMALOCK_PFN_OFFSET + i * page_size, it is mapped with VM_PFNMAP
 * (vmf_insert_pfn_prot), as a device maps its memory; both are faulted in
 * under the per-VMA lock. The eager PFN view, at VMALOCK_PFN_EAGER_OFFSET +
 * i * page_size, maps every page at mmap time (remap_pfn_range). A view
 * whose range does not fit the buffer gives EINVAL; a private mapping of
 * any view must be read-only.
 */
#define VMALOCK_PFN_OFFSET		_BITULL(40)
#define VMALOCK_PFN_EAGER_OFFSET	_BITULL(41)

/*
 * The info view, at VMALOCK_INFO_OFFSET: one page of this open file that
 * describes the module, filled at open and mapped whole at mmap time (the
 * core's map_kernel_pages mmap action where the kernel has mmap_prepare); a
 * revocation removes it with the file's other entries, and the next access
 * faults it back in. It must be mapped read-only, one page (else EINVAL);
 * ZAP and DROP do not apply to it (EINVAL).
 */
#define VMALOCK_INFO_OFFSET		_BITULL(42)
#define VMALOCK_INFO_MAGIC		0x31766d616c6f636bULL	/* "kcolamv1" */

struct vmalock_info_page {
	__u64 magic;		/* VMALOCK_INFO_MAGIC */
	__u64 max_pages;	/* the max_pages parameter */
	__u64 page_size;	/* the kernel's page size */
};

#define VMALOCK_MODE_DEFAULT	0	/* faults run under the per-VMA lock */
#define VMALOCK_MODE_FORCE_MMAP	1	/* faults retry under the mmap lock */
/*
 * Test mode: an mmap of the eager PFN view (at most max_pages pages) maps a
 * buffer of its own size that only the new VMA holds, page by page, checks
 * that every page reads (else EIO), then fails with ECANCELED. As that
 * buffer is freed it counts the pages the failed mapping's addresses still
 * reach (stale_entries): a failed mmap must remove its page table entries
 * before it frees what they map. Faults behave as in VMALOCK_MODE_DEFAULT.
 */
#define VMALOCK_MODE_FAIL_EAGER	2

#define VMALOCK_LOCK_VMA	1	/* served under the per-VMA lock */
#define VMALOCK_LOCK_MMAP	2	/* served under the mmap read lock */

/*
 * LOOKUP describes the caller's VMA at addr if it maps this open file:
 * ENOENT if there is no VMA at addr, EINVAL if it maps anything else.
 */
struct vmalock_lookup {
	__u32 size;		/* in: sizeof(struct vmalock_lookup) */
	__u32 lock;		/* out: VMALOCK_LOCK_* */
	__u64 addr;		/* in: an address in a mapping of this file */
	__u64 start;		/* out: the VMA */
	__u64 end;
	__u64 pgoff;
	__u64 flags;		/* out: vm_flags */
};

/*
 * ZAP takes the mmap write lock, write-marks the caller's VMAs of this file
 * that intersect [addr, addr + len), zaps their pages in the range and
 * rewrites those pages' headers with a new generation. EINVAL if no VMA of
 * this file's buffer views intersects the range.
 */
struct vmalock_zap {
	__u32 size;		/* in: sizeof(struct vmalock_zap) */
	__u32 reserved;		/* in: 0 */
	__u64 addr;		/* in: page-aligned start */
	__u64 len;		/* in: page-aligned length */
	__u64 generation;	/* out: the new generation */
	__u64 vmas;		/* out: VMAs of this file write-marked */
};

/*
 * DROP zaps the caller's pages in [addr, addr + len), which must lie in one
 * VMA of this file, under that VMA's per-VMA read lock, or under the mmap
 * read lock where the per-VMA lock cannot be taken (or the mode forces the
 * mmap lock). Only page table entries go: the next touch faults the same
 * pages, with the same contents, back in (what MADV_DONTNEED does, which
 * some kernels run under the mmap read lock). ENOENT if there is no VMA at
 * addr, EINVAL if it is not one of this file's buffer views, ends before
 * addr + len or is a VMA whose zap untracks its PAT memtype (x86 VM_PAT,
 * which needs the mmap lock; the drivers never make one).
 */
struct vmalock_drop {
	__u32 size;		/* in: sizeof(struct vmalock_drop) */
	__u32 lock;		/* out: VMALOCK_LOCK_* */
	__u64 addr;		/* in: page-aligned start */
	__u64 len;		/* in: page-aligned length, not 0 */
};

#define VMALOCK_STATS_FILE	0	/* counters of this open file */
#define VMALOCK_STATS_GLOBAL	1	/* counters of all files since load */

struct vmalock_stats {
	__u32 size;		/* in: sizeof(struct vmalock_stats) */
	__u32 scope;		/* in: VMALOCK_STATS_* */
	__u64 faults_vma;	/* ->fault under the per-VMA lock */
	__u64 faults_mmap;	/* ->fault under the mmap lock */
	__u64 retries;		/* retries requested (forced mode) */
	__u64 map_pages;	/* ->map_pages calls */
	__u64 lookups_vma;	/* LOOKUPs served under the per-VMA lock */
	__u64 lookups_mmap;	/* LOOKUPs served under the mmap lock */
	__u64 write_marks;	/* VMAs write-marked by ZAP */
	__u64 pages_zapped;	/* pages zapped by ZAP */
	__u64 vma_opens;	/* ->open calls (split, fork, mremap) */
	__u64 vma_closes;	/* ->close calls */
	__u64 pfn_faults;	/* ->fault calls in a PFN view (also in faults_*) */
	__u64 pfn_remaps;	/* pages mapped at mmap time (eager PFN view) */
	__u64 revokes;		/* REVOKEs that revoked the PFN view */
	__u64 buffers;		/* buffers allocated (by the first mmap) */
	__u64 buffers_freed;	/* buffers freed (file and all its mappings gone) */
	__u64 drops_vma;	/* DROPs served under the per-VMA lock */
	__u64 drops_mmap;	/* DROPs served under the mmap lock */
	__u64 stale_entries;	/* VMALOCK_MODE_FAIL_EAGER: pages still mapped */
};

/*
 * REVOKE takes both PFN views away, as a device driver takes its memory
 * away on reset or unbind: every mapping of this open file, in every process
 * (forked children, receivers of the file), loses its pages before REVOKE
 * returns, and faults in either PFN view get SIGBUS until RESTORE (the eager
 * view then faults its pages in); mmap of a PFN view fails with ENODEV
 * meanwhile. The page view faults back in: its pages belong to the
 * mappings. REVOKE gives EALREADY
 * if the PFN view is revoked, RESTORE EBUSY if it is not; both give EINVAL
 * before the first mmap allocated the buffer.
 */
struct vmalock_revoke {
	__u32 size;		/* in: sizeof(struct vmalock_revoke) */
	__u32 op;		/* in: VMALOCK_REVOKE_* */
};

#define VMALOCK_REVOKE_REVOKE	0
#define VMALOCK_REVOKE_RESTORE	1
/*
 * Revokes the PFN views of every open file of the device, as a device reset
 * does; a file whose views are revoked already, or that has no buffer yet,
 * is skipped. Each file then restores its own with VMALOCK_REVOKE_RESTORE.
 */
#define VMALOCK_REVOKE_DEVICE	2

#define VMALOCK_IOC_MAGIC	0xb7
#define VMALOCK_IOC_SET_SIZE	_IOW(VMALOCK_IOC_MAGIC, 0, __u64)
#define VMALOCK_IOC_GET_INFO	_IOWR(VMALOCK_IOC_MAGIC, 1, struct vmalock_info)
#define VMALOCK_IOC_SET_MODE	_IOW(VMALOCK_IOC_MAGIC, 2, __u32)
#define VMALOCK_IOC_LOOKUP	_IOWR(VMALOCK_IOC_MAGIC, 3, struct vmalock_lookup)
#define VMALOCK_IOC_ZAP		_IOWR(VMALOCK_IOC_MAGIC, 4, struct vmalock_zap)
#define VMALOCK_IOC_GET_STATS	_IOWR(VMALOCK_IOC_MAGIC, 5, struct vmalock_stats)
#define VMALOCK_IOC_RESET_STATS	_IOW(VMALOCK_IOC_MAGIC, 6, __u32) /* VMALOCK_STATS_* */
#define VMALOCK_IOC_REVOKE	_IOW(VMALOCK_IOC_MAGIC, 7, struct vmalock_revoke)
#define VMALOCK_IOC_DROP	_IOWR(VMALOCK_IOC_MAGIC, 8, struct vmalock_drop)

#endif /* _SAMPLES_VMALOCK_H */
