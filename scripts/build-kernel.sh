#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# build-kernel.sh <x86_64|arm64> <base|profile|test|no-per-vma-lock>
#
# Builds the kernel tree ($TREE) currently checked out in the cache (see
# series.sh) out of tree, in a build directory per kernel version, arch and
# flavor. The .config is regenerated only when the fragments change; make
# does the rest.
#
# The Rust code is compiled by clippy-driver (CLIPPY=1 in KMAKE), so a build
# lints as it goes. The output of the last build that compiled the kernel
# crate is kept in $B/.clippy.log for check.sh's clippy gate: the crate is
# only recompiled when its sources change, and so are its warnings.

. "$(dirname "$0")/lib.sh"

arch=${1:?arch}
flavor=${2:?flavor}
karch=$(kernel_arch "$arch")
src=$(src_dir)
B=$(build_dir "$arch" "$flavor")

frags=("$REPO/configs/base.config" "$REPO/configs/$arch.config")
# The tree's own options (trees/<tree>/configs/{base,<arch>}.config), if any.
for f in base "$arch"; do
	[ -e "$REPO/trees/$TREE/configs/$f.config" ] && frags+=("$REPO/trees/$TREE/configs/$f.config")
done
case $flavor in
# The benchmark's kernels: timed (base) and with lock statistics (profile).
base|profile)
	frags+=("$REPO/configs/bench.config")
	[ -e "$REPO/configs/$arch-bench.config" ] && frags+=("$REPO/configs/$arch-bench.config")
	[ "$flavor" = profile ] && frags+=("$REPO/configs/profile.config") ;;
test) frags+=("$REPO/configs/debug.config")
      # Test kernels also boot under virtme-ng (run-vng.sh).
      frags+=("$REPO/configs/vng.config")
      [ -e "$REPO/configs/$arch-vng.config" ] && frags+=("$REPO/configs/$arch-vng.config") ;;
# The kernel crate of a kernel without the per-VMA lock: built, not booted
# (its fragment comes last, below).
no-per-vma-lock) ;;
*) die "unknown flavor $flavor" ;;
esac
# The Kconfig needs (kselftest convention) of the selftests the tree's
# series adds.
for f in $(grep -o 'tools/testing/selftests/[^ ]*/config' "$REPO/trees/$TREE/series/series"); do
	frags+=("$REPO/$f")
done
[ "$flavor" = no-per-vma-lock ] && frags+=("$REPO/configs/no-per-vma-lock.config")

mk=("${KMAKE[@]}" -C "$src" O="$B" ARCH="$karch")
# One kernel build (or series checkout) at a time on this 2-core machine.
build_lock
mkdir -p "$B"
sum=$(cat "${frags[@]}" | sha256sum | cut -c1-16)
if [ ! -e "$B/.config" ] || [ "$(cat "$B/.fragments" 2>/dev/null)" != "$sum" ]; then
	phase "config $arch-$flavor"
	"${mk[@]}" -s tinyconfig
	ARCH=$karch "$src/scripts/kconfig/merge_config.sh" -m -O "$B" "$B/.config" "${frags[@]}" >/dev/null
	"${mk[@]}" -s olddefconfig
	# merge_config.sh silently drops what Kconfig refuses: check every
	# option, as the last fragment that names it sets it.
	declare -A want=()
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*) want[${line%%=*}]=$line ;;
		"# CONFIG_"*" is not set") opt=${line#\# }; want[${opt%% *}]=$line ;;
		esac
	done < <(cat "${frags[@]}")
	bad=0
	for opt in "${!want[@]}"; do
		line=${want[$opt]}
		case $line in
		CONFIG_*) grep -qx -- "$line" "$B/.config" || { echo "config: $line not set"; bad=1; } ;;
		*) grep -q "^$opt=" "$B/.config" && { echo "config: $opt should be unset"; bad=1; } ;;
		esac
	done
	[ $bad = 0 ] || die "kernel config for $arch-$flavor is missing options"
	echo "$sum" > "$B/.fragments"
fi

phase "build $arch-$flavor ($(kernel_version))"
if [ "$flavor" = no-per-vma-lock ]; then
	# `prepare` compiles the kernel crate, with its doctests.
	"${mk[@]}" -j"$(nproc)" prepare
	phase_end
	exit 0
fi
# No log yet (a directory built before the log existed): recompile the crate.
[ -e "$B/.clippy.log" ] || rm -f "$B/rust/kernel.o"
before=$(stat -c %Y "$B/rust/kernel.o" 2>/dev/null || echo 0)
"${mk[@]}" -j"$(nproc)" all 2>&1 | tee "$B/.build.log"
[ "$(stat -c %Y "$B/rust/kernel.o")" = "$before" ] || mv "$B/.build.log" "$B/.clippy.log"
"${mk[@]}" -s headers
phase_end
echo "kernel: $B/$(kernel_image "$arch")"
