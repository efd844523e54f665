#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# run-vm.sh <x86_64|arm64> <flavor> <payload-dir>
#
# Boots the built kernel under QEMU/TCG with a busybox initramfs that carries
# the payload (modules/*.ko -> /lib/modules-rvl, bin/* -> /bin-rvl, plan.sh ->
# /plan.sh), runs the plan and reboots. Fails on any kernel splat in the
# console log, on a plan exit code other than 0, and on a timeout. Extracts
# the boot-time KUnit KTAP and the plan's RVL-TAP sections next to the log.
#
# Environment: RVL_VM_TIMEOUT (seconds, default 900), RVL_CMDLINE (extra
# kernel arguments), RVL_VM_DIR (output directory, default out/vm/<arch>-<flavor>),
# RVL_KERNEL_IMAGE (a kernel image other than the build directory's).

. "$(dirname "$0")/lib.sh"

arch=${1:?arch}
flavor=${2:?flavor}
payload=${3:?payload-dir}
kernel_arch "$arch" >/dev/null
[ -d "$payload" ] || die "no payload directory $payload"
B=$(build_dir "$arch" "$flavor")
image=${RVL_KERNEL_IMAGE:-$B/$(kernel_image "$arch")}
[ -r "$image" ] || die "no kernel image $image (run build-kernel.sh $arch $flavor)"
vm=${RVL_VM_DIR:-$OUT/vm/$arch-$flavor}
log=$vm/console.log
cmdline="panic=-1 rdinit=/init ${RVL_CMDLINE:-}"

case $arch in
x86_64)
	busybox=/usr/bin/busybox
	# la57=off: with 5-level paging, KASAN can take an interrupt during
	# identify_cpu() for a wild access (seen once in five boots).
	qemu=(qemu-system-x86_64 -cpu max,la57=off -append "console=ttyS0 $cmdline") ;;
arm64)
	busybox=$TOOLS/busybox-arm64/bin/busybox
	# pauth-impdef: QEMU's architected pointer auth is very slow under TCG.
	qemu=(qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on
	      -append "console=ttyAMA0 $cmdline") ;;
esac
[ -x "$busybox" ] || die "no busybox for $arch at $busybox"

# The initramfs. /dev/console comes from the kernel's built-in default cpio.
rm -rf "$vm"
root=$vm/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,lib/modules-rvl,bin-rvl} "$vm/tap"
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
[ -d "$payload/modules" ] && find "$payload/modules" -name '*.ko' -exec cp {} "$root/lib/modules-rvl/" \;
[ -d "$payload/bin" ] && cp -a "$payload/bin/." "$root/bin-rvl/"
[ -f "$payload/plan.sh" ] && install -m 755 "$payload/plan.sh" "$root/plan.sh"
cat > "$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s
export PATH=/bin-rvl:/bin:/sbin:/usr/bin:/usr/sbin HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tmpfs tmpfs /tmp
echo RVL-PLAN-BEGIN
rc=0
[ -f /plan.sh ] && { /bin/sh /plan.sh; rc=$?; }
echo "RVL-PLAN-END rc=$rc"
sync
reboot -f
EOF
chmod 755 "$root/init"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9 > "$vm/initramfs.cpio.gz"

echo "vm $arch-$flavor: booting $(basename "$image") under TCG (timeout ${RVL_VM_TIMEOUT:-900}s)"
start=$(date +%s)
rc=0
# QEMU writes the serial port straight to the file: complete even if killed.
timeout -k 10 "${RVL_VM_TIMEOUT:-900}" "${qemu[@]}" -accel tcg -m 2048 -smp 2 \
	-kernel "$image" -initrd "$vm/initramfs.cpio.gz" -display none -monitor none \
	-serial "file:$log" -no-reboot </dev/null 2>"$vm/qemu.err" || rc=$?
secs=$(( $(date +%s) - start ))
touch "$log"
sed -i 's/\r$//' "$log"

# KUnit: from the first timestamped "KTAP version" to the top-level last test.
awk '{ l = $0; ts = sub(/^\[ *[0-9]+\.[0-9]+\] /, "", l) }
ts && !on && l ~ /^K?TAP version/ { on = 1 }
on && ts && l ~ /^( *(K?TAP version|[0-9]+\.\.[0-9]+|(not )?ok [0-9]|#)|    )/ {
	print l
	if (l ~ /^1\.\.[0-9]+$/) n = substr(l, 4) + 0
	if (n && l ~ /^(not )?ok [0-9]+/) { sub(/^not /, "", l); split(l, f, " "); if (f[2] == n) exit }
}' "$log" > "$vm/kunit.ktap"

# The plan's TAP sections; printk lines that interleave are dropped.
awk -v dir="$vm/tap" '
/^RVL-TAP-BEGIN [A-Za-z0-9_.-]+$/ { out = dir "/" $2 ".tap"; printf "" > out; next }
/^RVL-TAP-END / { if (out) close(out); out = ""; next }
out && !/^\[ *[0-9]+\.[0-9]+\] / { print > out }' "$log"

# The splat gate. Benign boot lines that match a pattern go in $benign.
patterns=('BUG:' 'WARNING:' 'Oops' 'KASAN' 'UBSAN' 'possible circular locking'
	'inconsistent lock state' 'suspicious RCU usage' 'possible recursive locking'
	'lock held when returning' 'bad unlock balance' 'INFO: task .* blocked'
	'Kernel panic' 'rcu_sched self-detected stall' 'rcu: INFO: .*stall'
	'general protection' 'Unable to handle kernel' 'kernel BUG' 'Call Trace:')
benign='^$'	# none seen on clean x86_64/arm64 test boots
all=$(IFS='|'; echo "${patterns[*]}")
fail=0
hit=$(grep -anE "$all" "$log" | grep -avE "$benign" | head -n 1 || true)
if [ -n "$hit" ]; then
	n=${hit%%:*}
	for p in "${patterns[@]}"; do
		grep -qE -- "$p" <<<"${hit#*:}" && break
	done
	echo "vm $arch-$flavor: FAIL: kernel splat matching '$p' at console.log:$n"
	echo "---- console.log lines $(( n > 30 ? n - 30 : 1 ))-$(( n + 40 ))"
	sed -n "$(( n > 30 ? n - 30 : 1 )),$(( n + 40 ))p" "$log"
	fail=1
fi
# Not anchored: the plan's last line may lack a newline.
end=$(grep -ao 'RVL-PLAN-END rc=[0-9]*' "$log" | tail -n 1 || true)
if [ -z "$end" ]; then
	[ $rc = 124 ] && why="timed out after ${secs}s" || why="QEMU exited $rc"
	echo "vm $arch-$flavor: FAIL: no RVL-PLAN-END ($why)"
	cat "$vm/qemu.err"
	fail=1
elif [ "${end#*rc=}" != 0 ]; then
	echo "vm $arch-$flavor: FAIL: plan failed rc=${end#*rc=}"
	fail=1
fi
if [ $fail = 1 ]; then
	echo "---- last 30 lines of $log"
	tail -n 30 "$log"
	exit 1
fi
echo "vm $arch-$flavor: clean (${secs}s)"
