#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Idempotent setup of a fresh Debian 12 machine: toolchain from Debian's
# archive, bindgen from crates.io, arm64 busybox, and a pristine git
# repository of Debian's linux-source-6.12 in the cache. Re-running it only
# does what is missing.

. "$(dirname "$0")/lib.sh"

PACKAGES=(linux-source-6.12 rustc-web rust-web-src libstd-rust-web-dev
	  rust-web-clippy rustfmt-web
	  clang-19 lld-19 llvm-19 libclang-19-dev flex bison libelf-dev bc cpio
	  kmod qemu-system-x86 qemu-system-arm busybox-static xz-utils
	  libc6-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross rsync
	  python3-venv python3-matplotlib)

missing_packages() {
	local p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			echo "$p"
	done
}

apt_install() {
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

# cargo-web's /usr/bin/cargo matches rustc-web and builds bindgen-cli. It
# conflicts with Debian's rustup package: a machine with that keeps its
# rustup cargo, which cargo_bin() then picks from PATH.
if ! dpkg-query -W -f='${Status}' rustup 2>/dev/null | grep -q 'install ok installed'; then
	PACKAGES+=(cargo-web)
fi

phase "packages"
mapfile -t missing < <(missing_packages)
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	apt-get update -q
	# A first install has been seen to fail with "cannot access archive"
	# when a cleanup hook removed downloads between runs: retry once.
	apt_install "${missing[@]}" || { echo "apt-get failed, retrying once"; apt_install "${missing[@]}"; }
fi

phase "bindgen-cli $BINDGEN_VERSION"
if ! "$TOOLS/bin/bindgen" --version 2>/dev/null | grep -q "$BINDGEN_VERSION"; then
	"$(cargo_bin)" install --locked --version "$BINDGEN_VERSION" --root "$TOOLS" bindgen-cli
fi

phase "arm64 busybox"
bb_arm64=$TOOLS/busybox-arm64/bin/busybox
if [ ! -x "$bb_arm64" ]; then
	tmp=$(mktemp -d)
	dpkg --add-architecture arm64
	apt-get update -q
	(cd "$tmp" && apt-get download busybox-static:arm64)
	dpkg --remove-architecture arm64 2>/dev/null || true
	apt-get update -q || true
	mkdir -p "$TOOLS/busybox-arm64"
	dpkg-deb -x "$tmp"/busybox-static_*_arm64.deb "$tmp/x"
	mkdir -p "$(dirname "$bb_arm64")"
	cp "$tmp/x/bin/busybox" "$bb_arm64"
	rm -rf "$tmp"
fi

phase "pristine kernel source"
src=$(src_dir)
if ! git -C "$src" rev-parse -q --verify "refs/tags/$(vanilla_tag)" >/dev/null 2>&1; then
	rm -rf "$src"
	mkdir -p "$src.tmp"
	tar xf /usr/src/linux-source-6.12.tar.xz -C "$src.tmp"
	mv "$src.tmp/linux-source-6.12" "$src"
	rmdir "$src.tmp"
	# Debian's .gitignore ignores the whole top level: force-add.
	git -C "$src" init -q -b vanilla
	git -C "$src" add -f -A .
	git -C "$src" -c user.name=rvl -c user.email=rvl@localhost \
		commit -q -m "Linux $(kernel_version) (Debian linux-source-6.12)"
	git -C "$src" tag "$(vanilla_tag)"
fi
phase_end

echo "versions:"
echo "  kernel:  $(kernel_version) (linux-source-6.12 $(dpkg-query -W -f='${Version}' linux-source-6.12))"
echo "  rustc:   $(/usr/bin/rustc --version)"
echo "  bindgen: $("$TOOLS/bin/bindgen" --version)"
echo "  clang:   $(clang$LLVM_SUFFIX --version | head -1)"
echo "  qemu:    $(qemu-system-x86_64 --version | head -1)"
"${KMAKE[@]}" -s -C "$src" rustavailable
