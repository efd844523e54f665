#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# icount-profile.sh <path> [arch]: where the instructions of one fault path
# of vmalock_icount go, per kernel function and per operation, Rust device
# against C device, on one tree (TREE=) and arch (default x86_64). Boots the
# base kernel once per device with the counting plugin's profile= (see
# scripts/icount-plugin.c) and attributes each counted instruction to its
# function: the kernel's from its vmlinux, the modules' from their .ko at
# the addresses the guest's /proc/modules gives. Writes
# $OUT/bench/<tree>/<arch>/icount-profile-<path>/{rust,c}/ and prints the
# functions whose counts differ, largest difference first.

. "$(dirname "$0")/lib.sh"

path=${1:?path (fault, fault_pfn, fault_eager, fault_mmap, lookup, drop)}
arch=${2:-x86_64}
"$REPO/scripts/setup.sh" >/dev/null
"$REPO/scripts/series.sh" | grep -E "applies|patches" || true
so=$(icount_plugin)
top=$OUT/bench/$TREE/$arch/icount-profile-$path
rm -rf "$top"
for dev in rust c; do
	dir=$top/$dev
	bench_payload "$arch" base "$dir/payload"
	# No KASLR: the same addresses in both boots.
	RVL_CMDLINE=nokaslr RVL_VM_SMP=1 \
		RVL_QEMU_ARGS="-plugin $so,out=$dir/plugin.txt,profile=$dir/profile.txt" \
		bench_vm "$arch" base "$dir" \
		"sh -c 'vmalock_icount -p $path -d $dev -b 8 && cat /proc/modules'"
	nm -C "$(build_dir "$arch" base)/vmlinux" > "$dir/vmlinux.nm"
	for m in "$dir"/payload/modules/*.ko; do
		nm -C "$m" > "$dir/$(basename "$m" .ko).nm"
	done
done
phase_end
python3 - "$top" <<'EOF'
import bisect, collections, sys

top = sys.argv[1]


def nm(path, base=0, suffix=""):
    out = []
    for ln in open(path):
        f = ln.split()
        if len(f) >= 3 and f[1] in "tTwW":
            out.append((base + int(f[0], 16), " ".join(f[2:]) + suffix))
    return out


def load(dev):
    d = "%s/%s" % (top, dev)
    syms, ops = nm(d + "/vmlinux.nm"), 0
    for ln in open(d + "/out.txt", errors="replace"):
        f = ln.split()
        if ln.startswith(("batch ", "warmup ")):
            ops += int(f[4])
        elif len(f) >= 6 and f[5].startswith("0x"):  # /proc/modules
            syms += nm("%s/%s.nm" % (d, f[0]), int(f[5], 16), "[%s]" % f[0])
    syms.sort()
    addrs = [a for a, _ in syms]
    per = collections.Counter()
    for ln in open("%s/%s/profile.txt" % (top, dev)):
        a, n = ln.split()
        a = int(a, 16)
        i = bisect.bisect_right(addrs, a) - 1
        per[syms[i][1] if i >= 0 else "?"] += int(n)
    return {k: v / ops for k, v in per.items()}, ops


r, rops = load("rust")
c, cops = load("c")
print("instructions per operation (%d Rust, %d C operations), by function" % (rops, cops))
print("%-72s %7s %7s %7s" % ("function", "Rust", "C", "Rust-C"))
rows = sorted(set(r) | set(c), key=lambda k: -abs(r.get(k, 0) - c.get(k, 0)))
for k in rows:
    d = r.get(k, 0) - c.get(k, 0)
    if abs(d) >= 0.5:
        print("%-72s %7.1f %7.1f %+7.1f" % (k[-72:], r.get(k, 0), c.get(k, 0), d))
print("%-72s %7.1f %7.1f %+7.1f" % ("total", sum(r.values()), sum(c.values()),
                                     sum(r.values()) - sum(c.values())))
EOF
