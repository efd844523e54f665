// SPDX-License-Identifier: GPL-2.0

/*
 * Helpers for the mm and per-VMA lock abstractions in rust/kernel/mm.rs
 * and rust/kernel/mm/.
 *
 * Everything whose signature or semantics differ between 6.12 and the
 * newer trees this series supports is wrapped here, so that the Rust API
 * is the same on both. The 7.3 series adds the same helpers to that tree,
 * where:
 *
 *  - rust_helper_vma_start_read_locked() is vma_start_read_locked(), which
 *    can fail there (vm_refcnt is a bounded reference count);
 *  - rust_helper_vma_start_write() calls the exported __vma_start_write().
 */

#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/sched/mm.h>

void rust_helper_mmgrab(struct mm_struct *mm)
{
	mmgrab(mm);
}

void rust_helper_mmdrop(struct mm_struct *mm)
{
	mmdrop(mm);
}

void rust_helper_mmget(struct mm_struct *mm)
{
	mmget(mm);
}

bool rust_helper_mmget_not_zero(struct mm_struct *mm)
{
	return mmget_not_zero(mm);
}

void rust_helper_mmap_read_lock(struct mm_struct *mm)
{
	mmap_read_lock(mm);
}

int rust_helper_mmap_read_lock_killable(struct mm_struct *mm)
{
	return mmap_read_lock_killable(mm);
}

bool rust_helper_mmap_read_trylock(struct mm_struct *mm)
{
	return mmap_read_trylock(mm);
}

void rust_helper_mmap_read_unlock(struct mm_struct *mm)
{
	mmap_read_unlock(mm);
}

void rust_helper_mmap_write_lock(struct mm_struct *mm)
{
	mmap_write_lock(mm);
}

int rust_helper_mmap_write_lock_killable(struct mm_struct *mm)
{
	return mmap_write_lock_killable(mm);
}

void rust_helper_mmap_write_unlock(struct mm_struct *mm)
{
	mmap_write_unlock(mm);
}

void rust_helper_mmap_write_downgrade(struct mm_struct *mm)
{
	mmap_write_downgrade(mm);
}

struct vm_area_struct *rust_helper_vma_lookup(struct mm_struct *mm,
					      unsigned long addr)
{
	return vma_lookup(mm, addr);
}

/*
 * Take the per-VMA read lock of a VMA found under mmap_read_lock(). It
 * cannot fail on 6.12 with CONFIG_PER_VMA_LOCK: nobody can write-mark the
 * VMA while we hold the mmap lock, and the rwsem has no reader limit.
 * vma_start_read() could fail spuriously, so 6.12 open-codes this, see
 * uffd_lock_vma(). Without CONFIG_PER_VMA_LOCK there is no lock to take.
 */
bool rust_helper_vma_start_read_locked(struct vm_area_struct *vma)
{
#ifdef CONFIG_PER_VMA_LOCK
	mmap_assert_locked(vma->vm_mm);
	down_read(&vma->vm_lock->lock);
	return true;
#else
	return false;
#endif
}

void rust_helper_vma_end_read(struct vm_area_struct *vma)
{
	vma_end_read(vma);
}

void rust_helper_vma_start_write(struct vm_area_struct *vma)
{
	vma_start_write(vma);
}

void rust_helper_vma_assert_write_locked(struct vm_area_struct *vma)
{
	vma_assert_write_locked(vma);
}

void rust_helper_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vm_flags_set(vma, flags);
}

void rust_helper_vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags)
{
	vm_flags_clear(vma, flags);
}

/* 7.3's name and arguments for zap_page_range_single(). */
void rust_helper_zap_vma_range(struct vm_area_struct *vma,
			       unsigned long address, unsigned long size)
{
	zap_page_range_single(vma, address, size, NULL);
}

/*
 * Whether a zap of the VMA untracks its PFN map memtype: on x86,
 * unmap_single_vma() untracks the PAT memtype of a VMA that
 * remap_pfn_range() mapped whole (VM_PAT), walking its page tables with
 * follow_pfnmap_start() and clearing VM_PAT non-atomically, whatever lock
 * the zap holds, so that two zaps of it race.
 */
bool rust_helper_vma_zap_untracks_pfnmap(struct vm_area_struct *vma)
{
#ifdef VM_PAT
	return vma->vm_flags & VM_PAT;
#else
	return false;
#endif
}

void rust_helper_release_fault_lock(struct vm_fault *vmf)
{
	release_fault_lock(vmf);
}

unsigned long rust_helper_page_to_pfn(struct page *page)
{
	return page_to_pfn(page);
}

/*
 * Whether remap_pfn_range() of a whole VMA tracks the PFN range's memtype
 * as a whole (x86: VM_PAT), untracked later by a zap or when the VMA is
 * freed. The Rust API refuses such a remap.
 */
bool rust_helper_remap_tracks_whole_vma(void)
{
#ifdef __HAVE_PFNMAP_TRACKING
	return true;
#else
	return false;
#endif
}

pgprot_t rust_helper_pgprot_noncached(pgprot_t prot)
{
	return pgprot_noncached(prot);
}

/* A function on x86, where the Rust bindings use it directly. */
pgprot_t rust_helper_pgprot_writecombine(pgprot_t prot)
{
	return pgprot_writecombine(prot);
}

/*
 * The count of mm's mmap write lock holds: odd while one is held, changed
 * when it ends. 0 where the kernel keeps none (CONFIG_PER_VMA_LOCK=n).
 */
unsigned int rust_helper_mmap_write_seq(struct mm_struct *mm)
{
#ifdef CONFIG_PER_VMA_LOCK
	return READ_ONCE(mm->mm_lock_seq.sequence);
#else
	return 0;
#endif
}
