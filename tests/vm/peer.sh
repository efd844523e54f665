# SPDX-License-Identifier: GPL-2.0
# Peer suite: the kernel's own mm selftests, built by scripts/peer-suite.sh
# into $P (default $B/peer). Sourced by plan.sh with $B and $R set.
#
# $P/list has one program a line: "name timeout program [args]", or
# "name skip reason" when the kernel lacks an option it needs. Each runs
# in its own session under timeout(1) (busybox or coreutils), from an empty
# directory; its output goes to $R/peer-<name>.log and one TAP line to
# $R/peer.tap: exit 0 is ok, exit 4 (KSFT_SKIP) is "ok ... # SKIP", anything
# else, a timeout included, is "not ok". The last lines of a failed
# program's log go to the console.
P=${RVL_PEER:-${B:-/bin-rvl}/peer}
R=${R:-${RVL_RESULTS:-/tmp/results}}
mkdir -p "$R"

# peer_one <name> <timeout> <program> [args]: sets peer_rc.
peer_one() {
	pname=$1 psecs=$2 pprog=$3
	shift 3
	pcwd=${TMPDIR:-/tmp}/peer-cwd.$pname
	rm -rf "$pcwd"
	mkdir -p "$pcwd"
	psetsid=
	command -v setsid > /dev/null && psetsid=setsid
	# In the background, the subshell is not a process group leader, so
	# setsid execs in place: the session id is $!, and whatever the
	# program leaves behind can be killed with its group.
	(cd "$pcwd" && exec $psetsid timeout -k 5 "$psecs" "$P/bin/$pprog" "$@") \
		> "$R/peer-$pname.log" 2>&1 < /dev/null &
	ppid=$!
	wait $ppid
	peer_rc=$?
	[ -n "$psetsid" ] && kill -KILL -$ppid 2> /dev/null
	rm -rf "$pcwd"
}

peer_run() {
	pn=0
	ptotal=$(grep -c '^[^#]' "$P/list")
	echo "TAP version 13"
	echo "1..$ptotal"
	while read -r qname qsecs qprog qargs; do
		case $qname in ''|'#'*) continue ;; esac
		pn=$((pn + 1))
		if [ "$qsecs" = skip ]; then
			echo "ok $pn $qname # SKIP $qprog $qargs"
			echo "peer: ok $pn $qname # SKIP $qprog $qargs" >&3
			continue
		fi
		if [ ! -x "$P/bin/$qprog" ]; then
			echo "not ok $pn $qname # no $P/bin/$qprog"
			continue
		fi
		# mremap_test maps 2 GiB regions (it only touches 4 MiB of
		# them): the heuristic overcommit refuses those in a 2 GiB VM.
		pover=
		if [ "$qprog" = mremap_test ] && [ -w /proc/sys/vm/overcommit_memory ]; then
			pover=$(cat /proc/sys/vm/overcommit_memory)
			echo 1 > /proc/sys/vm/overcommit_memory
		fi
		# 6.12's uffd-common.c maps its shmem areas at fixed hints from
		# 1 GiB (BASE_PMD_ADDR) and fails if the kernel places them
		# elsewhere; x86_64 randomizes brk over 1 GiB since 6.9, so a
		# static binary's heap sits there in about one run of eight
		# ("mmap of memfd failed at 0x40000000"). 7.3's reserves the
		# range first. Only brk randomization is turned off (1: stack,
		# mmap and vDSO stay random), for these programs only.
		paslr=
		if [ "$qprog" = uffd-unit-tests ] && [ -w /proc/sys/kernel/randomize_va_space ]; then
			paslr=$(cat /proc/sys/kernel/randomize_va_space)
			[ "$paslr" -gt 1 ] && echo 1 > /proc/sys/kernel/randomize_va_space
		fi
		qt0=$(date +%s)
		# shellcheck disable=SC2086 # args is a word list
		peer_one $qname $qsecs $qprog $qargs
		# mremap_test checks that its destination is free but not the
		# preamble it maps below it with MAP_FIXED_NOREPLACE, which an
		# ASLR-placed mapping sometimes occupies (EEXIST). Only that
		# failure is retried, once; both logs are kept.
		pretry=
		if [ "$qprog" = mremap_test ] && [ $peer_rc != 0 ] &&
		   grep -q "Failed to map dest preamble region: File exists" "$R/peer-$qname.log"; then
			mv "$R/peer-$qname.log" "$R/peer-$qname.first.log"
			pretry=" # retried once: dest preamble hit an ASLR mapping (EEXIST)"
			# shellcheck disable=SC2086 # args is a word list
			peer_one $qname $qsecs $qprog $qargs
		fi
		qdt=$(($(date +%s) - qt0))
		[ -n "$pover" ] && echo "$pover" > /proc/sys/vm/overcommit_memory
		[ -n "$paslr" ] && echo "$paslr" > /proc/sys/kernel/randomize_va_space
		case $peer_rc in
		0) qres="ok $pn $qname$pretry" ;;
		4) qres="ok $pn $qname # SKIP" ;;
		*) qres="not ok $pn $qname # exit $peer_rc$pretry" ;;
		esac
		# timeout(1) exits 124 (coreutils) or the program dies of its
		# TERM (143) or, after -k, KILL (137).
		case $peer_rc in 124|137|143)
			[ "$qdt" -ge "$qsecs" ] &&
				qres="not ok $pn $qname # TIMEOUT after ${qdt}s" ;;
		esac
		echo "$qres"
		echo "# $qname: exit $peer_rc in ${qdt}s"
		echo "peer: $qres (${qdt}s)" >&3
		case $qres in
		"not ok"*)
			{
				echo "peer: ---- last lines of peer-$qname.log"
				tail -n 30 "$R/peer-$qname.log"
				echo "peer: ----"
			} >&3 ;;
		esac
	done < "$P/list"
}

if [ -r "$P/list" ]; then
	peer_run 3>&1 > "$R/peer.tap"
else
	printf 'TAP version 13\n1..1\nnot ok 1 peer suite # no %s\n' "$P/list" > "$R/peer.tap"
fi
