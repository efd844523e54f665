// SPDX-License-Identifier: GPL-2.0

/*
 * Helpers for the mm and per-VMA lock abstractions in rust/kernel/mm.rs
 * and rust/kernel/mm/.
 *
 * Everything whose signature or semantics differ between 6.12 and later
 * kernels is wrapped here, so that the Rust API is the same on both.
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

bool rust_helper_mmap_read_trylock(struct mm_struct *mm)
{
	return mmap_read_trylock(mm);
}

void rust_helper_mmap_read_unlock(struct mm_struct *mm)
{
	mmap_read_unlock(mm);
}

struct vm_area_struct *rust_helper_vma_lookup(struct mm_struct *mm,
					      unsigned long addr)
{
	return vma_lookup(mm, addr);
}

void rust_helper_vma_end_read(struct vm_area_struct *vma)
{
	vma_end_read(vma);
}

void rust_helper_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vm_flags_set(vma, flags);
}

void rust_helper_vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags)
{
	vm_flags_clear(vma, flags);
}

/* Later kernels' name and arguments for zap_page_range_single(). */
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
