#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# peer-suite.sh <x86_64|arm64> <outdir> [<kernel-source> [<build-dir>]]
#
# Builds the "peer suite": a fixed set of the kernel's own mm selftests
# (tools/testing/selftests/mm) that fit the busybox test VM, as static
# binaries for <arch>, into <outdir>/bin, and writes <outdir>/list and
# <outdir>/peer.sh (tests/vm/peer.sh, which runs the list in the VM). With
# <outdir> = <payload>/bin/peer, tests/vm/plan.sh runs the suite.
#
# The kernel source defaults to $(src_dir), the build directory (its
# usr/include and .config) to $(build_dir <arch> test). The source tree is
# only read. Binaries are cached in $CACHE/peer, keyed on the kernel version
# and a hash of everything they are built from; a warm run only copies.
# A program whose kernel options the build directory's .config lacks is still
# built, but listed as skipped with the missing options as the reason.

. "$(dirname "$0")/lib.sh"

arch=${1:?usage: peer-suite.sh <arch> <outdir> [<kernel-source> [<build-dir>]]}
outdir=${2:?usage: peer-suite.sh <arch> <outdir> [<kernel-source> [<build-dir>]]}
src=${3:-$(src_dir)}
B=${4:-$(build_dir "$arch" test)}
kernel_arch "$arch" >/dev/null
mm=$src/tools/testing/selftests/mm
[ -r "$mm/mremap_test.c" ] || die "no mm selftests in $src"
[ -r "$B/usr/include/linux/mman.h" ] || die "no uapi headers in $B/usr/include (build the kernel first)"
[ -r "$B/.config" ] || die "no $B/.config"

# One program per line: name, arches, timeout in seconds, the kernel options
# it needs ("-" if none; "!OPT": OPT must be off), then the program and its
# arguments.
# Included (what each exercises):
#  map_fixed_noreplace: MAP_FIXED_NOREPLACE against existing VMAs, overlap
#    and partial overlap, unmap of the result.
#  mremap_test: mremap moves and expands of 8K..2G at PTE/PMD/PUD alignment,
#    with the moved contents checked; expand-merge; overlap and alignment
#    errors. Its 2 GiB cases need overcommit_memory=1 in the 2 GiB VM.
#  mremap_dontunmap: MREMAP_DONTUNMAP on anon and shmem, partial and
#    fixed-address moves (VMA copy and split, the old range kept mapped).
#  mlock2-tests: mlock/mlock2(ONFAULT)/munlock/mlockall: VMA flag changes
#    that split and merge VMAs, faults of lock-on-fault VMAs.
#  mdwe_test: PR_SET_MDWE: mmap/mprotect permission checks, inheritance on
#    fork.
#  mkdirty: write to a R/O private mapping through /proc/self/mem (GUP
#    FOLL_FORCE write fault); its mbind and userfaultfd cases skip here.
#    It needs /proc/pid/mem writes without ptrace: PROC_MEM_ALWAYS_FORCE,
#    6.12's default; 7.3 defaults to PROC_MEM_FORCE_PTRACE.
#  mrelease_test: process_mrelease() zaps a dying process's pages under
#    the mmap read lock, racing its exit.
#  seal_elf: mseal of the binary's own mappings, mprotect refused after.
#  mseal_test: mprotect/munmap/mremap/mmap over sealed VMAs, with splits,
#    merges and gaps (its madvise cases need CONFIG_ADVISE_SYSCALLS).
#  madv_populate: MADV_POPULATE_(READ|WRITE): faults through GUP, on
#    anon and shared memory, with PROT_NONE and holes.
#  map_populate: MAP_PRIVATE|MAP_POPULATE of a file: the populated pages
#    must still COW, in parent and forked child (which sync over a
#    socketpair(), hence CONFIG_UNIX).
#  uffd-unit-tests -f zeropage: UFFDIO_ZEROPAGE, which takes the per-VMA
#    lock from an ioctl (uffd_mfill_lock), on anon and shmem.
#  uffd-unit-tests -f move: UFFDIO_MOVE, which read-locks two VMAs under
#    their per-VMA locks (falling back to the mmap lock), serving missing
#    faults that 6.12 takes under the per-VMA lock and retries (the VMA lock
#    released, as our force_mmap mode does).
#  pkey_sighandler_tests (x86 only: it has no arm64 port in 6.12):
#    pkey_mprotect and pkey faults, which x86 checks in its VMA-locked fault
#    path, and PKRU across signal delivery.
table() {
	cat <<'EOF'
map_fixed_noreplace	x86_64,arm64	30	-	map_fixed_noreplace
mremap_test		x86_64,arm64	90	-	mremap_test
mremap_dontunmap	x86_64,arm64	30	-	mremap_dontunmap
mlock2-tests		x86_64,arm64	30	-	mlock2-tests
mdwe_test		x86_64,arm64	30	-	mdwe_test
mkdirty			x86_64,arm64	30	CONFIG_PROC_MEM_ALWAYS_FORCE	mkdirty
mrelease_test		x86_64,arm64	30	-	mrelease_test
seal_elf		x86_64,arm64	30	-	seal_elf
mseal_test		x86_64,arm64	30	CONFIG_ADVISE_SYSCALLS	mseal_test
madv_populate		x86_64,arm64	30	CONFIG_ADVISE_SYSCALLS	madv_populate
map_populate		x86_64,arm64	30	CONFIG_UNIX	map_populate
uffd-zeropage		x86_64,arm64	30	CONFIG_USERFAULTFD,CONFIG_ADVISE_SYSCALLS	uffd-unit-tests -f zeropage
uffd-move		x86_64,arm64	180	CONFIG_USERFAULTFD,CONFIG_ADVISE_SYSCALLS	uffd-unit-tests -f move
pkey_sighandler_tests	x86_64		30	-	pkey_sighandler_tests
EOF
}
# Left out (one line each):
#  cow, khugepaged, transhuge-stress, split_huge_page_test: need THP.
#  hugepage-*, hugetlb*, map_hugetlb, thuge-gen, write_to_hugetlbfs,
#    charge_reserved_hugetlb, compaction_test: need hugetlbfs reservations.
#  gup_test, gup_longterm: need CONFIG_GUP_TEST in debugfs (and liburing).
#  ksm_tests, ksm_functional_tests: need CONFIG_KSM (ksm_tests also libnuma).
#  migration: needs NUMA (libnuma). hmm-tests: needs the test_hmm module.
#  mlock-random-test, memfd_secret: need libcap (memfd_secret also SECRETMEM).
#  on-fault-limit: skips as root, and the VM has no other user.
#  protection_keys: as root it sets up hugetlb pages and exits without
#    /proc/sys/vm/nr_hugepages; on arm64 it needs POE (not in this kernel).
#  pagemap_ioctl: needs userfaultfd write-protect (x86 only in 6.12) and SysV
#    shm; it reports "pass" with nothing run without them.
#  soft-dirty: needs CHECKPOINT_RESTORE + MEM_SOFT_DIRTY; built for x86 only.
#  droppable: MADV_PAGEOUT until dropped: needs reclaim pressure, slow.
#  uffd-stress, and uffd-unit-tests' other groups: too slow under TCG with
#    KASAN (32 MiB of userfaults per case): -f sigbus 33-36 s, -f events over
#    90 s on x86_64 and over 400 s on arm64, the whole program much more.
#  virtual_address_range: over 120 s on x86_64 (1 GiB mmaps across the
#    whole address space); on arm64's 52-bit VAs 6.12's version fails at once.
#  va_high_addr_switch: mmap hints across 47/48 bits; needs 5-level paging
#    (its upstream wrapper skips it otherwise), and run-vm.sh sets la57=off.

case $arch in
x86_64) cc=(gcc) ;;
arm64) cc=(aarch64-linux-gnu-gcc) ;;
esac
command -v "${cc[0]}" >/dev/null || die "no ${cc[0]} (scripts/setup.sh installs it)"
cflags=(-static -O2 -Wall -U_FORTIFY_SOURCE -s -isystem "$B/usr/include"
	-isystem "$src/tools/include/uapi" -I "$src/tools/testing/selftests")
# The THP/hugepage helpers every program links with: thp_settings.c on 6.12,
# hugepage_settings.c on 7.3.
settings=$mm/thp_settings.c
[ -r "$settings" ] || settings=$mm/hugepage_settings.c
libs=(-lrt -lpthread -lm)

# The programs this arch builds, once each; a program the tree's selftests do
# not have (7.3 has no seal_elf) is listed as skipped below.
programs=$(table | awk -v a="$arch" '$2 ~ "(^|,)" a "(,|$)" { print $5 }' | sort -u |
	while read -r p; do [ -r "$mm/$p.c" ] && echo "$p"; done)

# extra_args <program>: what a program needs besides its .c and vm_util.
extra_args() {
	case $1 in
	uffd-unit-tests) echo "$mm/uffd-common.c" ;;
	# 7.3 moved the pkey syscall wrappers into pkey_util.c.
	pkey_sighandler_tests) echo "-mxsave"; [ -r "$mm/pkey_util.c" ] && echo "$mm/pkey_util.c" ;;
	# Static arm64 binaries put .rodata in the text segment; seal_elf
	# makes the page of a string R/O (no exec) and would fault on exit.
	seal_elf) [ "$arch" = arm64 ] && echo "-Wl,-z,separate-code" ;;
	esac
	return 0
}

version=$(sed -nE 's/^(VERSION|PATCHLEVEL|SUBLEVEL) = ([0-9]+)$/\2/p' "$src/Makefile" |
	paste -sd.)
[ -n "$version" ] || die "cannot read the kernel version from $src/Makefile"

phase "peer suite $arch: hash inputs"
build_lock
# Everything the binaries depend on: this script (programs and flags), the
# compiler, the selftest sources and headers, the uapi headers.
key=$( {
	cat "$0"
	"${cc[0]}" --version | head -n 1
	echo "${cflags[*]} ${libs[*]}"
	(cd "$src" && find tools/testing/selftests/mm -maxdepth 1 -name '*.[ch]' &&
	 ls tools/testing/selftests/kselftest*.h mm/gup_test.h &&
	 find tools/include/uapi -type f) | LC_ALL=C sort | (cd "$src" && xargs sha256sum)
	(cd "$B/usr/include" && find . -type f | LC_ALL=C sort | xargs sha256sum)
} | sha256sum | cut -c1-16)
cache=$CACHE/peer/linux-$version/$arch-$key

if [ -f "$cache/.done" ]; then
	phase "peer suite $arch: cached ($cache)"
else
	phase "peer suite $arch: build $(wc -w <<<"$programs") programs"
	rm -rf "$cache.tmp"
	mkdir -p "$cache.tmp"
	pids=()
	for p in $programs; do
		# shellcheck disable=SC2046 # extra_args is a word list
		"${cc[@]}" "${cflags[@]}" "$mm/$p.c" "$mm/vm_util.c" "$settings" \
			$(extra_args "$p") "${libs[@]}" -o "$cache.tmp/$p" \
			> "$cache.tmp/$p.log" 2>&1 &
		pids+=($!)
		# At most nproc compilers at a time.
		if [ ${#pids[@]} -ge "$(nproc)" ]; then
			wait "${pids[0]}" || true
			pids=("${pids[@]:1}")
		fi
	done
	wait || true
	for p in $programs; do
		[ -x "$cache.tmp/$p" ] || { cat "$cache.tmp/$p.log" >&2; die "peer suite: $p did not build for $arch"; }
	done
	touch "$cache.tmp/.done"
	rm -rf "$cache"
	mv "$cache.tmp" "$cache"
	# Older builds for this arch are not needed any more.
	find "$CACHE/peer" -mindepth 2 -maxdepth 2 -name "$arch-*" ! -path "$cache" \
		-exec rm -rf {} +
fi

phase "peer suite $arch: install into $outdir"
rm -rf "${outdir:?}/bin"
mkdir -p "$outdir/bin"
for p in $programs; do
	cp "$cache/$p" "$outdir/bin/$p"
done
cp "$REPO/tests/vm/peer.sh" "$outdir/peer.sh"

# The list: "name timeout program [args]" to run, "name skip reason" if the
# kernel lacks an option the program needs.
{
	echo "# peer suite for $arch, built from $src for $B"
	table | while read -r name arches secs needs prog args; do
		[[ ,$arches, == *,$arch,* ]] || continue
		if [ ! -r "$mm/$prog.c" ]; then
			echo "$name skip not in the $version selftests"
			continue
		fi
		missing=
		if [ "$needs" != - ]; then
			for opt in ${needs//,/ }; do
				case $opt in
				!*) grep -qx "${opt#!}=y" "$B/.config" && missing+=" no ${opt#!}" ;;
				*) grep -qx "$opt=y" "$B/.config" || missing+=" $opt" ;;
				esac
			done
		fi
		if [ -n "$missing" ]; then
			echo "$name skip needs$missing"
		else
			echo "$name $secs $prog${args:+ $args}"
		fi
	done
} > "$outdir/list"
phase_end
echo "peer suite $arch: $(grep -vc '^#' "$outdir/list") programs," \
	"$(grep -c ' skip ' "$outdir/list") skipped for kernel options, in $outdir"
