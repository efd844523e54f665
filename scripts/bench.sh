#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# bench.sh [arch...]: make bench, on one tree. Builds the series into the
# "base" kernel (no lock or memory debugging, which would dominate the
# numbers), both sample modules and vmalock_bench, runs the benchmark in one
# VM per arch (QEMU TCG, -smp 2), then runs every case once more on the
# "profile" kernel (the base kernel with CONFIG_LOCK_STAT) for the lock
# waits that explain the figures. Writes, per arch,
# $OUT/bench/<tree>/<arch>/: bench.json (every sample), bench.txt (the
# program's summary), profile/bench.json, table.md and plot.png; prints the
# ratio tables.
#
# Environment: VMALOCK_BENCH_ARGS (extra vmalock_bench options, e.g.
# "-r 3 -s 500" for a quick run), VMALOCK_BENCH_PROFILE_ARGS (the profile
# run's, default "-r 1 -s 500 -w 100").

. "$(dirname "$0")/lib.sh"

arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(x86_64 arm64)

"$REPO/scripts/setup.sh"
src=$(src_dir)
"$REPO/scripts/series.sh" | grep -E "applies|patches" || true

# bench_run <arch> <flavor> <dir> <vmalock_bench options>: the benchmark in
# a VM booted on the flavor's kernel, with modules built for that kernel;
# leaves <dir>/bench.json and <dir>/bench.txt.
bench_run() {
	local arch=$1 flavor=$2 dir=$3 args=$4 karch B payload mod cc
	karch=$(kernel_arch "$arch")
	"$REPO/scripts/build-kernel.sh" "$arch" "$flavor"
	B=$(build_dir "$arch" "$flavor")
	payload=$dir/payload
	rm -rf "$dir"
	mkdir -p "$payload/modules" "$payload/bin"

	phase "bench $arch $flavor: modules and program"
	# Each bench kernel gets its own copy of the module sources.
	mod=$OUT/modules/$TREE/$arch-$flavor
	stage_modules "$mod"
	"${KMAKE[@]}" ARCH="$karch" -C "$B" M="$mod" modules >"$dir/modules.log" 2>&1 ||
		{ tail -n 30 "$dir/modules.log"; die "module build failed for $arch $flavor"; }
	cp "$mod/samples/rust/rust_vmalock.ko" "$mod/samples/vmalock/c_vmalock.ko" "$payload/modules/"
	case $arch in
	x86_64) cc=gcc ;;
	arm64) cc=aarch64-linux-gnu-gcc ;;
	esac
	# From the kernel tree the series is checked out in (it includes ../kselftest.h).
	$cc -static -O2 -Wall -pthread -I"$REPO/samples/vmalock" -isystem "$B/usr/include" \
		-o "$payload/bin/vmalock_bench" \
		"$src/tools/testing/selftests/vmalock/vmalock_bench.c" ||
		die "vmalock_bench build failed for $arch"
	cat > "$payload/plan.sh" <<EOF
#!/bin/sh
M=/lib/modules-rvl
insmod \$M/rust_vmalock.ko && insmod \$M/c_vmalock.ko || exit 1
dmesg -n 1
echo "bench: \$(uname -m), \$(nproc) CPUs, kernel \$(uname -r)"
rc=0
vmalock_bench -q -o /tmp/bench.json $args > /tmp/bench.txt 2>&1 || rc=\$?
for f in bench.txt bench.json; do
	echo "RVL-TAP-BEGIN \$f"
	cat /tmp/\$f
	echo "RVL-TAP-END \$f"
done
exit \$rc
EOF

	phase "bench $arch $flavor: VM"
	RVL_VM_TIMEOUT=${RVL_VM_TIMEOUT:-1800} RVL_VM_DIR="$dir/vm" \
		"$REPO/scripts/run-vm.sh" "$arch" "$flavor" "$payload" ||
		die "benchmark VM run failed for $arch $flavor"
	cp "$dir/vm/tap/bench.json.tap" "$dir/bench.json"
	cp "$dir/vm/tap/bench.txt.tap" "$dir/bench.txt"
}

reports=()
for arch in "${arches[@]}"; do
	dir=$OUT/bench/$TREE/$arch
	bench_run "$arch" base "$dir" "${VMALOCK_BENCH_ARGS:-}"
	# The profile: every case once, on the kernel with lock statistics.
	bench_run "$arch" profile "$dir/profile" "${VMALOCK_BENCH_PROFILE_ARGS:--r 1 -s 500 -w 100}"
	python3 "$REPO/scripts/bench-report.py" --markdown "$dir/table.md" --png "$dir/plot.png" \
		--profile "$dir/profile/bench.json" "$dir/bench.json" > "$dir/table.txt" ||
		die "bench-report failed for $arch"
	reports+=("$dir")
done
phase_end

for dir in "${reports[@]}"; do
	echo "== $TREE $(basename "$dir") (QEMU TCG, -smp 2, base kernel $(kernel_version) + series)"
	cat "$dir/table.txt"
	echo "   $dir/{bench.json,bench.txt,table.md,plot.png}"
done
