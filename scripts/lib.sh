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
KMAKE=(make LLVM=$LLVM_SUFFIX RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
       HOSTRUSTC=/usr/bin/rustc BINDGEN=bindgen CLIPPY_DRIVER=/usr/bin/clippy-driver)

# The cargo that builds bindgen-cli: Debian's (cargo-web), else the one in PATH
# (a machine with Debian's rustup package cannot have cargo-web).
cargo_bin() {
	if [ -x /usr/bin/cargo ]; then
		echo /usr/bin/cargo
	else
		command -v cargo || die "no cargo: install cargo-web"
	fi
}

# Kernel version of Debian's linux-source-6.12 (e.g. 6.12.117).
kernel_version() {
	local tarball=/usr/src/linux-source-6.12.tar.xz
	[ -r "$tarball" ] || { echo "linux-source-6.12 is not installed" >&2; return 1; }
	dpkg-query -W -f='${Version}' linux-source-6.12 | sed 's/-.*//'
}

# Pristine tree: a git repository of the unpacked Debian source, tagged.
src_dir() { echo "$CACHE/src/linux-$(kernel_version)"; }
vanilla_tag() { echo "v$(kernel_version)-vanilla"; }

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

# Build directory for <arch> <flavor>.
build_dir() { echo "$CACHE/build/linux-$(kernel_version)/$1-$2"; }

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
