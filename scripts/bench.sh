#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# bench.sh [arch...]: make bench, on one tree. Builds the series into the
# "base" kernel (no lock or memory debugging, which would dominate the
# numbers), both sample modules and vmalock_bench, runs the benchmark in one
# VM per arch (QEMU TCG, -smp 2), then runs every case once more on the
# "profile" kernel (the base kernel with CONFIG_LOCK_STAT) for the lock
# waits that explain the figures, and last vmalock_icount on the base
# kernel with one vCPU and the instruction counting plugin
# (scripts/icount-plugin.c) for exact instructions per operation. Writes,
# per arch, $OUT/bench/<tree>/<arch>/: bench.json (every sample), bench.txt
# (the program's summary), profile/bench.json, table.md, plot.png,
# icount.json and icount.md; prints the ratio tables.
#
# Environment: VMALOCK_BENCH_ARGS (extra vmalock_bench options, e.g.
# "-r 3 -s 500" for a quick run), VMALOCK_BENCH_PROFILE_ARGS (the profile
# run's, default "-r 1 -s 500 -w 100"), VMALOCK_ICOUNT_ARGS (vmalock_icount
# options), RVL_BENCH_ICOUNT_ONLY=1 (the instruction counts alone).

. "$(dirname "$0")/lib.sh"

arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(x86_64 arm64)

"$REPO/scripts/setup.sh"
"$REPO/scripts/series.sh" | grep -E "applies|patches" || true

# bench_run <arch> <flavor> <dir> <vmalock_bench options>: the benchmark,
# leaving <dir>/bench.json and <dir>/bench.txt (the program's summary).
bench_run() {
	local arch=$1 flavor=$2 dir=$3 args=$4
	rm -rf "$dir"
	bench_payload "$arch" "$flavor" "$dir/payload"
	bench_vm "$arch" "$flavor" "$dir" "vmalock_bench -q -o /tmp/bench.json $args"
	mv "$dir/out.txt" "$dir/bench.txt"
}

# icount_run <arch> <dir>: instructions per operation of every fault path
# (vmalock_icount) on the base kernel, on one vCPU, counted by the plugin
# into <dir>/plugin.txt; the program's lines in <dir>/out.txt.
icount_run() {
	local arch=$1 dir=$2 so
	so=$(icount_plugin)
	rm -rf "$dir"
	bench_payload "$arch" base "$dir/payload"
	RVL_VM_SMP=1 RVL_QEMU_ARGS="-plugin $so,out=$dir/plugin.txt" \
		bench_vm "$arch" base "$dir" "vmalock_icount ${VMALOCK_ICOUNT_ARGS:-}"
}

reports=()
for arch in "${arches[@]}"; do
	dir=$OUT/bench/$TREE/$arch
	mkdir -p "$dir"
	if [ -z "${RVL_BENCH_ICOUNT_ONLY:-}" ]; then
		bench_run "$arch" base "$dir" "${VMALOCK_BENCH_ARGS:-}"
		# The profile: every case once, on the kernel with lock statistics.
		bench_run "$arch" profile "$dir/profile" "${VMALOCK_BENCH_PROFILE_ARGS:--r 1 -s 500 -w 100}"
		python3 "$REPO/scripts/bench-report.py" --markdown "$dir/table.md" --png "$dir/plot.png" \
			--profile "$dir/profile/bench.json" "$dir/bench.json" > "$dir/table.txt" ||
			die "bench-report failed for $arch"
	fi
	# Exact costs: instructions per operation, Rust against C.
	icount_run "$arch" "$dir/icount"
	python3 "$REPO/scripts/icount-report.py" --json "$dir/icount.json" \
		--markdown "$dir/icount.md" "$dir/icount" > "$dir/icount.txt" ||
		die "icount-report failed for $arch"
	# Next to the time ratios, when they were measured.
	[ -n "${RVL_BENCH_ICOUNT_ONLY:-}" ] || cat "$dir/icount.md" >> "$dir/table.md"
	reports+=("$dir")
done
phase_end

for dir in "${reports[@]}"; do
	echo "== $TREE $(basename "$dir") (QEMU TCG, -smp 2, base kernel $(kernel_version) + series)"
	[ ! -f "$dir/table.txt" ] || cat "$dir/table.txt"
	echo "-- instructions per operation (-smp 1, scripts/icount-plugin.c)"
	cat "$dir/icount.txt"
	echo "   $dir/{bench.json,bench.txt,table.md,plot.png,icount.json,icount.md}"
done
