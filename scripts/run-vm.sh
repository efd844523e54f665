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
# kernel arguments), RVL_VM_DIR (output directory, default out/vm/<tree>/<arch>-<flavor>),
# RVL_KERNEL_IMAGE (a kernel image other than the build directory's),
# RVL_VM_SMP (vCPUs, default 2), RVL_QEMU_ARGS (more QEMU arguments, split
# on blanks: a -plugin, say).

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/guest-log.sh"

arch=${1:?arch}
flavor=${2:?flavor}
payload=${3:?payload-dir}
kernel_arch "$arch" >/dev/null
[ -d "$payload" ] || die "no payload directory $payload"
B=$(build_dir "$arch" "$flavor")
image=${RVL_KERNEL_IMAGE:-$B/$(kernel_image "$arch")}
[ -r "$image" ] || die "no kernel image $image (run build-kernel.sh $arch $flavor)"
vm=${RVL_VM_DIR:-$OUT/vm/$TREE/$arch-$flavor}
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
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,lib/modules-rvl,bin-rvl}
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
# shellcheck disable=SC2086 # RVL_QEMU_ARGS is a list of arguments
timeout -k 10 "${RVL_VM_TIMEOUT:-900}" "${qemu[@]}" -accel tcg -m 2048 -smp "${RVL_VM_SMP:-2}" \
	${RVL_QEMU_ARGS:-} \
	-kernel "$image" -initrd "$vm/initramfs.cpio.gz" -display none -monitor none \
	-serial "file:$log" -no-reboot </dev/null 2>"$vm/qemu.err" || rc=$?
secs=$(( $(date +%s) - start ))
touch "$log"
sed -i 's/\r$//' "$log"

split_guest_log "$vm" "$log"

# Benign boot lines that match a splat pattern: none seen on clean x86_64 and
# arm64 test boots.
[ $rc = 124 ] && why="timed out after ${secs}s" || why="QEMU exited $rc"
if ! guest_gate "vm $arch-$flavor" "$log" '^$' "$why" "$vm/qemu.err"; then
	echo "---- last 30 lines of $log"
	tail -n 30 "$log"
	exit 1
fi
echo "vm $arch-$flavor: clean (${secs}s)"
