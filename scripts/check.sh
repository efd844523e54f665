#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# check.sh [arch...]: every test of the project, on each kernel tree
# (RVL_TREES, default "6.12 7.3"). Sets up what is missing, builds each
# tree's series into its test kernels, lints, boots each arch under QEMU
# and collects one result per test case into $OUT/results/summary.tap.
# Ends with "N passed, N failed"; exits non-zero if anything failed.

. "$(dirname "$0")/lib.sh"

arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(x86_64 arm64)
read -r -a trees <<<"${RVL_TREES:-${TREES[*]}}"
res=$OUT/results
rm -rf "$res"
mkdir -p "$res"
summary=$res/summary.tap
n=0
failed=0

# record <ok|not ok> <name> [detail]
record() {
	n=$((n + 1))
	echo "$1 $n $2${3:+ # $3}" >> "$summary"
	[ "$1" = ok ] || { failed=$((failed + 1)); echo "FAILED: $2${3:+ ($3)}"; }
}
gate() { # gate <name> <command...>: one result from a command's status
	local name=$1 log=$res/${1//\//_}.log
	shift
	if "$@" > "$log" 2>&1; then record ok "$name"; else
		record "not ok" "$name" "see $log"; tail -n 40 "$log"; fi
}
# tap <prefix> <file>: one result per top-level TAP/KTAP test line.
tap() {
	local prefix=$1 file=$2 line name
	[ -s "$file" ] || { record "not ok" "$prefix" "no results"; return; }
	while IFS= read -r line; do
		case $line in
		"ok "*|"not ok "*)
			name=$(sed -E 's/^(not )?ok [0-9]+ //' <<<"$line")
			case $line in
			*"# SKIP"*) record ok "$prefix/$name" ;;
			ok*) record ok "$prefix/$name" ;;
			*) record "not ok" "$prefix/$name" ;;
			esac ;;
		esac
	done < "$file"
}

# clippy <log...>: the warnings clippy-driver gave in our files while it
# compiled the kernel crate (build-kernel.sh keeps that build's output in
# .clippy.log) and the sample module (check.sh recompiles it every run).
clippy() {
	cat "$@"
	! cat "$@" | grep -A8 -E '^(warning|error)' |
		grep -qE 'rust/kernel/(mm|miscdevice|fs|module_param)|rust_vmalock'
}

# guest_results <prefix> <vm-dir>: one result per KUnit case and per TAP line
# of each plan section the guest printed.
guest_results() {
	local prefix=$1 vm=$2 t
	sed -nE 's/^    ((not )?ok [0-9]+ .*)/\1/p' "$vm/kunit.ktap" > "$vm/kunit.leaves"
	tap "$prefix/kunit" "$vm/kunit.leaves"
	for t in "$vm"/tap/*.tap; do
		[ -e "$t" ] && tap "$prefix/$(basename "$t" .tap)" "$t"
	done
	return 0
}

# Linted once: the project's own C and Rust files, shared by both trees.
C_FILES=(samples/vmalock/vmalock.h samples/vmalock/c_vmalock.c
	 $(cd "$REPO" && git ls-files 'trees/*/rust/helpers/*.c')
	 $(cd "$REPO" && git ls-files 'tools/testing/selftests/*/*.[ch]')
	 tests/layout/layout_check_c.c tests/layout/layout_check.h scripts/icount-plugin.c)
RS_FILES=($(cd "$REPO" && git ls-files '*.rs'))

for TREE in "${trees[@]}"; do
	export TREE
	"$REPO/scripts/setup.sh"
	src=$(src_dir)
	T=$TREE

	phase "series $T"
	gate "$T/series/apply" "$REPO/scripts/series.sh"
	grep -E "applies|patches" "$res/${T//\//_}_series_apply.log" || true

	phase "lint $T"
	if [ "$TREE" = "${trees[0]}" ]; then
		gate lint/checkpatch-c bash -c "cd '$REPO' && '$src/scripts/checkpatch.pl' --strict --no-tree --terse -f ${C_FILES[*]} |
			tee /dev/stderr | grep -E '(ERROR|WARNING|CHECK):' && exit 1 || exit 0"
		# make bench's instruction counting plugin, against the QEMU here.
		gate icount-plugin-build bash -c ". '$REPO/scripts/lib.sh' && icount_plugin"
		gate lint/rustfmt bash -c "cd '$REPO' && rustfmt --check --edition 2021 \
			--config-path '$src/.rustfmt.toml' ${RS_FILES[*]}"
	fi
	gate "$T/lint/checkpatch-series" bash -c "'$src/scripts/checkpatch.pl' --strict --no-tree --terse \
		--ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG \$(ls $(patches_dir)/*.patch $(patches_dir)-harness/*.patch | grep -v /0000-) | tee /dev/stderr |
		grep -E '(ERROR|WARNING|CHECK):' && exit 1 || exit 0"

	for arch in "${arches[@]}"; do
		karch=$(kernel_arch "$arch")
		B=$(build_dir "$arch" test)
		phase "build $T $arch"
		gate "$T/$arch/kernel-build" "$REPO/scripts/build-kernel.sh" "$arch" test
		[ -r "$B/$(kernel_image "$arch")" ] || continue
		mk=("${KMAKE[@]}" ARCH="$karch" -C "$B")
		payload=$OUT/payload/$T/$arch
		mods=$OUT/modules/$T/$arch
		rm -rf "$payload"
		mkdir -p "$payload/modules" "$payload/bin"
		stage_modules "$mods" "$B"
		# Recompiled every run, for its clippy warnings.
		rm -f "$mods/samples/rust/rust_vmalock.o"
		gate "$T/$arch/module-build-M" "${mk[@]}" M="$mods" modules
		gate "$T/$arch/layout-module-build" "${mk[@]}" M="$mods/tests/layout" modules
		cp "$mods/samples/rust/rust_vmalock.ko" "$mods/samples/vmalock/c_vmalock.ko" \
			"$mods/tests/layout/layout_check.ko" "$payload/modules/" || true
		gate "$T/$arch/clippy" clippy "$B/.clippy.log" "$res/${T}_${arch}_module-build-M.log"
		if [ "$arch" = x86_64 ]; then
			for d in "$REPO"/tests/compile-fail/*/; do
				# A case of one tree's API only ("// tree: 7.3 ...").
				t=$(sed -n 's,^// tree: \([^ ]*\).*,\1,p' "$d/cf.rs")
				[ -z "$t" ] || [ "$t" = "$TREE" ] || continue
				gate "$T/compile-fail/$(basename "$d")" "$REPO/scripts/compile-fail.sh" "$d"
			done
			gate "$T/lint/rustdoc" "${KMAKE[@]}" -C "$src" O="$B" -j"$(nproc)" rustdoc
			cc=(gcc -static)
		else
			cc=(aarch64-linux-gnu-gcc -static)
		fi
		# The selftests the series adds and, where the kernel has the Rust
		# Binder, upstream's binderfs test.
		for d in $(selftest_dirs); do
			gate "$T/$arch/selftest-build/${d#tools/testing/selftests/}" make -C "$src/$d" \
				OUTPUT="$payload/bin" CC="${cc[*]}" KHDR_INCLUDES="-isystem $B/usr/include"
		done
		gate "$T/$arch/peer-build" "$REPO/scripts/peer-suite.sh" "$arch" "$payload/bin/peer"
		cp "$REPO/tests/vm/plan.sh" "$payload/plan.sh"

		phase "vm $T $arch"
		gate "$T/$arch/vm-splat-gate" "$REPO/scripts/run-vm.sh" "$arch" test "$payload"
		vm=$OUT/vm/$T/$arch-test
		grep -E "clean|FAIL" "$res/${T}_${arch}_vm-splat-gate.log" || true
		guest_results "$T/$arch" "$vm"
		mkdir -p "$res/vm-$T"
		cp -r "$vm" "$res/vm-$T/$arch"

		# The same kernel and payload under virtme-ng.
		phase "vng $T $arch"
		vm=$OUT/vm/$T/$arch-vng
		gate "$T/$arch-vng/vng-splat-gate" env RVL_VM_DIR="$vm" "$REPO/scripts/run-vng.sh" "$arch" "$payload"
		grep -E "clean|FAIL" "$res/${T}_${arch}-vng_vng-splat-gate.log" || true
		guest_results "$T/$arch-vng" "$vm"
		cp -r "$vm" "$res/vm-$T/$arch-vng"
	done

	# The kernel crate without CONFIG_PER_VMA_LOCK (a uniprocessor x86_64
	# kernel): the series must build there too.
	phase "build $T x86_64 without the per-VMA lock"
	gate "$T/x86_64/no-per-vma-lock-build" "$REPO/scripts/build-kernel.sh" x86_64 no-per-vma-lock
done
phase_end

echo "results: $summary"
echo "$((n - failed)) passed, $failed failed"
[ $failed = 0 ]
