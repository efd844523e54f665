#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# bench-binder.sh [arch...]: Rust Binder with and without its conversion to
# the series' VMA operations (the rust-binder-vm-ops patch), side by side in
# one run, on a tree whose series converts Binder (7.3). Called by make
# bench after bench.sh, whose "base" kernel carries the conversion.
#
# The kernel without it is the same base kernel with upstream's Binder
# files: a copy of the base build directory, rebuilt with those files put
# back into the source tree for the build (only Binder recompiles). Each
# kernel boots BINDER_BENCH_BOOTS times (default 6), in pairs whose order
# alternates, and runs binder_bench (tools/testing/selftests/binder) with
# BINDER_BENCH_REPS repetitions (default 10). Prints, per arch, the median
# of every repetition on each kernel, the ratio of those medians and the
# median of the per-pair ratios, converted/upstream for round trips per
# second, upstream/converted for ns per inserted page (both: bigger is
# better, target >= 0.98). The round trips do not insert pages: their
# code is the same in both kernels, so their ratio shows the comparison's
# noise. Writes $OUT/bench/<tree>/<arch>/binder.txt.

. "$(dirname "$0")/lib.sh"

arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(x86_64 arm64)
patch=rust-binder-vm-ops
diff=$REPO/trees/$TREE/series/$patch.diff
[ -f "$diff" ] || { echo "bench-binder: the $TREE series does not convert Binder"; exit 0; }
boots=${BINDER_BENCH_BOOTS:-6}
reps=${BINDER_BENCH_REPS:-10}

"$REPO/scripts/setup.sh"
src=$(src_dir)
"$REPO/scripts/series.sh" | grep -E "applies|patches" || true
files=($(sed -n 's,^+++ b/,,p' "$diff"))

# upstream_binder_build <arch>: the base kernel with upstream's Binder.
upstream_binder_build() {
	local arch=$1 B Bu
	"$REPO/scripts/build-kernel.sh" "$arch" base
	B=$(build_dir "$arch" base)
	Bu=$B-binder-upstream
	phase "bench $arch: base kernel with upstream's Binder"
	(
		build_lock
		rm -rf "$Bu"
		cp -a "$B" "$Bu"
		for f in "${files[@]}"; do
			git -C "$src" show "$(vanilla_tag):$f" > "$src/$f"
		done
		rc=0
		"${KMAKE[@]}" -C "$src" O="$Bu" ARCH="$(kernel_arch "$arch")" -j"$(nproc)" all \
			> "$Bu/.binder-build.log" 2>&1 || rc=$?
		git -C "$src" checkout -q HEAD -- "${files[@]}"
		[ $rc = 0 ] || { tail -n 30 "$Bu/.binder-build.log"; exit 1; }
	) || die "the kernel with upstream's Binder did not build for $arch"
	phase_end
}

for arch in "${arches[@]}"; do
	dir=$OUT/bench/$TREE/$arch/binder
	upstream_binder_build "$arch"
	B=$(build_dir "$arch" base)
	cc=$(guest_cc "$arch")
	rm -rf "$dir"
	mkdir -p "$dir/payload/bin" "$dir/payload/modules"
	$cc -static -O2 -Wall -pthread -isystem "$B/usr/include" -o "$dir/payload/bin/binder_bench" \
		"$src/tools/testing/selftests/binder/binder_bench.c" ||
		die "binder_bench build failed for $arch"
	cat > "$dir/payload/plan.sh" <<EOF
#!/bin/sh
dmesg -n 1
rc=0
binder_bench $reps > /tmp/binder.txt 2>&1 || rc=\$?
echo "RVL-TAP-BEGIN binder.txt"
cat /tmp/binder.txt
echo "RVL-TAP-END binder.txt"
exit \$rc
EOF
	for i in $(seq "$boots"); do
		order="converted upstream"
		[ $((i % 2)) = 0 ] && order="upstream converted"
		for k in $order; do
			phase "bench $arch: Binder, $k kernel, boot $i"
			img=$B/$(kernel_image "$arch")
			[ $k = upstream ] && img=$B-binder-upstream/$(kernel_image "$arch")
			RVL_KERNEL_IMAGE=$img RVL_VM_DIR="$dir/vm-$k-$i" \
				"$REPO/scripts/run-vm.sh" "$arch" base "$dir/payload" > "$dir/vm-$k-$i.log" 2>&1 ||
				{ tail -n 20 "$dir/vm-$k-$i.log"; die "Binder benchmark failed ($arch, $k)"; }
			sed "s/^binder /$k $i /" "$dir/vm-$k-$i/tap/binder.txt.tap" >> "$dir/samples.txt"
		done
	done
	phase_end
	python3 - "$dir/samples.txt" > "$OUT/bench/$TREE/$arch/binder.txt" <<'PY'
import statistics, sys
v, boot = {}, {}
for line in open(sys.argv[1]):
    f = line.split()  # kernel boot case rep value unit
    if len(f) == 6 and f[3] != "median":
        v.setdefault((f[0], f[2]), []).append(float(f[4]))
        boot.setdefault((f[0], f[2], f[1]), []).append(float(f[4]))
med = {k: statistics.median(x) for k, x in v.items()}
rng = {k: (min(x), max(x)) for k, x in v.items()}
boots = sorted({k[2] for k in boot})
n = len(v[("converted", "rtt")])
print(f"Binder, {n} repetitions per kernel over {len(boots)} boots each; median (range);")
print("ratio of the medians, and the median of the per-boot-pair ratios; bigger is better,")
print("target >= 0.98 (rtt's code is the same in both kernels: its ratio is the noise)")
print(f"{'case':<7} {'upstream':>24} {'converted':>24} {'ratio':>6} {'pairs':>6}")
for case, unit, up in (("rtt", "round-trips/s", True), ("insert", "ns/page", False)):
    def r(c, u):
        return c / u if up else u / c
    ratio = r(med[("converted", case)], med[("upstream", case)])
    pairs = statistics.median(
        r(statistics.median(boot[("converted", case, b)]), statistics.median(boot[("upstream", case, b)]))
        for b in boots)
    fmt = lambda k: f"{med[(k, case)]:.0f} ({rng[(k, case)][0]:.0f}..{rng[(k, case)][1]:.0f})"
    print(f"{case:<7} {fmt('upstream'):>24} {fmt('converted'):>24} {ratio:6.3f} {pairs:6.3f}  {unit}")
PY
	echo "== $TREE $arch: Rust Binder, upstream against converted (QEMU TCG, base kernel)"
	cat "$OUT/bench/$TREE/$arch/binder.txt"
done
