#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Test plan run by /init in the test VM (see scripts/run-vm.sh). Output of
# each test goes to a file first and is printed as an RVL-TAP section with
# the console quiet, so kernel messages cannot split its lines.
M=/lib/modules-rvl
R=/tmp/results
mkdir -p $R

# Layout check: C offsetof/sizeof against Rust offset_of!/size_of.
insmod $M/layout_check.ko
dmesg | sed -n 's/^\[ *[0-9.]*\] layout_check: //p' > $R/layout.tap

# The module cannot go while a file is open; it can once closed.
insmod $M/rust_vmalock.ko
{
	echo "TAP version 13"
	echo "1..3"
	[ "$(stat -c %a /dev/rust-vmalock)" = 600 ] && echo "ok 1 node mode 0600" ||
		echo "not ok 1 node mode 0600"
	exec 3<>/dev/rust-vmalock
	rmmod rust_vmalock 2>/dev/null && echo "not ok 2 rmmod refused while open" ||
		echo "ok 2 rmmod refused while open"
	exec 3>&-
	rmmod rust_vmalock && echo "ok 3 rmmod once closed" || echo "not ok 3 rmmod once closed"
} > $R/module_rust.tap
insmod $M/rust_vmalock.ko

vmalock_test > $R/vmalock.tap 2>&1

dmesg -n 1
for f in $R/*.tap; do
	n=$(basename $f .tap)
	echo "RVL-TAP-BEGIN $n"
	cat $f
	echo "RVL-TAP-END $n"
done
grep -q "^not ok" $R/*.tap && exit 1
exit 0
