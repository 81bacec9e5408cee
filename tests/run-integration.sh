#!/bin/bash
# Runs every tests/integration/t-*.sh (or those named) and summarises.
# A test whose header has the line "# lane: side" runs in a second lane,
# beside the others: those tests mostly wait on services they start (LAVA's
# scheduler, libvirtd behind sshd), so on 2 cores they cost little CPU while
# the main lane builds kernels at nice 10. Side tests run one after another,
# their output is held and shown whole when each ends (never interleaved).
# KFARM_LANES=1 runs everything in one lane, in order.
cd "$(dirname "$0")/integration" || exit 1
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(t-*.sh)
main=() side=()
for t in "${tests[@]}"; do
	if [ "${KFARM_LANES:-2}" != 1 ] && [ ${#tests[@]} -gt 1 ] && grep -qx '# lane: side' "$t" 2>/dev/null; then
		side+=("$t")
	else
		main+=("$t")
	fi
done

run_one() { # run_one TEST: runs it, then its "== PASS|FAIL" line; status as the test's
	local start r=PASS
	start=$(date +%s)
	bash "$1" || r=FAIL
	echo "== $r $1 ($(($(date +%s) - start))s)"
	[ $r = PASS ]
}

held=$(mktemp -d /tmp/kfarm-lanes.XXXXXX)
side_pid=
# a killed run (CI's limit, ^C) takes the side lane and its test with it;
# the test's own EXIT trap then stops what it started
trap '[ -n "$side_pid" ] && pkill -TERM -P "$side_pid" 2>/dev/null; kill "$side_pid" 2>/dev/null; rm -rf "$held"' EXIT
trap 'exit 130' INT TERM
if [ ${#side[@]} -gt 0 ]; then
	echo "integration: side lane: ${side[*]}"
	(for t in "${side[@]}"; do
		run_one "$t" </dev/null >"$held/$t.out" 2>&1
		echo $? >"$held/$t.rc"
	done) &
	side_pid=$!
fi

failed=() shown=()
show_side() { # prints each side test that has ended and is not shown yet
	local t
	for t in "${side[@]}"; do
		[ -f "$held/$t.rc" ] || continue
		[[ " ${shown[*]} " == *" $t "* ]] && continue
		shown+=("$t")
		echo "-- side lane: $t"
		cat "$held/$t.out"
		[ "$(cat "$held/$t.rc")" = 0 ] || failed+=("$t")
	done
}
for t in "${main[@]}"; do
	run_one "$t" || failed+=("$t")
	show_side
done
if [ -n "$side_pid" ]; then
	wait "$side_pid"
	side_pid=
	show_side
fi
if [ ${#failed[@]} -gt 0 ]; then
	echo "integration: ${#failed[@]} failed: ${failed[*]}"
	exit 1
fi
echo "integration: all ${#tests[@]} passed"
