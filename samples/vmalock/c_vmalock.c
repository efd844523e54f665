// SPDX-License-Identifier: GPL-2.0
/*
 * A misc device whose pages are faulted in under the per-VMA lock.
 *
 * The mmap offset picks a view of them: pages (VM_MIXEDMAP), or page frames
 * (VM_PFNMAP) as a device maps its memory, faulted in or mapped at mmap time.
 * Both PFN views can be revoked in every process that maps them, as a device
 * takes its memory away.
 *
 * Each open file of /dev/c-vmalock owns a buffer of pages (user API in
 * samples/vmalock/vmalock.h). mmap(MAP_SHARED) maps it; pages are inserted
 * lazily by the fault handler, which runs under the per-VMA lock because the
 * VMA operations provide ->map_pages. The ioctls look up VMAs and drop a
 * range's pages under the per-VMA lock (falling back to the mmap read lock),
 * and zap a range under the mmap write lock with its VMAs write-marked.
 *
 * This is the C twin of samples/rust/rust_vmalock.rs, with the same user API
 * and behaviour.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/kref.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "vmalock.h"

/* Upper bound of the max_pages parameter: 2^20 pages (4 GiB of 4 KiB pages). */
#define VMALOCK_MAX_PAGES_LIMIT	1048576U

static unsigned int max_pages = VMALOCK_MAX_PAGES;
module_param(max_pages, uint, 0444);
MODULE_PARM_DESC(max_pages, "Upper bound of a buffer, in pages (default 4096)");

static bool force_mmap;
module_param(force_mmap, bool, 0444);
MODULE_PARM_DESC(force_mmap, "Start every open file in the forced mmap-lock mode");

/* The statistics, in the order of struct vmalock_stats. */
enum vmalock_counter {
	VMALOCK_FAULTS_VMA,
	VMALOCK_FAULTS_MMAP,
	VMALOCK_RETRIES,
	VMALOCK_MAP_PAGES,
	VMALOCK_LOOKUPS_VMA,
	VMALOCK_LOOKUPS_MMAP,
	VMALOCK_WRITE_MARKS,
	VMALOCK_PAGES_ZAPPED,
	VMALOCK_VMA_OPENS,
	VMALOCK_VMA_CLOSES,
	VMALOCK_PFN_FAULTS,
	VMALOCK_PFN_REMAPS,
	VMALOCK_REVOKES,
	VMALOCK_BUFFERS,
	VMALOCK_BUFFERS_FREED,
	VMALOCK_DROPS_VMA,
	VMALOCK_DROPS_MMAP,
	VMALOCK_STALE_ENTRIES,
	VMALOCK_NR_COUNTERS,
};

/* A set of statistics: of one open file, or global. */
struct vmalock_counters {
	atomic64_t c[VMALOCK_NR_COUNTERS];
};

/* Statistics of all open files since the module was loaded (or reset). */
static struct vmalock_counters vmalock_global;

/*
 * State shared by an open file and its mappings.
 *
 * The file maps through mapping (file->f_mapping), so that REVOKE reaches
 * every VMA of the file in every process with unmap_mapping_range(). A fault
 * in the PFN view holds revoke_sem for reading from the check of revoked
 * until its entry is installed; REVOKE sets revoked with it held for writing,
 * which waits for those faults, and then unmaps: no entry is left when it
 * returns, and later faults see revoked.
 */
struct vmalock_shared {
	struct kref ref;
	struct vmalock_counters counters;
	bool force_mmap;
	bool fail_eager;	/* VMALOCK_MODE_FAIL_EAGER */
	atomic64_t generation;
	struct address_space mapping;
	struct rw_semaphore revoke_sem;
	bool revoked;		/* protected by revoke_sem */
};

/* The buffer of an open file; each of its VMAs holds a reference. */
struct vmalock_buffer {
	struct kref ref;
	struct vmalock_shared *shared;
	/* The address of the failed mapping (VMALOCK_MODE_FAIL_EAGER), or 0. */
	unsigned long probe;
	unsigned long npages;
	struct page *pages[] __counted_by(npages);
};

/* An open file of the device. */
struct vmalock_file {
	struct vmalock_shared *shared;
	/* Protects npages and buf. */
	struct mutex lock;
	/* The requested size and, after the first mmap, the buffer. */
	unsigned long npages;
	struct vmalock_buffer *buf;
	/* The page of the info view. */
	struct page *info_page;
	/* In vmalock_files. */
	struct list_head node;
};

/* Every open file of the device, for VMALOCK_REVOKE_DEVICE. */
static LIST_HEAD(vmalock_files);
static DEFINE_MUTEX(vmalock_files_lock);

/* Adds n to a counter of this file and to the global one. */
static void vmalock_count(struct vmalock_shared *shared,
			  enum vmalock_counter counter, u64 n)
{
	atomic64_add(n, &shared->counters.c[counter]);
	atomic64_add(n, &vmalock_global.c[counter]);
}

static void vmalock_shared_release(struct kref *ref)
{
	kfree(container_of(ref, struct vmalock_shared, ref));
}

/*
 * How many pages of the failed mapping (buf->probe) its addresses still
 * reach: each is read without faulting, so only an existing entry lets it.
 */
static unsigned long vmalock_probe_mapped(struct vmalock_buffer *buf)
{
	unsigned long i, mapped = 0;
	u64 word;

	for (i = 0; buf->probe && i < buf->npages; i++)
		mapped += !copy_from_user_nofault(&word, (const void __user *)
						  (buf->probe + (i << PAGE_SHIFT)),
						  sizeof(word));
	return mapped;
}

static void vmalock_buffer_release(struct kref *ref)
{
	struct vmalock_buffer *buf = container_of(ref, struct vmalock_buffer, ref);
	unsigned long i;

	/* Still in the failed mmap: a page that reads is mapped, and freed next. */
	vmalock_count(buf->shared, VMALOCK_STALE_ENTRIES, vmalock_probe_mapped(buf));
	for (i = 0; i < buf->npages; i++)
		__free_page(buf->pages[i]);
	vmalock_count(buf->shared, VMALOCK_BUFFERS_FREED, 1);
	kref_put(&buf->shared->ref, vmalock_shared_release);
	kvfree(buf);
}

/* Writes the header (index and generation) of pages [first, first + count). */
static void vmalock_write_headers(struct vmalock_buffer *buf,
				  unsigned long first, unsigned long count,
				  u64 generation)
{
	struct vmalock_page_header *hdr;
	unsigned long i;

	for (i = first; i < buf->npages && i - first < count; i++) {
		hdr = kmap_local_page(buf->pages[i]);
		hdr->index = i;
		hdr->generation = generation;
		kunmap_local(hdr);
	}
}

static struct vmalock_buffer *vmalock_buffer_alloc(unsigned long npages,
						   struct vmalock_shared *shared)
{
	struct vmalock_buffer *buf;
	unsigned long i;

	buf = kvzalloc(struct_size(buf, pages, npages), GFP_KERNEL);
	if (!buf)
		return NULL;
	buf->npages = npages;
	for (i = 0; i < npages; i++) {
		buf->pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!buf->pages[i])
			goto err_free;
	}
	kref_init(&buf->ref);
	kref_get(&shared->ref);
	buf->shared = shared;
	vmalock_count(shared, VMALOCK_BUFFERS, 1);
	vmalock_write_headers(buf, 0, npages, 0);
	return buf;

err_free:
	while (i--)
		__free_page(buf->pages[i]);
	kvfree(buf);
	return NULL;
}

/*
 * A VMA whose ->mapped failed has no buffer (NULL private data) until the
 * core unmaps it.
 */
static void vmalock_vm_open(struct vm_area_struct *vma)
{
	struct vmalock_buffer *buf = vma->vm_private_data;

	if (!buf)
		return;
	kref_get(&buf->ref);
	vmalock_count(buf->shared, VMALOCK_VMA_OPENS, 1);
}

static void vmalock_vm_close(struct vm_area_struct *vma)
{
	struct vmalock_buffer *buf = vma->vm_private_data;

	if (!buf)
		return;
	vmalock_count(buf->shared, VMALOCK_VMA_CLOSES, 1);
	kref_put(&buf->ref, vmalock_buffer_release);
}

/* How a mapping shows the buffer, chosen by its file offset (vmalock.h). */
enum vmalock_view {
	VMALOCK_VIEW_PAGES,	/* VM_MIXEDMAP, pages inserted by faults */
	VMALOCK_VIEW_PFN,	/* VM_PFNMAP, page frames inserted by faults */
	VMALOCK_VIEW_PFN_EAGER,	/* VM_PFNMAP, page frames mapped at mmap */
};

#define VMALOCK_PFN_PGOFF	(VMALOCK_PFN_OFFSET >> PAGE_SHIFT)
#define VMALOCK_PFN_EAGER_PGOFF	(VMALOCK_PFN_EAGER_OFFSET >> PAGE_SHIFT)
#define VMALOCK_INFO_PGOFF	(VMALOCK_INFO_OFFSET >> PAGE_SHIFT)

/* The view of file page offset pgoff; *index is the buffer page it shows. */
static enum vmalock_view vmalock_view(pgoff_t pgoff, pgoff_t *index)
{
	if (pgoff >= VMALOCK_PFN_EAGER_PGOFF) {
		*index = pgoff - VMALOCK_PFN_EAGER_PGOFF;
		return VMALOCK_VIEW_PFN_EAGER;
	}
	if (pgoff >= VMALOCK_PFN_PGOFF) {
		*index = pgoff - VMALOCK_PFN_PGOFF;
		return VMALOCK_VIEW_PFN;
	}
	*index = pgoff;
	return VMALOCK_VIEW_PAGES;
}

static vm_fault_t vmalock_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct vmalock_buffer *buf = vma->vm_private_data;
	struct vmalock_shared *shared;
	enum vmalock_view view;
	pgoff_t index;
	int err;

	if (!buf)
		return VM_FAULT_SIGBUS;
	shared = buf->shared;
	if (vmf->flags & FAULT_FLAG_VMA_LOCK) {
		if (READ_ONCE(shared->force_mmap) &&
		    (vmf->flags & FAULT_FLAG_ALLOW_RETRY)) {
			vmalock_count(shared, VMALOCK_RETRIES, 1);
			/* Without RETRY_NOWAIT, a retry must drop the lock. */
			if (!(vmf->flags & FAULT_FLAG_RETRY_NOWAIT))
				release_fault_lock(vmf);
			return VM_FAULT_RETRY;
		}
		vmalock_count(shared, VMALOCK_FAULTS_VMA, 1);
	} else {
		vmalock_count(shared, VMALOCK_FAULTS_MMAP, 1);
	}

	view = vmalock_view(vmf->pgoff, &index);
	if (index >= buf->npages)
		return VM_FAULT_SIGBUS;
	/* Both PFN views show the buffer only while it is not revoked. */
	if (view != VMALOCK_VIEW_PAGES) {
		vm_fault_t ret = VM_FAULT_SIGBUS;

		vmalock_count(shared, VMALOCK_PFN_FAULTS, 1);
		down_read(&shared->revoke_sem);
		if (!shared->revoked)
			ret = vmf_insert_pfn_prot(vma, vmf->address,
						  page_to_pfn(buf->pages[index]),
						  vma->vm_page_prot);
		up_read(&shared->revoke_sem);
		return ret;
	}
	err = vm_insert_page(vma, vmf->address, buf->pages[index]);
	switch (err) {
	case 0:
	case -EBUSY:	/* another thread mapped it first */
		return VM_FAULT_NOPAGE;
	case -ENOMEM:
		return VM_FAULT_OOM;
	default:
		return VM_FAULT_SIGBUS;
	}
}

/*
 * Maps nothing. Its presence is what lets ->fault run under the per-VMA lock
 * (see vmf_can_call_fault()). Called under rcu_read_lock().
 */
static vm_fault_t vmalock_vm_map_pages(struct vm_fault *vmf,
				       pgoff_t start_pgoff, pgoff_t end_pgoff)
{
	struct vmalock_buffer *buf = vmf->vma->vm_private_data;

	if (buf)
		vmalock_count(buf->shared, VMALOCK_MAP_PAGES, 1);
	return 0;
}

static int vmalock_vm_mapped(unsigned long start, unsigned long end,
			     pgoff_t pgoff, const struct file *file,
			     void **vm_private_data);

static const struct vm_operations_struct vmalock_vm_ops = {
	.mapped = vmalock_vm_mapped,
	.open = vmalock_vm_open,
	.close = vmalock_vm_close,
	.fault = vmalock_vm_fault,
	.map_pages = vmalock_vm_map_pages,
};

/*
 * The info view, mapped whole at mmap time: a revocation removes every entry
 * of the file, this one too, and its fault maps the page back.
 */
static vm_fault_t vmalock_info_fault(struct vm_fault *vmf)
{
	if (vmf->pgoff != VMALOCK_INFO_PGOFF)
		return VM_FAULT_SIGBUS;
	return vmf_insert_page(vmf->vma, vmf->address,
			       vmf->vma->vm_private_data);
}

static const struct vm_operations_struct vmalock_info_vm_ops = {
	.fault = vmalock_info_fault,
};

static int vmalock_open(struct inode *inode, struct file *file)
{
	struct vmalock_info_page *info;
	struct vmalock_file *vf;

	vf = kzalloc_obj(*vf, GFP_KERNEL);
	if (!vf)
		return -ENOMEM;
	vf->info_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!vf->info_page) {
		kfree(vf);
		return -ENOMEM;
	}
	vf->shared = kzalloc_obj(*vf->shared, GFP_KERNEL);
	if (!vf->shared) {
		put_page(vf->info_page);
		kfree(vf);
		return -ENOMEM;
	}
	info = page_address(vf->info_page);
	info->magic = VMALOCK_INFO_MAGIC;
	info->max_pages = max_pages;
	info->page_size = PAGE_SIZE;
	kref_init(&vf->shared->ref);
	vf->shared->force_mmap = force_mmap;
	init_rwsem(&vf->shared->revoke_sem);
	/* Like an inode's own: no page cache, so no operations. */
	address_space_init_once(&vf->shared->mapping);
	vf->shared->mapping.host = inode;
	vf->shared->mapping.a_ops = &empty_aops;
	/* vf->shared outlives the file and every VMA mapping it. */
	file->f_mapping = &vf->shared->mapping;
	mutex_init(&vf->lock);
	vf->npages = VMALOCK_DEFAULT_PAGES;
	file->private_data = vf;
	mutex_lock(&vmalock_files_lock);
	list_add(&vf->node, &vmalock_files);
	mutex_unlock(&vmalock_files_lock);
	return 0;
}

static int vmalock_release(struct inode *inode, struct file *file)
{
	struct vmalock_file *vf = file->private_data;

	mutex_lock(&vmalock_files_lock);
	list_del(&vf->node);
	mutex_unlock(&vmalock_files_lock);
	if (vf->buf)
		kref_put(&vf->buf->ref, vmalock_buffer_release);
	kref_put(&vf->shared->ref, vmalock_shared_release);
	/* Each mapping of the info view holds a reference of its own. */
	put_page(vf->info_page);
	mutex_destroy(&vf->lock);
	kfree(vf);
	return 0;
}

/*
 * Whether remap_pfn_range() of the whole VMA would track its memtype as a
 * whole (x86 PAT): later kernels untrack it when the VMA is freed, after the
 * pages may have gone back to the allocator; 6.12 sets VM_PAT and untracks in
 * every zap, whatever lock the zap holds, racing with the others. The Rust
 * abstraction refuses such a remap; so does this driver.
 */
static bool vmalock_remap_tracks_whole(struct vm_area_struct *vma)
{
#ifdef __HAVE_PFNMAP_TRACKING
	return vma_pages(vma) == 1;
#else
	return false;
#endif
}

/* Removes every entry of a VMA this mmap call set up. */
static void vmalock_zap_vma(struct vm_area_struct *vma)
{
	zap_vma_range(vma, vma->vm_start, vma->vm_end - vma->vm_start);
}

/*
 * VMALOCK_MODE_FAIL_EAGER: maps a buffer that only this VMA holds, page by
 * page as the eager view does, then fails. The entries go before the buffer,
 * whose release counts those it can still read through.
 */
static int vmalock_map_fail_eager(struct vmalock_file *vf,
				  struct vm_area_struct *vma)
{
	struct vmalock_buffer *buf;
	unsigned long i;
	int ret = 0;

	buf = vmalock_buffer_alloc(vma_pages(vma), vf->shared);
	if (!buf)
		return -ENOMEM;
	buf->probe = vma->vm_start;
	if (vmalock_remap_tracks_whole(vma))
		ret = -EINVAL;
	for (i = 0; i < vma_pages(vma) && !ret; i++)
		ret = remap_pfn_range(vma, vma->vm_start + (i << PAGE_SHIFT),
				      page_to_pfn(buf->pages[i]), PAGE_SIZE,
				      vma->vm_page_prot);
	/* The control: every page reads now, or a clean check proves nothing. */
	if (!ret && vmalock_probe_mapped(buf) != vma_pages(vma))
		ret = -EIO;
	vmalock_zap_vma(vma);
	kref_put(&buf->ref, vmalock_buffer_release);
	return ret ?: -ECANCELED;
}

/*
 * Maps the eager view's pages now, under revoke_sem like a fault in the PFN
 * view. The VMA is in shared->mapping already (->mapped runs after the core
 * linked it), so a REVOKE either removes these entries or makes this fail
 * with ENODEV. On failure the VMA maps nothing.
 */
static int vmalock_remap_eager(struct vmalock_buffer *buf,
			       struct vm_area_struct *vma, pgoff_t first)
{
	struct vmalock_shared *shared = buf->shared;
	unsigned long i;
	int ret = 0;

	if (vmalock_remap_tracks_whole(vma))
		return -EINVAL;
	down_read(&shared->revoke_sem);
	if (shared->revoked)
		ret = -ENODEV;
	for (i = 0; i < vma_pages(vma) && !ret; i++)
		ret = remap_pfn_range(vma, vma->vm_start + (i << PAGE_SHIFT),
				      page_to_pfn(buf->pages[first + i]),
				      PAGE_SIZE, vma->vm_page_prot);
	if (ret)
		vmalock_zap_vma(vma);
	up_read(&shared->revoke_sem);
	if (!ret)
		vmalock_count(shared, VMALOCK_PFN_REMAPS, vma_pages(vma));
	return ret;
}

/*
 * Checks a mapping of npages pages at pgoff before anything is set up: the
 * range must fit the buffer (or, for a failing eager map, max_pages).
 */
static int vmalock_check_range(struct vmalock_file *vf, pgoff_t pgoff,
			       unsigned long npages)
{
	pgoff_t first, end;
	int ret = 0;

	if (vmalock_view(pgoff, &first) == VMALOCK_VIEW_PFN_EAGER &&
	    READ_ONCE(vf->shared->fail_eager))
		return npages > max_pages ? -EINVAL : 0;
	mutex_lock(&vf->lock);
	if (check_add_overflow(first, npages, &end) ||
	    end > (vf->buf ? vf->buf->npages : vf->npages))
		ret = -EINVAL;
	mutex_unlock(&vf->lock);
	return ret;
}

/*
 * Sets up a new VMA of vf once the core created it, with its flags set:
 * returns the buffer it holds a reference on for the VMA, allocated on the
 * first mmap, with the eager view's pages mapped. In VMALOCK_MODE_FAIL_EAGER
 * the eager view fails instead.
 */
static struct vmalock_buffer *vmalock_map(struct vmalock_file *vf,
					  struct vm_area_struct *vma)
{
	struct vmalock_buffer *buf;
	enum vmalock_view view;
	pgoff_t first, end;
	int ret = 0;

	view = vmalock_view(vma->vm_pgoff, &first);
	if (view == VMALOCK_VIEW_PFN_EAGER && READ_ONCE(vf->shared->fail_eager))
		return ERR_PTR(vmalock_map_fail_eager(vf, vma));

	/* The mmap write lock is held: no copy to or from user space here. */
	mutex_lock(&vf->lock);
	buf = vf->buf;
	/* Again: the size may have changed since the check. */
	if (check_add_overflow(first, vma_pages(vma), &end) ||
	    end > (buf ? buf->npages : vf->npages)) {
		mutex_unlock(&vf->lock);
		return ERR_PTR(-EINVAL);
	}
	if (!buf) {
		buf = vmalock_buffer_alloc(vf->npages, vf->shared);
		if (!buf) {
			mutex_unlock(&vf->lock);
			return ERR_PTR(-ENOMEM);
		}
		vf->buf = buf;
	}
	kref_get(&buf->ref);
	mutex_unlock(&vf->lock);

	if (view == VMALOCK_VIEW_PFN) {
		down_read(&vf->shared->revoke_sem);
		ret = vf->shared->revoked ? -ENODEV : 0;
		up_read(&vf->shared->revoke_sem);
	} else if (view == VMALOCK_VIEW_PFN_EAGER) {
		ret = vmalock_remap_eager(buf, vma, first);
	}
	if (ret) {
		kref_put(&buf->ref, vmalock_buffer_release);
		return ERR_PTR(ret);
	}
	return buf;
}

/*
 * Describes the mapping; ->mapped makes its data once the VMA exists, so a
 * failed or merged mapping never holds a buffer.
 */
static int vmalock_mmap_prepare(struct vm_area_desc *desc)
{
	struct vmalock_file *vf = desc->file->private_data;
	pgoff_t first;
	int ret;

	/* Read-only, one page, mapped whole by the core once the VMA exists. */
	if (desc->pgoff >= VMALOCK_INFO_PGOFF) {
		if (vma_desc_test(desc, VMA_WRITE_BIT) ||
		    desc->pgoff != VMALOCK_INFO_PGOFF ||
		    vma_desc_pages(desc) != 1)
			return -EINVAL;
		vma_desc_clear_flags(desc, VMA_MAYWRITE_BIT);
		vma_desc_set_flags(desc, VMA_MIXEDMAP_BIT, VMA_DONTEXPAND_BIT);
		desc->vm_ops = &vmalock_info_vm_ops;
		desc->private_data = vf->info_page;
		mmap_action_map_kernel_pages_full(desc, &vf->info_page);
		return 0;
	}
	/* A private mapping would get copy-on-write copies of our pages. */
	if (!vma_desc_test(desc, VMA_SHARED_BIT)) {
		if (vma_desc_test(desc, VMA_WRITE_BIT))
			return -EINVAL;
		vma_desc_clear_flags(desc, VMA_MAYWRITE_BIT);
	}
	ret = vmalock_check_range(vf, desc->pgoff, vma_desc_pages(desc));
	if (ret)
		return ret;
	if (vmalock_view(desc->pgoff, &first) == VMALOCK_VIEW_PAGES)
		vma_desc_set_flags(desc, VMA_MIXEDMAP_BIT, VMA_DONTEXPAND_BIT);
	else
		vma_desc_set_flags(desc, VMA_PFNMAP_BIT, VMA_IO_BIT,
				   VMA_DONTEXPAND_BIT, VMA_DONTDUMP_BIT);
	desc->vm_ops = &vmalock_vm_ops;
	desc->private_data = NULL;
	return 0;
}

static int vmalock_vm_mapped(unsigned long start, unsigned long end,
			     pgoff_t pgoff, const struct file *file,
			     void **vm_private_data)
{
	struct vm_area_struct *vma = vma_lookup(current->mm, start);
	struct vmalock_buffer *buf;

	/* Only the new VMA: linked (a stacked caller's is not), no data yet. */
	if (!vma || vma->vm_end != end || vma->vm_ops != &vmalock_vm_ops ||
	    vma->vm_private_data)
		return -EINVAL;
	buf = vmalock_map(file->private_data, vma);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	*vm_private_data = buf;
	return 0;
}

static long vmalock_set_size(struct vmalock_file *vf, u64 __user *argp)
{
	long ret = 0;
	u64 npages;

	if (get_user(npages, argp))
		return -EFAULT;
	if (!npages || npages > max_pages)
		return -EINVAL;
	mutex_lock(&vf->lock);
	if (vf->buf)
		ret = -EBUSY;
	else
		vf->npages = npages;
	mutex_unlock(&vf->lock);
	return ret;
}

/*
 * Reads an ioctl argument. Every one starts with its own size (a __u32,
 * see vmalock.h), which must be the size this module knows.
 */
static int vmalock_get_arg(void *arg, const void __user *argp, u32 size)
{
	if (copy_from_user(arg, argp, size))
		return -EFAULT;
	if (*(u32 *)arg != size)
		return -EINVAL;
	return 0;
}

static long vmalock_get_info(struct vmalock_file *vf,
			     struct vmalock_info __user *argp)
{
	struct vmalock_info info;
	int ret;

	ret = vmalock_get_arg(&info, argp, sizeof(info));
	if (ret)
		return ret;
	/*
	 * Not held across the copy to user space, which may fault and take the
	 * mmap lock (mmap takes this mutex under the mmap lock).
	 */
	mutex_lock(&vf->lock);
	info.npages = vf->npages;
	mutex_unlock(&vf->lock);
	info.mode = READ_ONCE(vf->shared->fail_eager) ? VMALOCK_MODE_FAIL_EAGER :
		    READ_ONCE(vf->shared->force_mmap) ? VMALOCK_MODE_FORCE_MMAP :
		    VMALOCK_MODE_DEFAULT;
	info.generation = atomic64_read(&vf->shared->generation);
	info.max_pages = max_pages;
	if (copy_to_user(argp, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

static long vmalock_set_mode(struct vmalock_file *vf, u32 __user *argp)
{
	u32 mode;

	if (get_user(mode, argp))
		return -EFAULT;
	if (mode != VMALOCK_MODE_DEFAULT && mode != VMALOCK_MODE_FORCE_MMAP &&
	    mode != VMALOCK_MODE_FAIL_EAGER)
		return -EINVAL;
	WRITE_ONCE(vf->shared->force_mmap, mode == VMALOCK_MODE_FORCE_MMAP);
	WRITE_ONCE(vf->shared->fail_eager, mode == VMALOCK_MODE_FAIL_EAGER);
	return 0;
}

/*
 * Returns the caller's VMA at addr (NULL if none) locked by its per-VMA lock
 * or, if that cannot be taken or the mode forces it (the other side of the
 * benchmark), with the mmap read lock held; *lock says which.
 * vmalock_vma_unlock() releases it.
 */
static struct vm_area_struct *vmalock_vma_lock(struct vmalock_file *vf,
					       struct mm_struct *mm,
					       unsigned long addr, u32 *lock)
{
	struct vm_area_struct *vma = NULL;

	if (!READ_ONCE(vf->shared->force_mmap))
		vma = lock_vma_under_rcu(mm, addr);
	if (vma) {
		*lock = VMALOCK_LOCK_VMA;
		return vma;
	}
	mmap_read_lock(mm);
	*lock = VMALOCK_LOCK_MMAP;
	return vma_lookup(mm, addr);
}

static void vmalock_vma_unlock(struct mm_struct *mm, struct vm_area_struct *vma,
			       u32 lock)
{
	if (lock == VMALOCK_LOCK_VMA)
		vma_end_read(vma);
	else
		mmap_read_unlock(mm);
}

/* Fills *req from vma (NULL: none at the address) if it maps file. */
static long vmalock_describe(struct vm_area_struct *vma, struct file *file,
			     struct vmalock_lookup *req)
{
	if (!vma)
		return -ENOENT;
	if (vma->vm_file != file)
		return -EINVAL;
	req->start = vma->vm_start;
	req->end = vma->vm_end;
	req->pgoff = vma->vm_pgoff;
	req->flags = vma->vm_flags;
	return 0;
}

/* Describes the caller's VMA at an address, if it maps this file. */
static long vmalock_lookup(struct vmalock_file *vf, struct file *file,
			   struct vmalock_lookup __user *argp)
{
	struct mm_struct *mm = current->mm;
	struct vmalock_lookup req;
	struct vm_area_struct *vma;
	long ret;

	ret = vmalock_get_arg(&req, argp, sizeof(req));
	if (ret)
		return ret;
	/* Fail before changing anything if the result cannot be written. */
	if (copy_to_user(argp, &req, sizeof(req)))
		return -EFAULT;
	if (!mm || req.addr != (unsigned long)req.addr)
		return -EINVAL;

	vma = vmalock_vma_lock(vf, mm, req.addr, &req.lock);
	ret = vmalock_describe(vma, file, &req);
	vmalock_vma_unlock(mm, vma, req.lock);
	if (ret)
		return ret;
	vmalock_count(vf->shared, req.lock == VMALOCK_LOCK_VMA ?
		      VMALOCK_LOOKUPS_VMA : VMALOCK_LOOKUPS_MMAP, 1);

	if (copy_to_user(argp, &req, sizeof(req)))
		return -EFAULT;
	return 0;
}

/* The page-aligned, non-empty range [addr, addr + len) of a request. */
static int vmalock_page_range(u64 addr, u64 len, unsigned long *start,
			      unsigned long *end)
{
	*start = addr;
	if (*start != addr || len != (unsigned long)len ||
	    check_add_overflow(*start, (unsigned long)len, end))
		return -EINVAL;
	if (!len || !PAGE_ALIGNED(*start) || !PAGE_ALIGNED(len))
		return -EINVAL;
	return 0;
}

/*
 * Write-marks the VMAs of this file in [start, end) of mm, whose mmap write
 * lock is held, zaps their pages there and rewrites those pages' headers
 * with a new generation. Returns the number of VMAs; if there is none,
 * nothing changes.
 */
static u64 vmalock_zap_locked(struct vmalock_shared *shared, struct file *file,
			      struct mm_struct *mm, unsigned long start,
			      unsigned long end, u64 *generation)
{
	VMA_ITERATOR(vmi, mm, start);
	struct vm_area_struct *vma;
	pgoff_t first;
	u64 vmas = 0;

	for_each_vma_range(vmi, vma, end) {
		/*
		 * The buffer views hold the buffer of their file, never
		 * another, or none: a VMA whose ->mapped failed, until the
		 * core unmaps it. The info view holds its page.
		 */
		struct vmalock_buffer *buf = vma->vm_private_data;
		unsigned long s, e;

		if (vma->vm_file != file || vma->vm_ops != &vmalock_vm_ops ||
		    !buf)
			continue;
		/*
		 * Nothing below can fail: bump the generation at the first
		 * match, so that it changes only if there is one.
		 */
		if (!vmas)
			*generation = atomic64_inc_return(&shared->generation);
		vma_start_write(vma);
		vmalock_count(shared, VMALOCK_WRITE_MARKS, 1);
		vmas++;
		s = max(start, vma->vm_start);
		e = min(end, vma->vm_end);
		zap_vma_range(vma, s, e - s);
		vmalock_count(shared, VMALOCK_PAGES_ZAPPED, (e - s) >> PAGE_SHIFT);
		vmalock_view(vma->vm_pgoff, &first);
		vmalock_write_headers(buf, first +
				      ((s - vma->vm_start) >> PAGE_SHIFT),
				      (e - s) >> PAGE_SHIFT, *generation);
	}
	return vmas;
}

/*
 * Zaps a range of this file's mappings in the caller's address space and
 * bumps the generation, with the VMAs write-marked so that no fault sees a
 * half-updated page.
 */
static long vmalock_zap(struct vmalock_file *vf, struct file *file,
			struct vmalock_zap __user *argp)
{
	struct mm_struct *mm = current->mm;
	unsigned long start, end;
	struct vmalock_zap req;
	u64 generation = 0;
	u64 vmas;
	int ret;

	ret = vmalock_get_arg(&req, argp, sizeof(req));
	if (ret)
		return ret;
	/* Fail before changing anything if the result cannot be written. */
	if (copy_to_user(argp, &req, sizeof(req)))
		return -EFAULT;
	ret = vmalock_page_range(req.addr, req.len, &start, &end);
	if (ret)
		return ret;
	if (req.reserved || !mm)
		return -EINVAL;

	if (mmap_write_lock_killable(mm))
		return -EINTR;
	vmas = vmalock_zap_locked(vf->shared, file, mm, start, end, &generation);
	mmap_write_unlock(mm);
	if (!vmas)
		return -EINVAL;

	req.generation = generation;
	req.vmas = vmas;
	if (copy_to_user(argp, &req, sizeof(req)))
		return -EFAULT;
	return 0;
}

/*
 * Drops the caller's pages of a range of one of this file's VMAs, under that
 * VMA's lock alone where it can be taken: the pages fault back in on the
 * next touch. A zap needs no more than the VMA's read lock, as for
 * MADV_DONTNEED, and faults racing with the zap map the same pages.
 */
static long vmalock_drop(struct vmalock_file *vf, struct file *file,
			 struct vmalock_drop __user *argp)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	struct vmalock_drop req;
	unsigned long start, end;
	long ret;

	ret = vmalock_get_arg(&req, argp, sizeof(req));
	if (ret)
		return ret;
	/* Fail before changing anything if the result cannot be written. */
	if (copy_to_user(argp, &req, sizeof(req)))
		return -EFAULT;
	ret = vmalock_page_range(req.addr, req.len, &start, &end);
	if (ret)
		return ret;
	if (!mm)
		return -EINVAL;

	vma = vmalock_vma_lock(vf, mm, start, &req.lock);
	if (!vma) {
		ret = -ENOENT;
	} else if (vma->vm_file != file || end > vma->vm_end ||
		   vma->vm_pgoff >= VMALOCK_INFO_PGOFF) {
		ret = -EINVAL;
	} else {
		zap_vma_range(vma, start, end - start);
		ret = 0;
	}
	vmalock_vma_unlock(mm, vma, req.lock);
	if (ret)
		return ret;
	vmalock_count(vf->shared, req.lock == VMALOCK_LOCK_VMA ?
		      VMALOCK_DROPS_VMA : VMALOCK_DROPS_MMAP, 1);

	if (copy_to_user(argp, &req, sizeof(req)))
		return -EFAULT;
	return 0;
}

/* The counters of a VMALOCK_STATS_* scope. */
static struct vmalock_counters *vmalock_scope(struct vmalock_file *vf,
					      u32 scope)
{
	switch (scope) {
	case VMALOCK_STATS_FILE:
		return &vf->shared->counters;
	case VMALOCK_STATS_GLOBAL:
		return &vmalock_global;
	default:
		return NULL;
	}
}

static long vmalock_get_stats(struct vmalock_file *vf,
			      struct vmalock_stats __user *argp)
{
	struct vmalock_counters *cnt;
	struct vmalock_stats st;
	int ret;

	ret = vmalock_get_arg(&st, argp, sizeof(st));
	if (ret)
		return ret;
	cnt = vmalock_scope(vf, st.scope);
	if (!cnt)
		return -EINVAL;
	st.faults_vma = atomic64_read(&cnt->c[VMALOCK_FAULTS_VMA]);
	st.faults_mmap = atomic64_read(&cnt->c[VMALOCK_FAULTS_MMAP]);
	st.retries = atomic64_read(&cnt->c[VMALOCK_RETRIES]);
	st.map_pages = atomic64_read(&cnt->c[VMALOCK_MAP_PAGES]);
	st.lookups_vma = atomic64_read(&cnt->c[VMALOCK_LOOKUPS_VMA]);
	st.lookups_mmap = atomic64_read(&cnt->c[VMALOCK_LOOKUPS_MMAP]);
	st.write_marks = atomic64_read(&cnt->c[VMALOCK_WRITE_MARKS]);
	st.pages_zapped = atomic64_read(&cnt->c[VMALOCK_PAGES_ZAPPED]);
	st.vma_opens = atomic64_read(&cnt->c[VMALOCK_VMA_OPENS]);
	st.vma_closes = atomic64_read(&cnt->c[VMALOCK_VMA_CLOSES]);
	st.pfn_faults = atomic64_read(&cnt->c[VMALOCK_PFN_FAULTS]);
	st.pfn_remaps = atomic64_read(&cnt->c[VMALOCK_PFN_REMAPS]);
	st.revokes = atomic64_read(&cnt->c[VMALOCK_REVOKES]);
	st.buffers = atomic64_read(&cnt->c[VMALOCK_BUFFERS]);
	st.buffers_freed = atomic64_read(&cnt->c[VMALOCK_BUFFERS_FREED]);
	st.drops_vma = atomic64_read(&cnt->c[VMALOCK_DROPS_VMA]);
	st.drops_mmap = atomic64_read(&cnt->c[VMALOCK_DROPS_MMAP]);
	st.stale_entries = atomic64_read(&cnt->c[VMALOCK_STALE_ENTRIES]);
	if (copy_to_user(argp, &st, sizeof(st)))
		return -EFAULT;
	return 0;
}

static long vmalock_reset_stats(struct vmalock_file *vf, u32 __user *argp)
{
	struct vmalock_counters *cnt;
	int i;
	u32 scope;

	if (get_user(scope, argp))
		return -EFAULT;
	cnt = vmalock_scope(vf, scope);
	if (!cnt)
		return -EINVAL;
	for (i = 0; i < VMALOCK_NR_COUNTERS; i++)
		atomic64_set(&cnt->c[i], 0);
	return 0;
}

/* Takes the PFN views of shared away in every process: EALREADY if they are. */
static long vmalock_revoke_shared(struct vmalock_shared *shared)
{
	down_write(&shared->revoke_sem);
	if (shared->revoked) {
		up_write(&shared->revoke_sem);
		return -EALREADY;
	}
	shared->revoked = true;
	up_write(&shared->revoke_sem);
	/* Every VMA of the file, in every process; private copies too. */
	unmap_mapping_range(&shared->mapping, 0, 0, 1);
	vmalock_count(shared, VMALOCK_REVOKES, 1);
	return 0;
}

/* Whether the file has its buffer, which its first mmap allocates. */
static bool vmalock_has_buf(struct vmalock_file *vf)
{
	bool ret;

	mutex_lock(&vf->lock);
	ret = vf->buf;
	mutex_unlock(&vf->lock);
	return ret;
}

/*
 * VMALOCK_REVOKE_DEVICE: every open file that has a buffer, as a reset. They
 * are revoked outside vmalock_files_lock, which open takes under misc_mtx: a
 * revocation walks every mapping and may wait for mmap locks.
 */
static long vmalock_revoke_device(void)
{
	struct vmalock_shared **all;
	struct vmalock_file *vf;
	size_t n = 0, i;

	mutex_lock(&vmalock_files_lock);
	list_for_each_entry(vf, &vmalock_files, node)
		n++;
	all = kmalloc_array(n, sizeof(*all), GFP_KERNEL);
	if (!all) {
		mutex_unlock(&vmalock_files_lock);
		return -ENOMEM;
	}
	n = 0;
	list_for_each_entry(vf, &vmalock_files, node) {
		if (!vmalock_has_buf(vf))
			continue;
		kref_get(&vf->shared->ref);
		all[n++] = vf->shared;
	}
	mutex_unlock(&vmalock_files_lock);
	/* One released meanwhile has no mapping left. */
	for (i = 0; i < n; i++) {
		vmalock_revoke_shared(all[i]);
		kref_put(&all[i]->ref, vmalock_shared_release);
	}
	kfree(all);
	return 0;
}

/*
 * Revokes the PFN views of the file in every process, or restores them; or
 * revokes those of every open file of the device.
 */
static long vmalock_revoke(struct vmalock_file *vf,
			   struct vmalock_revoke __user *argp)
{
	struct vmalock_shared *shared = vf->shared;
	struct vmalock_revoke req;
	long ret;

	ret = vmalock_get_arg(&req, argp, sizeof(req));
	if (ret)
		return ret;
	if (req.op == VMALOCK_REVOKE_DEVICE)
		return vmalock_revoke_device();
	if (req.op != VMALOCK_REVOKE_REVOKE && req.op != VMALOCK_REVOKE_RESTORE)
		return -EINVAL;
	if (!vmalock_has_buf(vf))
		return -EINVAL;
	if (req.op == VMALOCK_REVOKE_REVOKE)
		return vmalock_revoke_shared(shared);

	down_write(&shared->revoke_sem);
	ret = shared->revoked ? 0 : -EBUSY;
	shared->revoked = false;
	up_write(&shared->revoke_sem);
	return ret;
}

static long vmalock_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	struct vmalock_file *vf = file->private_data;
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case VMALOCK_IOC_SET_SIZE:
		return vmalock_set_size(vf, argp);
	case VMALOCK_IOC_GET_INFO:
		return vmalock_get_info(vf, argp);
	case VMALOCK_IOC_SET_MODE:
		return vmalock_set_mode(vf, argp);
	case VMALOCK_IOC_LOOKUP:
		return vmalock_lookup(vf, file, argp);
	case VMALOCK_IOC_ZAP:
		return vmalock_zap(vf, file, argp);
	case VMALOCK_IOC_GET_STATS:
		return vmalock_get_stats(vf, argp);
	case VMALOCK_IOC_RESET_STATS:
		return vmalock_reset_stats(vf, argp);
	case VMALOCK_IOC_REVOKE:
		return vmalock_revoke(vf, argp);
	case VMALOCK_IOC_DROP:
		return vmalock_drop(vf, file, argp);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations vmalock_fops = {
	.owner = THIS_MODULE,
	.open = vmalock_open,
	.release = vmalock_release,
	.mmap_prepare = vmalock_mmap_prepare,
	.unlocked_ioctl = vmalock_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice vmalock_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "c-vmalock",
	.fops = &vmalock_fops,
	.mode = 0600,
};

static int __init vmalock_init(void)
{
	int ret;

	if (max_pages < 1 || max_pages > VMALOCK_MAX_PAGES_LIMIT) {
		pr_err("max_pages must be 1..%u\n", VMALOCK_MAX_PAGES_LIMIT);
		return -EINVAL;
	}
	ret = misc_register(&vmalock_misc);
	if (ret)
		return ret;
	pr_info("registered /dev/c-vmalock (minor %d)\n", vmalock_misc.minor);
	return 0;
}
module_init(vmalock_init);

static void __exit vmalock_exit(void)
{
	misc_deregister(&vmalock_misc);
}
module_exit(vmalock_exit);

MODULE_DESCRIPTION("Misc device faulting pages in under the per-VMA lock (C)");
MODULE_LICENSE("GPL");
