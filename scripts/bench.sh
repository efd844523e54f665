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
src=$(src_dir)
"$REPO/scripts/series.sh" | grep -E "applies|patches" || true

# bench_payload <arch> <flavor> <payload>: builds the flavor's kernel, both
# modules for it and the guest programs into <payload>/{modules,bin}.
bench_payload() {
	local arch=$1 flavor=$2 payload=$3 karch B mod cc p
	karch=$(kernel_arch "$arch")
	"$REPO/scripts/build-kernel.sh" "$arch" "$flavor"
	B=$(build_dir "$arch" "$flavor")
	rm -rf "$payload"
	mkdir -p "$payload/modules" "$payload/bin"

	phase "bench $arch $flavor: modules and programs"
	# Each bench kernel gets its own copy of the module sources.
	mod=$OUT/modules/$TREE/$arch-$flavor
	stage_modules "$mod"
	"${KMAKE[@]}" ARCH="$karch" -C "$B" M="$mod" modules >"$payload/modules.log" 2>&1 ||
		{ tail -n 30 "$payload/modules.log"; die "module build failed for $arch $flavor"; }
	cp "$mod/samples/rust/rust_vmalock.ko" "$mod/samples/vmalock/c_vmalock.ko" "$payload/modules/"
	cc=$(guest_cc "$arch")
	# From the kernel tree the series is checked out in (they include ../kselftest.h).
	for p in vmalock_bench vmalock_icount; do
		$cc -static -O2 -Wall -pthread -I"$REPO/samples/vmalock" -isystem "$B/usr/include" \
			-o "$payload/bin/$p" "$src/tools/testing/selftests/vmalock/$p.c" ||
			die "$p build failed for $arch"
	done
}

# bench_vm <arch> <flavor> <dir> <command>: boots the flavor's kernel with
# <dir>/payload, loads both modules and runs <command>; its output (in the
# guest's /tmp/out.txt) becomes <dir>/out.txt, and the guest's
# /tmp/bench.json, if written, <dir>/bench.json.
bench_vm() {
	local arch=$1 flavor=$2 dir=$3 cmd=$4
	cat > "$dir/payload/plan.sh" <<EOF
#!/bin/sh
M=/lib/modules-rvl
insmod \$M/rust_vmalock.ko && insmod \$M/c_vmalock.ko || exit 1
dmesg -n 1
echo "bench: \$(uname -m), \$(nproc) CPUs, kernel \$(uname -r)"
rc=0
$cmd > /tmp/out.txt 2>&1 || rc=\$?
for f in out.txt bench.json; do
	[ -f /tmp/\$f ] || continue
	echo "RVL-TAP-BEGIN \$f"
	cat /tmp/\$f
	echo "RVL-TAP-END \$f"
done
exit \$rc
EOF

	phase "bench $arch $flavor: VM"
	RVL_VM_TIMEOUT=${RVL_VM_TIMEOUT:-1800} RVL_VM_DIR="$dir/vm" \
		"$REPO/scripts/run-vm.sh" "$arch" "$flavor" "$dir/payload" ||
		die "benchmark VM run failed for $arch $flavor"
	cp "$dir/vm/tap/out.txt.tap" "$dir/out.txt"
	[ ! -f "$dir/vm/tap/bench.json.tap" ] || cp "$dir/vm/tap/bench.json.tap" "$dir/bench.json"
}

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
