#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# run-vng.sh [payload-dir]
#
# Runs the VM test plan (tests/vm/plan.sh) on the x86_64 vng kernel
# (build-kernel.sh x86_64 vng) under virtme-ng instead of a busybox
# initramfs. The guest's root is the host's / over 9p, read-only with tmpfs
# overlays, so the plan runs straight from the payload directory: it gets
# RVL_MODULES, RVL_BIN and RVL_RESULTS instead of the initramfs paths.
#
# Without an argument the payload is built here against the vng build: the
# modules out of tree from a private copy of their sources (the repo's own
# objects belong to the test kernel), the selftest linked statically. A
# payload given as argument (modules/*.ko, bin/*, plan.sh) must match the
# vng kernel.
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
# out/vm/x86_64-vng), RVL_KERNEL_IMAGE (a kernel image other than the build
# directory's), RVL_VNG_VENV (virtme-ng virtualenv, default
# $RVL_CACHE/tools/vng-venv).

. "$(dirname "$0")/lib.sh"

VNG_VERSION=1.42
arch=x86_64
flavor=vng
B=$(build_dir "$arch" "$flavor")
src=$(src_dir)
image=${RVL_KERNEL_IMAGE:-$B/$(kernel_image "$arch")}
[ -r "$image" ] || die "no kernel image $image (run build-kernel.sh $arch $flavor)"
vm=${RVL_VM_DIR:-$OUT/vm/$arch-$flavor}
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
	phase "payload for $arch-$flavor"
	payload=$vm/payload
	mods=$vm/modsrc
	rm -rf "$payload" "$mods"
	mkdir -p "$payload/modules" "$payload/bin" "$mods"
	(cd "$REPO" && find Kbuild samples tests/layout -type f \
		\( -name Kbuild -o -name Makefile -o -name '*.[ch]' -o -name '*.rs' \) \
		! -name '*.mod.c' -print0 | cpio -pdm0 --quiet "$mods")
	mk=("${KMAKE[@]}" -s ARCH="$(kernel_arch "$arch")" -C "$B")
	"${mk[@]}" M="$mods" modules
	"${mk[@]}" M="$mods/tests/layout" modules
	find "$mods" -name '*.ko' -exec cp {} "$payload/modules/" \;
	make -s -C "$src/tools/testing/selftests/vmalock" OUTPUT="$payload/bin" \
		CC="gcc -static" KHDR_INCLUDES="-isystem $B/usr/include"
	cp "$REPO/tests/vm/plan.sh" "$payload/plan.sh"
	phase_end
fi
[ -f "$payload/plan.sh" ] || die "no plan.sh in $payload"

# The command run in the guest, from its bash. Results go to the guest's
# /tmp (a tmpfs overlay): nothing is written to the host.
q() { printf '%q' "$1"; }
cmd="export PATH=$(q "$payload/bin"):/usr/sbin:/usr/bin:/sbin:/bin:\$PATH"
cmd+=" RVL_MODULES=$(q "$payload/modules")"
cmd+=" RVL_BIN=$(q "$payload/bin") RVL_RESULTS=\$(mktemp -d /tmp/rvl-results.XXXXXX)"
cmd+="; echo RVL-PLAN-BEGIN; rc=0; /bin/sh $(q "$payload/plan.sh") || rc=\$?"
cmd+="; echo \"RVL-PLAN-END rc=\$rc\""

vng=(vng --verbose --disable-kvm --disable-microvm --force-9p --cpus 2 --memory 2G
     --cwd "$payload" --run "$image")
# no5lvl: as run-vm.sh's la57=off (KASAN and 5-level paging at boot, -cpu max).
vng+=(--append "no5lvl ${RVL_CMDLINE:-}")

echo "vng $arch-$flavor: booting $(basename "$image") under TCG (timeout ${RVL_VM_TIMEOUT:-900}s)"
start=$(date +%s)
rc=0
# Through a pipe: QEMU reopens its stdout and stderr (/proc/self/fd/N) once per
# console and virtio port, and each reopening of a regular file would start
# writing at offset 0, over the others.
timeout -k 10 "${RVL_VM_TIMEOUT:-900}" "${vng[@]}" -- "$cmd" </dev/null 2>&1 |
	cat > "$log" || rc=${PIPESTATUS[0]}
secs=$(( $(date +%s) - start ))
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
rm -rf "$vm/tap"
mkdir -p "$vm/tap"
awk -v dir="$vm/tap" '
/^RVL-TAP-BEGIN [A-Za-z0-9_.-]+$/ { out = dir "/" $2 ".tap"; printf "" > out; next }
/^RVL-TAP-END / { if (out) close(out); out = ""; next }
out && !/^\[ *[0-9]+\.[0-9]+\] / { print > out }' "$log"

for t in "$vm"/tap/*.tap; do
	[ -e "$t" ] || continue
	echo "---- $(basename "$t" .tap)"
	cat "$t"
done

# The splat gate, as in run-vm.sh.
patterns=('BUG:' 'WARNING:' 'Oops' 'KASAN' 'UBSAN' 'possible circular locking'
	'inconsistent lock state' 'suspicious RCU usage' 'possible recursive locking'
	'lock held when returning' 'bad unlock balance' 'INFO: task .* blocked'
	'Kernel panic' 'rcu_sched self-detected stall' 'rcu: INFO: .*stall'
	'general protection' 'Unable to handle kernel' 'kernel BUG' 'Call Trace:')
# The guest init logs to the kernel log too, e.g. "WARNING: failed to run: ..."
# for a tool the host lacks: not a kernel splat.
benign='(virtme-ng-init|virtme-init): '
all=$(IFS='|'; echo "${patterns[*]}")
fail=0
hit=$(grep -anE "$all" "$log" | grep -avE "$benign" | head -n 1 || true)
if [ -n "$hit" ]; then
	n=${hit%%:*}
	for p in "${patterns[@]}"; do
		grep -qE -- "$p" <<<"${hit#*:}" && break
	done
	echo "vng $arch-$flavor: FAIL: kernel splat matching '$p' at console.log:$n"
	echo "---- console.log lines $(( n > 30 ? n - 30 : 1 ))-$(( n + 40 ))"
	sed -n "$(( n > 30 ? n - 30 : 1 )),$(( n + 40 ))p" "$log"
	fail=1
fi
# Not anchored: the plan's last line may lack a newline.
end=$(grep -ao 'RVL-PLAN-END rc=[0-9]*' "$log" | tail -n 1 || true)
if [ -z "$end" ]; then
	[ "$rc" = 124 ] && why="timed out after ${secs}s" || why="vng exited $rc"
	echo "vng $arch-$flavor: FAIL: no RVL-PLAN-END ($why)"
	fail=1
elif [ "${end#*rc=}" != 0 ]; then
	echo "vng $arch-$flavor: FAIL: plan failed rc=${end#*rc=}"
	fail=1
fi
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
