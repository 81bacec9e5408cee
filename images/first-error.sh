# Sourced by images/kernel.sh (and tests/integration/t-build-first-error.sh).
# MAKEPID: the running make's process group, for a signal handler to pass
# a signal on to (kernel.sh's interrupted()).
MAKEPID=

# compile_to_first_error LOG MAKE-ARGV...: make >>LOG, ended at its first
# failed recipe. On an error make starts no new job but lets every sub-make
# already running finish its directory (alpha 6.12 without its fix-up:
# 261 kbuild steps before make gave up, 110 with this), and a bisection pays
# that on every broken step. So make gets its own
# process group, and the first "make[N]: *** " line (a recipe failed, the
# build's verdict is FAIL whatever else happens) stops all of it. A signal
# to us is passed on to that group by interrupted().
compile_to_first_error() {
	local log=$1 off rc=0
	shift
	off=$(stat -c %s "$log")
	setsid "$@" >>"$log" 2>&1 </dev/null &
	MAKEPID=$!
	while kill -0 "$MAKEPID" 2>/dev/null; do
		# not a pipe: under pipefail, tail's SIGPIPE once grep has its
		# line would read as "no match"
		if grep -q -m1 -E '^make(\[[0-9]+\])?: \*\*\* ' < <(tail -c +"$((off + 1))" "$log"); then
			echo "# kfarm: a recipe failed: the rest of the build is stopped" >>"$log"
			kill -TERM -- "-$MAKEPID" 2>/dev/null || true
			break
		fi
		sleep 1
	done
	wait "$MAKEPID" || rc=$?
	MAKEPID=
	return "$rc"
}
