#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# bisect-check.sh [x86_64|arm64]: builds $TREE's test kernel (vmlinux and
# modules, the series' samples included) at every prefix of its posted
# series, so that a bisect never lands on a patch that does not build. Not
# part of make check: it is a kernel build per patch.
#
# It builds in a copy of the test build directory, with the test .config
# restored before each build (a prefix that lacks a sample's Kconfig entry
# would otherwise drop it for the later ones); the source tree keeps its
# path, so each build is incremental. The whole series is checked out again
# at the end.

. "$(dirname "$0")/lib.sh"

arch=${1:-x86_64}
karch=$(kernel_arch "$arch")
src=$(src_dir)
"$REPO/scripts/series.sh" >/dev/null
"$REPO/scripts/build-kernel.sh" "$arch" test >/dev/null
head=$(cat "$OUT/series-head-$TREE")
n=$(ls "$(patches_dir)" | grep -vc '^0000-')
B=$(build_dir "$arch" test)
BB=$(build_dir "$arch" bisect)
build_lock
rm -rf "$BB"
cp -a "$B" "$BB"
trap 'git -C "$src" checkout -q -f --detach "$head"' EXIT
k=0
for c in $(git -C "$src" rev-list --reverse "$(vanilla_tag)..$head" | head -n "$n"); do
	k=$((k + 1))
	subject=$(git -C "$src" log -1 --format=%s "$c")
	phase "bisect-check $TREE $arch: $k/$n $subject"
	git -C "$src" checkout -q -f --detach "$c"
	cp "$B/.config" "$BB/.config"
	"${KMAKE[@]}" -C "$src" O="$BB" ARCH="$karch" -j"$(nproc)" -s vmlinux modules ||
		die "patch $k/$n does not build: $subject"
done
phase_end
rm -rf "$BB"
echo "bisect-check: the $n prefixes of the $TREE series build ($arch)"
