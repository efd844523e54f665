#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Idempotent setup of a fresh Debian 12 machine: toolchain from Debian's
# archive, bindgen from crates.io, arm64 busybox and an arm64 root for vng,
# and a pristine git repository of the kernel tree's Debian source
# (TREE=6.12: linux-source-6.12; TREE=7.3: linux-source-7.3 from
# trixie-backports) in the cache. Re-running
# it only does what is missing.

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

# The machine's own addresses of Debian's archive, as "URI suite" for each of
# its bookworm suites (bookworm, -updates, -security), so that a local mirror
# keeps working and no host is named here.
bookworm_sources() {
	{
		cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) while ($i !~ /\]$/) i++;
				if ($2 ~ /^\[/) i++; if ($(i + 1) ~ /^bookworm/) print $i, $(i + 1) }'
		cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
			awk 'BEGIN { RS = "" } { u = ""; delete s; ns = 0
				n = split($0, l, "\n")
				for (j = 1; j <= n; j++) {
					if (l[j] ~ /^URIs:/) { split(l[j], f, " "); u = f[2] }
					if (l[j] ~ /^Suites:/) { m = split(l[j], f, " ")
						for (k = 2; k <= m; k++) if (f[k] ~ /^bookworm/) s[++ns] = f[k] }
				}
				if (u != "") for (k = 1; k <= ns; k++) print u, s[k] }'
	} | awk '!seen[$0]++'
}

debian_archive_uri() { bookworm_sources | awk '$2 == "bookworm" { print $1; exit }'; }

# private_apt <dir> <sources.list lines> [apt options]: sets apt_opts for apt-get with
# these sources and a private state in <dir>, and updates it. The machine's
# apt configuration is not changed and nothing is installed.
private_apt() {
	local apt=$1
	mkdir -p "$apt/lists/partial" "$apt/archives/partial"
	echo "$2" > "$apt/sources.list"
	shift 2
	apt_opts=(-o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
		  -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt" -o Dir::Cache::Archives="$apt/archives"
		  -o Dir::State::Status=/dev/null -o Debug::NoLocking=1 -o APT::Sandbox::User=root "$@")
	apt-get -q "${apt_opts[@]}" update
}

# arm64 packages of Debian 12, unpacked for the arm64 guests: apt with the
# machine's bookworm sources, a private state and arm64 as its architecture
# (no dpkg --add-architecture, nothing installed).
arm64_debs() {
	local dir=$1
	shift
	private_apt "$CACHE/apt/bookworm-arm64" \
		"$(bookworm_sources | awk '{ print "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]", $1, $2, "main" }')" \
		-o APT::Architecture=arm64 -o APT::Architectures::=arm64
	mkdir -p "$dir"
	(cd "$dir" && apt-get -q "${apt_opts[@]}" download "$@")
}

# The busybox of run-vm.sh's arm64 initramfs.
phase "arm64 busybox"
bb_arm64=$TOOLS/busybox-arm64/bin/busybox
if [ ! -x "$bb_arm64" ]; then
	tmp=$(mktemp -d)
	arm64_debs "$tmp" busybox-static
	dpkg-deb -x "$tmp"/busybox-static_*_arm64.deb "$tmp/x"
	mkdir -p "$(dirname "$bb_arm64")"
	cp "$tmp/x/bin/busybox" "$bb_arm64"
	rm -rf "$tmp"
fi

# The root of run-vng.sh's arm64 guests (vng shares a host directory as the
# guest's /, and the host's own is x86_64): busybox for the commands, with a
# link per applet as the host's busybox of the same Debian version lists
# them, and bash with its libraries for vng's init script (virtme-init;
# virtme-ng-init only runs on the host's arch). Rebuilt when the packages
# or root_layout (bump it when the layout below changes) change.
phase "arm64 root for virtme-ng"
root_pkgs="busybox-static bash libc6 libtinfo6"
root_layout=2
root=$(vng_root_arm64)
if [ "$(cat "$root/.rvl-root" 2>/dev/null)" != "$root_pkgs $root_layout" ]; then
	tmp=$(mktemp -d)
	# shellcheck disable=SC2086
	arm64_debs "$tmp" $root_pkgs
	rm -rf "$root"
	for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$root"; done
	rm -rf "$tmp"
	/usr/bin/busybox --list-full | while read -r applet; do
		[ -e "$root/$applet" ] || [ -L "$root/$applet" ] && continue
		mkdir -p "$root/$(dirname "$applet")"
		ln -s /bin/busybox "$root/$applet"
	done
	ln -sf busybox "$root/bin/sh"
	# The mount points vng and run-vng.sh use (/rvl: the payload), and the
	# files its init reads (gid=tty for devpts).
	mkdir -p "$root"/{proc,sys,dev,run,tmp,root,home,opt,srv,var,lib/modules,rvl}
	echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
	printf 'root:x:0:\ntty:x:5:\n' > "$root/etc/group"
	: > "$root/etc/fstab"
	echo "$root_pkgs $root_layout" > "$root/.rvl-root"
fi

# linux-source-7.3 from trixie-backports, downloaded with a private sources
# list and state directory: the machine's apt configuration is not changed
# and nothing is installed. Any 7.3.y is accepted.
fetch_linux_source_73() {
	local uri apt=$CACHE/apt/trixie-backports deb
	uri=$(debian_archive_uri)
	[ -n "$uri" ] || die "no Debian archive for bookworm in the machine's apt sources"
	mkdir -p "$CACHE/debs"
	private_apt "$apt" \
		"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie-backports main"
	(cd "$apt/archives" && rm -f linux-source-7.3_*.deb && apt-get -q "${apt_opts[@]}" download linux-source-7.3)
	deb=$(ls "$apt"/archives/linux-source-7.3_*.deb)
	rm -rf "$CACHE/debs/linux-source-7.3"
	dpkg-deb -x "$deb" "$CACHE/debs/linux-source-7.3"
	dpkg-deb -f "$deb" Version > "$CACHE/debs/linux-source-7.3.version"
	rm -f "$deb"
}

if [ -z "${KSRC:-}" ] && [ "$TREE" = 7.3 ]; then
	phase "linux-source-7.3 (trixie-backports)"
	source_package_version >/dev/null && [ -r "$(source_tarball)" ] || fetch_linux_source_73
fi

# The plugin API header of the installed QEMU, for make bench's instruction
# counting plugin (scripts/icount-plugin.c): Debian does not ship it, so it
# comes from the same version's source package.
phase "QEMU plugin header"
if [ ! -r "$(qemu_plugin_header)" ]; then
	qv=$(dpkg-query -W -f='${source:Version}' qemu-system-x86)
	apt=$CACHE/apt/bookworm-src
	private_apt "$apt" "$(bookworm_sources | awk '{ print "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]", $1, $2, "main" }')"
	rm -rf "$apt/src"
	mkdir -p "$apt/src" "$(dirname "$(qemu_plugin_header)")"
	(cd "$apt/src" && apt-get -q "${apt_opts[@]}" source --download-only "qemu=$qv")
	tar xJf "$apt"/src/qemu_*.orig.tar.xz -C "$apt/src" --wildcards '*/include/qemu/qemu-plugin.h'
	mv "$apt"/src/qemu-*/include/qemu/qemu-plugin.h "$(qemu_plugin_header)"
	rm -rf "$apt/src"
fi

phase "pristine kernel source ($TREE)"
src=$(src_dir)
if ! git -C "$src" rev-parse -q --verify "refs/tags/$(vanilla_tag)" >/dev/null 2>&1; then
	rm -rf "$src"
	if [ -n "${KSRC:-}" ] && git -C "$KSRC" rev-parse -q --verify HEAD >/dev/null; then
		# Your tree's HEAD, shared with it: nothing in KSRC is changed.
		# Without your tags: one of them may be named like ours.
		git -c init.defaultBranch=vanilla clone -q --shared --no-checkout --no-tags "$KSRC" "$src"
		git -C "$src" checkout -q --detach "$(git -C "$KSRC" rev-parse HEAD)"
	else
		mkdir -p "$src.tmp"
		if [ -n "${KSRC:-}" ]; then
			cp -a "$KSRC" "$src.tmp/tree"
		else
			tar xf "$(source_tarball)" -C "$src.tmp"
			mv "$src.tmp/linux-source-$TREE" "$src.tmp/tree"
		fi
		mv "$src.tmp/tree" "$src"
		rmdir "$src.tmp"
		# Debian's .gitignore ignores the whole top level: force-add.
		git -C "$src" init -q -b vanilla
		git -C "$src" add -f -A .
		git -C "$src" -c user.name=rvl -c user.email=rvl@localhost \
			commit -q -m "Linux $(kernel_version) (${KSRC:-Debian linux-source-$TREE})"
	fi
	git -C "$src" tag "$(vanilla_tag)"
fi
phase_end

echo "versions:"
echo "  kernel:  $(kernel_version) (${KSRC:-linux-source-$TREE $(source_package_version)})"
echo "  rustc:   $(/usr/bin/rustc --version)"
echo "  bindgen: $("$TOOLS/bin/bindgen" --version)"
echo "  clang:   $(clang$LLVM_SUFFIX --version | head -1)"
echo "  qemu:    $(qemu-system-x86_64 --version | head -1)"
"${KMAKE[@]}" -s -C "$src" rustavailable
