// SPDX-License-Identifier: GPL-2.0

/*
 * Helpers for the mm and per-VMA lock abstractions in rust/kernel/mm.rs.
 *
 * Everything whose signature or semantics changed after 6.12 is wrapped
 * here, so that the Rust API does not change with the kernel version. On
 * 6.15+ (vm_refcnt instead of the vm_lock rwsem) these become:
 *
 *  - rust_helper_vma_start_read_locked(): vma_start_read_locked(vma);
 *  - rust_helper_vma_end_read(): vma_end_read(vma), unchanged;
 *  - rust_helper_vma_start_write(): vma_start_write(vma), now calling the
 *    exported __vma_start_write();
 *  - rust_helper_mmap_write_trylock(): mmap_write_trylock(mm), which
 *    then exists in <linux/mmap_lock.h>.
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

void rust_helper_mmap_write_lock(struct mm_struct *mm)
{
	mmap_write_lock(mm);
}

int rust_helper_mmap_write_lock_killable(struct mm_struct *mm)
{
	return mmap_write_lock_killable(mm);
}

/* 6.12 has no mmap_write_trylock(); later kernels do. */
bool rust_helper_mmap_write_trylock(struct mm_struct *mm)
{
	bool ret;

	__mmap_lock_trace_start_locking(mm, true);
	ret = down_write_trylock(&mm->mmap_lock) != 0;
	__mmap_lock_trace_acquire_returned(mm, true, ret);
	return ret;
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
 * cannot fail: nobody can write-mark the VMA while we hold the mmap lock.
 * vma_start_read() could fail spuriously, so 6.12 open-codes this, see
 * uffd_lock_vma().
 */
void rust_helper_vma_start_read_locked(struct vm_area_struct *vma)
{
	mmap_assert_locked(vma->vm_mm);
	down_read(&vma->vm_lock->lock);
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

void rust_helper_release_fault_lock(struct vm_fault *vmf)
{
	release_fault_lock(vmf);
}
