#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# compile-fail.sh <case-dir>: the module in <case-dir> must fail to build
# with exactly the rustc error code named by its "// expect: EXXXX" line, so
# that a test cannot pass by failing for another reason.

. "$(dirname "$0")/lib.sh"

dir=$(cd "${1:?case dir}" && pwd)
B=$(build_dir x86_64 test)
expect=$(grep -o 'expect: E[0-9]*' "$dir/cf.rs" | cut -d' ' -f2)
[ -n "$expect" ] || die "$dir: no '// expect: EXXXX' line"
rc=0
out=$("${KMAKE[@]}" -s -C "$B" M="$dir" modules 2>&1) || rc=$?
codes=$(grep -o '^error\[E[0-9]*\]' <<<"$out" | sort -u | tr -d 'error[]' | xargs || true)
echo "$(basename "$dir"): expected $expect, got: ${codes:-none} (make exit $rc)"
if [ $rc = 0 ] || [ "$codes" != "$expect" ]; then
	echo "$out"
	exit 1
fi
