# SPDX-License-Identifier: GPL-2.0
# Reading a guest's console log, for run-vm.sh and run-vng.sh. Source, do not
# execute.

# split_guest_log <vm dir> <log>: the KUnit KTAP into <vm dir>/kunit.ktap and
# the plan's TAP sections into <vm dir>/tap/<name>.tap.
split_guest_log() {
	local vm=$1 log=$2

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
}

# guest_gate <label> <log> <benign ERE> <why the guest ended> [<stderr file>]:
# prints why the run failed and returns 1 if <log> holds a kernel splat (lines
# matching <benign> excepted) or the plan did not end with rc=0; <stderr file>
# is shown when the plan did not end.
guest_gate() {
	local label=$1 log=$2 benign=$3 why=$4 err=${5:-}
	local patterns=('BUG:' 'WARNING:' 'Oops' 'KASAN' 'UBSAN' 'possible circular locking'
		'inconsistent lock state' 'suspicious RCU usage' 'possible recursive locking'
		'lock held when returning' 'bad unlock balance' 'INFO: task .* blocked'
		'Kernel panic' 'rcu_sched self-detected stall' 'rcu: INFO: .*stall'
		'general protection' 'Unable to handle kernel' 'kernel BUG' 'Call Trace:')
	local all hit n p end fail=0

	all=$(IFS='|'; echo "${patterns[*]}")
	hit=$(grep -anE "$all" "$log" | grep -avE "$benign" | head -n 1 || true)
	if [ -n "$hit" ]; then
		n=${hit%%:*}
		for p in "${patterns[@]}"; do
			grep -qE -- "$p" <<<"${hit#*:}" && break
		done
		echo "$label: FAIL: kernel splat matching '$p' at console.log:$n"
		echo "---- console.log lines $(( n > 30 ? n - 30 : 1 ))-$(( n + 40 ))"
		sed -n "$(( n > 30 ? n - 30 : 1 )),$(( n + 40 ))p" "$log"
		fail=1
	fi
	# Not anchored: the plan's last line may lack a newline.
	end=$(grep -ao 'RVL-PLAN-END rc=[0-9]*' "$log" | tail -n 1 || true)
	if [ -z "$end" ]; then
		echo "$label: FAIL: no RVL-PLAN-END ($why)"
		[ -z "$err" ] || cat "$err"
		fail=1
	elif [ "${end#*rc=}" != 0 ]; then
		echo "$label: FAIL: plan failed rc=${end#*rc=}"
		fail=1
	fi
	return $fail
}
