# SPDX-License-Identifier: GPL-2.0
# Common settings for the build, run and check scripts. Source, do not execute.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Everything expensive lives outside the repo, keyed on what it depends on.
CACHE=${RVL_CACHE:-$HOME/.cache/rvl}
TOOLS=$CACHE/tools
OUT=${RVL_OUT:-$REPO/out}
BINDGEN_VERSION=0.73.2
LLVM_SUFFIX=-19

export PATH="$TOOLS/bin:$PATH" LIBCLANG_PATH=/usr/lib/llvm$LLVM_SUFFIX/lib
# The machine's rustup rustc comes first in PATH: always pass Debian's explicitly.
# CLIPPY=1: every Rust object is compiled by clippy-driver, which lints and
# emits the same code as rustc. Every make on a build directory passes it:
# the compiler is part of each object's command line, so a make without it
# would rebuild all Rust code.
KMAKE=(make LLVM=$LLVM_SUFFIX RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
       HOSTRUSTC=/usr/bin/rustc BINDGEN=bindgen CLIPPY_DRIVER=/usr/bin/clippy-driver CLIPPY=1)

# The cargo that builds bindgen-cli: Debian's (cargo-web), else the one in PATH
# (a machine with Debian's rustup package cannot have cargo-web).
cargo_bin() {
	if [ -x /usr/bin/cargo ]; then
		echo /usr/bin/cargo
	else
		command -v cargo || die "no cargo: install cargo-web"
	fi
}

# Kernel tree: 6.12 (LTS, Debian 12's linux-source-6.12) or 7.3 (the newest
# stable, linux-source-7.3 from trixie-backports). Every script works on one
# tree, picked with TREE=; `make check` runs each of them.
# KSRC=/path/to/linux uses your own tree (a git checkout or an unpacked
# source at 6.12.y or 7.3.y) instead of Debian's; its version picks the tree.
TREE=${TREE:-6.12}
TREES=(6.12 7.3)
if [ -n "${KSRC:-}" ]; then
	KSRC=$(cd "$KSRC" && pwd)
	ksrc_version=$(sed -nE 's/^(VERSION|PATCHLEVEL|SUBLEVEL) = ([0-9]+)$/\2/p' "$KSRC/Makefile" |
		head -n 3 | paste -sd.)
	TREE=${ksrc_version%.*}
	TREES=("$TREE")
fi
case $TREE in
6.12|7.3) ;;
*) echo "unknown TREE=$TREE (6.12 or 7.3)" >&2; exit 1 ;;
esac

# Debian's source package of the tree. 6.12 is installed from the machine's
# own suite; 7.3 is downloaded (never installed) from trixie-backports into
# the cache by setup.sh, which records its version.
source_tarball() {
	case $TREE in
	6.12) echo /usr/src/linux-source-6.12.tar.xz ;;
	7.3) echo "$CACHE/debs/linux-source-7.3/usr/src/linux-source-7.3.tar.xz" ;;
	esac
}
source_package_version() {
	case $TREE in
	6.12) dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null ;;
	7.3) cat "$CACHE/debs/linux-source-7.3.version" 2>/dev/null ;;
	esac
}

# Kernel version of the tree's source package (e.g. 6.12.117, 7.3.4), or of
# KSRC.
kernel_version() {
	local v
	if [ -n "${KSRC:-}" ]; then
		echo "$ksrc_version"
		return
	fi
	v=$(source_package_version)
	[ -n "$v" ] && [ -r "$(source_tarball)" ] ||
		{ echo "linux-source-$TREE is not set up (scripts/setup.sh)" >&2; return 1; }
	echo "${v%%-*}"
}

# Pristine tree: a git repository of the unpacked Debian source, tagged.
src_dir() {
	if [ -n "${KSRC:-}" ]; then
		echo "$CACHE/src/ksrc-$(kernel_version)-$(echo "$KSRC" | sha256sum | cut -c1-8)"
	else
		echo "$CACHE/src/linux-$(kernel_version)"
	fi
}
vanilla_tag() { echo "v$(kernel_version)-vanilla"; }

# The kselftest directories the tree's test VM runs: those its series adds
# and, on a tree with the Rust Binder (7.3), upstream's binderfs test.
selftest_dirs() {
	grep -o 'tools/testing/selftests/[^ ]*/Makefile' "$REPO/trees/$TREE/series/series" |
		sed 's,/Makefile$,,'
	grep -q '^tools/testing/selftests/binder/' <(tr ' ' '\n' < "$REPO/trees/$TREE/series/series") &&
		echo tools/testing/selftests/filesystems/binderfs
	return 0
}

kernel_arch() {
	case $1 in
	x86_64) echo x86 ;;
	arm64) echo arm64 ;;
	*) echo "unknown arch $1" >&2; return 1 ;;
	esac
}

kernel_image() {
	case $1 in
	x86_64) echo arch/x86/boot/bzImage ;;
	arm64) echo arch/arm64/boot/Image ;;
	esac
}

# "Name <email>" of the git identity that signs the series off, from the
# repository's git config; fails if there is none.
git_identity() {
	local name email
	name=$(git -C "$REPO" config user.name 2>/dev/null) &&
		email=$(git -C "$REPO" config user.email 2>/dev/null) &&
		[ -n "$name" ] && [ -n "$email" ] || return 1
	echo "$name <$email>"
}

# Where series.sh writes the tree's patches: out/patches/ only for a series
# signed off by a real identity; a placeholder's goes to out/check-patches/.
patches_dir() {
	if git_identity >/dev/null; then
		echo "$OUT/patches/$TREE"
	else
		echo "$OUT/check-patches/$TREE"
	fi
}

# stage_modules <dir> <kernel build dir>: the out-of-tree module sources for
# the tree, for `make -C <kernel build dir> M=<dir>`: the sample drivers as
# the tree's series has them (checked out in the source tree by series.sh)
# and the layout check module. Kbuild does not rebuild every out-of-tree
# object after the kernel's configuration changed (a module's Rust object
# never sees the kernel crate change, and the layout check's C object was
# seen kept across one), so <dir> starts over empty whenever the kernel's
# .config is not the one its objects were built against.
stage_modules() {
	local dir=$1 build=$2 src f
	src=$(src_dir)
	cmp -s "$build/.config" "$dir/.kernel-config" || rm -rf "$dir"
	mkdir -p "$dir/samples/rust" "$dir/samples/vmalock" "$dir/tests"
	cp "$build/.config" "$dir/.kernel-config"
	cp "$REPO/Kbuild" "$dir/"
	for f in samples/rust/rust_vmalock.rs samples/vmalock/c_vmalock.c \
		 samples/vmalock/vmalock.h samples/vmalock/Makefile; do
		cmp -s "$src/$f" "$dir/$f" || cp "$src/$f" "$dir/$f"
	done
	rsync -a --exclude='*.o' --exclude='*.ko' --exclude='.*' "$REPO/tests/layout" "$dir/tests/"
}

# The C compiler of a static guest program for <arch>.
guest_cc() {
	case $1 in
	x86_64) echo gcc ;;
	arm64) echo aarch64-linux-gnu-gcc ;;
	esac
}

# The arm64 root run-vng.sh boots (setup.sh).
vng_root_arm64() { echo "$TOOLS/vng-root-arm64"; }

# QEMU's plugin API header, fetched by setup.sh for the installed QEMU.
qemu_plugin_header() {
	echo "$TOOLS/qemu-plugin/$(dpkg-query -W -f='${source:Version}' qemu-system-x86)/qemu-plugin.h"
}

# icount_plugin: builds scripts/icount-plugin.c against that header (cached
# on both) and prints the path of the plugin.
icount_plugin() {
	local h so
	h=$(qemu_plugin_header)
	[ -r "$h" ] || die "no QEMU plugin header at $h (run scripts/setup.sh)"
	so=$TOOLS/icount/$(cat "$h" "$REPO/scripts/icount-plugin.c" | sha256sum | cut -c1-16)/icount.so
	if [ ! -r "$so" ]; then
		mkdir -p "$(dirname "$so")"
		gcc -shared -fPIC -O2 -Wall -Wextra -Wno-unused-parameter -Werror \
			-I"$(dirname "$h")" -o "$so.tmp" "$REPO/scripts/icount-plugin.c" >&2 ||
			die "the instruction counting plugin does not build"
		mv "$so.tmp" "$so"
	fi
	echo "$so"
}

# bench_payload <arch> <flavor> <payload>: builds the flavor's kernel, both
# modules for it and the guest programs into <payload>/{modules,bin}.
bench_payload() {
	local arch=$1 flavor=$2 payload=$3 karch B mod cc p src
	karch=$(kernel_arch "$arch")
	src=$(src_dir)
	"$REPO/scripts/build-kernel.sh" "$arch" "$flavor"
	B=$(build_dir "$arch" "$flavor")
	rm -rf "$payload"
	mkdir -p "$payload/modules" "$payload/bin"

	phase "bench $arch $flavor: modules and programs"
	# Each bench kernel gets its own copy of the module sources.
	mod=$OUT/modules/$TREE/$arch-$flavor
	stage_modules "$mod" "$B"
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

# Build directory for <arch> <flavor>.
build_dir() { echo "$CACHE/build/$(basename "$(src_dir)")/$1-$2"; }

_phase_name=
_phase_start=0
phase() {
	phase_end
	_phase_name=$*
	_phase_start=$(date +%s)
	printf '==> %s\n' "$_phase_name"
}
phase_end() {
	if [ -n "$_phase_name" ]; then
		printf '<== %s: %ss\n' "$_phase_name" $(( $(date +%s) - _phase_start ))
		_phase_name=
	fi
}

die() { echo "error: $*" >&2; exit 1; }

# build_lock: serialize kernel builds and series checkouts (they share the
# source tree and the CPUs) across concurrent scripts; held until exit.
build_lock() {
	mkdir -p "$CACHE"
	exec 9>"$CACHE/build.lock"
	flock 9
}
