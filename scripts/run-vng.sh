#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# run-vng.sh <x86_64|arm64> [payload-dir]
#
# Runs the VM test plan (tests/vm/plan.sh) on the test kernel of the arch
# (build-kernel.sh <arch> test, the kernel run-vm.sh boots) under virtme-ng
# instead of a busybox initramfs. The guest's root is a host directory over
# 9p, read-only with tmpfs overlays: on x86_64 the host's /, on arm64 the
# arm64 root setup.sh builds (busybox and bash of Debian 12), where vng runs
# its shell init instead of its native one. The plan runs straight from the
# payload directory (at its host path on x86_64, shared as /rvl on arm64):
# it gets RVL_MODULES, RVL_BIN and RVL_RESULTS instead of the initramfs paths.
#
# Without an argument (make vng) the payload is built here: the modules out
# of tree from a private copy of their sources, the selftest linked
# statically. check.sh passes the payload it built for run-vm.sh
# (modules/*.ko, bin/*, plan.sh), so both runners test the same binaries.
#
# vng exits 255 even when the command succeeds, so the run is judged by its
# output: the kernel log must have no splat (same patterns as run-vm.sh),
# the plan must end with RVL-PLAN-END rc=0, and no TAP line (plan sections
# and the boot-time KUnit KTAP) may say "not ok". Prints the plan's TAP.
# Leaves console.log, kunit.ktap and tap/*.tap in the output directory, as
# run-vm.sh does.
#
# Environment: RVL_VM_TIMEOUT (seconds, default 900), RVL_CMDLINE (extra
# kernel arguments), RVL_VM_DIR (output directory, default
# out/vm/<tree>/<arch>-vng), RVL_KERNEL_IMAGE (a kernel image other than the build
# directory's), RVL_VNG_VENV (virtme-ng virtualenv, default
# $RVL_CACHE/tools/vng-venv).

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/guest-log.sh"

VNG_VERSION=1.42
arch=${1:?arch}
shift
kernel_arch "$arch" >/dev/null
flavor=test
B=$(build_dir "$arch" "$flavor")
src=$(src_dir)
image=${RVL_KERNEL_IMAGE:-$B/$(kernel_image "$arch")}
[ -r "$image" ] || die "no kernel image $image (run build-kernel.sh $arch $flavor)"
vm=${RVL_VM_DIR:-$OUT/vm/$TREE/$arch-vng}
# The guest sees host paths as they are: everything it reads must be absolute.
mkdir -p "$vm"
vm=$(cd "$vm" && pwd)
log=$vm/console.log
venv=${RVL_VNG_VENV:-$TOOLS/vng-venv}

# virtme-ng from PyPI, in its own virtualenv. Debian's python3, not whatever
# python3 comes first in PATH.
if [ "$("$venv/bin/vng" --version 2>/dev/null)" != "virtme-ng $VNG_VERSION" ]; then
	phase "virtme-ng $VNG_VERSION"
	[ -x "$venv/bin/pip" ] || /usr/bin/python3 -m venv "$venv" ||
		die "cannot create a virtualenv (apt-get install python3-venv)"
	"$venv/bin/pip" install --quiet --disable-pip-version-check "virtme-ng==$VNG_VERSION"
	phase_end
fi
# vng runs virtme-run from PATH.
export PATH="$venv/bin:$PATH"

if [ $# -gt 0 ]; then
	[ -d "$1" ] || die "no payload directory $1"
	payload=$(cd "$1" && pwd)
else
	phase "payload for vng $arch-$flavor"
	payload=$vm/payload
	mods=$vm/modsrc
	rm -rf "$payload" "$mods"
	mkdir -p "$payload/modules" "$payload/bin"
	stage_modules "$mods" "$B"
	mk=("${KMAKE[@]}" -s ARCH="$(kernel_arch "$arch")" -C "$B")
	"${mk[@]}" M="$mods" modules
	"${mk[@]}" M="$mods/tests/layout" modules
	find "$mods" -name '*.ko' -exec cp {} "$payload/modules/" \;
	cc="gcc -static"
	[ "$arch" = arm64 ] && cc="aarch64-linux-gnu-gcc -static"
	make -s -C "$src/tools/testing/selftests/vmalock" OUTPUT="$payload/bin" \
		CC="$cc" KHDR_INCLUDES="-isystem $B/usr/include"
	cp "$REPO/tests/vm/plan.sh" "$payload/plan.sh"
	phase_end
fi
[ -f "$payload/plan.sh" ] || die "no plan.sh in $payload"

vng=(vng --verbose --disable-kvm --disable-microvm --force-9p --cpus 2 --run "$image")
case $arch in
x86_64)
	guest=$payload
	vng+=(--memory 2G)
	# no5lvl: as run-vm.sh's la57=off (KASAN and 5-level paging at boot, -cpu max).
	vng+=(--append "no5lvl ${RVL_CMDLINE:-}") ;;
arm64)
	root=$(vng_root_arm64)
	[ -x "$root/bin/bash" ] || die "no arm64 root for vng at $root (run setup.sh)"
	guest=/rvl
	# 4G: with 64K pages (7.3), a kernel crate doctest vmallocs
	# KMALLOC_MAX_SIZE + 1 = 512 MiB, which 2G leave room for under
	# run-vm.sh but not beside vng's 9p and virtio buffers.
	vng+=(--memory 4G)
	# The CPU run-vm.sh emulates, not vng's Cortex-A57: QEMU takes the
	# last -cpu.
	vng+=(--arch arm64 --root "$root" --rodir "$guest=$payload"
	      "--qemu-opts=-cpu max,pauth-impdef=on")
	[ -n "${RVL_CMDLINE:-}" ] && vng+=(--append "$RVL_CMDLINE") ;;
esac

# The command run in the guest, from its bash. Results go to the guest's
# /tmp (a tmpfs overlay): nothing is written to the host.
q() { printf '%q' "$1"; }
cmd="cd $(q "$guest") && export PATH=$(q "$guest/bin"):/usr/sbin:/usr/bin:/sbin:/bin:\$PATH"
cmd+=" RVL_MODULES=$(q "$guest/modules")"
cmd+=" RVL_BIN=$(q "$guest/bin") RVL_RESULTS=\$(mktemp -d /tmp/rvl-results.XXXXXX)"
cmd+="; echo RVL-PLAN-BEGIN; rc=0; /bin/sh $(q "$guest/plan.sh") || rc=\$?"
cmd+="; echo \"RVL-PLAN-END rc=\$rc\""

echo "vng $arch-$flavor: booting $(basename "$image") under TCG (timeout ${RVL_VM_TIMEOUT:-900}s)"
printf 'vng command:'; printf ' %q' "${vng[@]}" -- "$cmd"; echo
start=$(date +%s)
rc=0
# Through a pipe: QEMU reopens its stdout and stderr (/proc/self/fd/N) once per
# console and virtio port, and each reopening of a regular file would start
# writing at offset 0, over the others.
timeout -k 10 "${RVL_VM_TIMEOUT:-900}" "${vng[@]}" -- "$cmd" </dev/null 2>&1 |
	cat > "$log" || rc=${PIPESTATUS[0]}
secs=$(( $(date +%s) - start ))
sed -i 's/\r$//' "$log"

split_guest_log "$vm" "$log"

for t in "$vm"/tap/*.tap; do
	[ -e "$t" ] || continue
	echo "---- $(basename "$t" .tap)"
	cat "$t"
done

# The guest init logs to the kernel log too, e.g. "WARNING: failed to run: ..."
# for a tool the host lacks: not a kernel splat.
[ "$rc" = 124 ] && why="timed out after ${secs}s" || why="vng exited $rc"
fail=0
guest_gate "vng $arch-$flavor" "$log" '(virtme-ng-init|virtme-init): ' "$why" || fail=1
if ! ls "$vm"/tap/*.tap >/dev/null 2>&1; then
	echo "vng $arch-$flavor: FAIL: the plan printed no TAP"
	fail=1
elif grep -q '^ *not ok' "$vm"/tap/*.tap "$vm/kunit.ktap"; then
	echo "vng $arch-$flavor: FAIL: failed tests:"
	grep -H '^ *not ok' "$vm"/tap/*.tap "$vm/kunit.ktap" | sed "s|^$vm/||"
	fail=1
fi
if [ $fail = 1 ]; then
	echo "---- last 30 lines of $log"
	tail -n 30 "$log"
	exit 1
fi
echo "vng $arch-$flavor: clean (${secs}s)"
