#!/bin/bash
# Runs every tests/integration/t-*.sh (or those named) and summarises.
# A test whose header has the line "# lane: build" runs in a second lane,
# beside the others: those tests spend most of their time compiling kernels
# and selftests at nice 10 and check no timing of their own, while the main
# lane's tests mostly wait (on QEMU boots under TCG, LAVA's scheduler,
# libvirtd behind sshd, a browser) at nice 0, so they get the CPU they need
# for their timing checks and the builds get the rest. Build-lane tests run
# one after another, their output is held and shown whole when each ends
# (never interleaved). KFARM_LANES=1 runs everything in one lane, in order.
cd "$(dirname "$0")/integration" || exit 1
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(t-*.sh)
main=() build=()
for t in "${tests[@]}"; do
	if [ "${KFARM_LANES:-2}" != 1 ] && [ ${#tests[@]} -gt 1 ] && grep -qx '# lane: build' "$t" 2>/dev/null; then
		build+=("$t")
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
build_pid=
# a killed run (CI's limit, ^C) takes the build lane and its test with it;
# the test's own EXIT trap then stops what it started
trap '[ -n "$build_pid" ] && pkill -TERM -P "$build_pid" 2>/dev/null; kill "$build_pid" 2>/dev/null; rm -rf "$held"' EXIT
trap 'exit 130' INT TERM
if [ ${#build[@]} -gt 0 ]; then
	echo "integration: build lane: ${build[*]}"
	(for t in "${build[@]}"; do
		run_one "$t" </dev/null >"$held/$t.out" 2>&1
		echo $? >"$held/$t.rc"
	done) &
	build_pid=$!
fi

failed=() shown=()
show_build() { # prints each build-lane test that has ended and is not shown yet
	local t
	for t in "${build[@]}"; do
		[ -f "$held/$t.rc" ] || continue
		[[ " ${shown[*]} " == *" $t "* ]] && continue
		shown+=("$t")
		echo "-- build lane: $t"
		cat "$held/$t.out"
		[ "$(cat "$held/$t.rc")" = 0 ] || failed+=("$t")
	done
}
for t in "${main[@]}"; do
	run_one "$t" || failed+=("$t")
	show_build
done
if [ -n "$build_pid" ]; then
	wait "$build_pid"
	build_pid=
	show_build
fi
if [ ${#failed[@]} -gt 0 ]; then
	echo "integration: ${#failed[@]} failed: ${failed[*]}"
	exit 1
fi
echo "integration: all ${#tests[@]} passed"
