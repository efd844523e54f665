#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo [TREE=7.3]: set up what is missing, build the x86_64 test kernel
# of the tree (6.12 by default) with the series and both sample modules (Rust
# and its C twin), boot it under QEMU and show the drivers at work side by
# side (tests/demo/).

. "$(dirname "$0")/lib.sh"

"$REPO/scripts/setup.sh"
"$REPO/scripts/series.sh"
"$REPO/scripts/build-kernel.sh" x86_64 test
B=$(build_dir x86_64 test)
payload=$OUT/payload/demo
rm -rf "$payload"
mkdir -p "$payload/modules" "$payload/bin"
phase "modules and demo program"
mods=$OUT/modules/$TREE/x86_64
stage_modules "$mods" "$B"
"${KMAKE[@]}" -s -C "$B" M="$mods" modules
cp "$mods/samples/rust/rust_vmalock.ko" "$mods/samples/vmalock/c_vmalock.ko" \
	"$payload/modules/"
gcc -static -O2 -Wall -pthread -I"$REPO/samples/vmalock" -isystem "$B/usr/include" \
	-o "$payload/bin/vmalock_demo" "$REPO/tests/demo/vmalock_demo.c"
cp "$REPO/tests/demo/plan.sh" "$payload/plan.sh"
phase_end
rc=0
"$REPO/scripts/run-vm.sh" x86_64 test "$payload" || rc=$?
echo "---- guest output"
sed -n '/RVL-PLAN-BEGIN/,/RVL-PLAN-END/p' "$OUT/vm/$TREE/x86_64-test/console.log" |
	grep -v '^\[ *[0-9.]*\] ' || true
exit $rc
