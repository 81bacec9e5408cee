#!/bin/bash
# A build stops at its first failed recipe (images/first-error.sh, which
# images/kernel.sh compiles through): real GNU make -j2 on a small project
# where one recipe fails at once while another, already running, would
# compile for 20 s and a third waits for a free job slot. Plain make
# lets the running one finish (the control, measured here); through
# compile_to_first_error the whole build ends within seconds, nothing of it
# is left running, the log keeps the first error, and the status is make's
# failure. A build that succeeds is untouched. No kernel is built.
. "$(dirname "$0")/lib.sh"
echo "t-build-first-error: a failing build stops at its first error"
set -o pipefail	# as in kernel.sh
# as kernel.sh does: under make test the outer make's MAKEFLAGS (w, its
# jobserver) would reach these makes and add "Entering directory" lines
unset MAKEFLAGS MFLAGS MAKEOVERRIDES MAKELEVEL GNUMAKEFLAGS || true
. "$TOP/images/first-error.sh"

P=$T/proj
mkdir -p "$P"
# SLOW stands for a sub-make with a directory left to compile; its token
# finds it in the process table
cat >"$P/Makefile" <<MK
all: bad slow later
bad:
	@sleep 1; echo "bad.c:3:1: error: expected expression"; exit 1
slow:
	@sleep 20 # slow-$TOKEN
later: slow
	@echo later
ok:
	@echo ok
MK

ms() { echo $(( $(date +%s%N) / 1000000 )); }
t0=$(ms)
make -C "$P" -j2 all >"$T/plain.log" 2>&1 &
plain=$!

: >"$T/build.log"
s0=$(ms)
compile_to_first_error "$T/build.log" make -C "$P" -j2 all
rc=$?
stopped=$(( ($(ms) - s0) / 1000 ))
check "the failed build's status is a failure (rc=$rc)" test $rc -ne 0
check "it ended within 10 s of its first error (${stopped} s; the slow recipe alone takes 20 s)" \
	test "$stopped" -lt 10
sleep 0.5
check "nothing of the stopped build is left running" \
	test "$(pgrep -f "slow-$TOKEN" | wc -l)" -eq 1	# only the control's
check "the log keeps the first error" grep -q '^bad.c:3:1: error: expected expression' "$T/build.log"
check "the log says the rest was stopped" grep -q '^# kfarm: a recipe failed: the rest of the build is stopped' "$T/build.log"
check "MAKEPID is cleared" test -z "$MAKEPID"

: >"$T/ok.log"
compile_to_first_error "$T/ok.log" make -s -C "$P" ok
check "a build that succeeds: status 0, its output logged" test $? -eq 0 -a "$(cat "$T/ok.log")" = "ok"

# the control: plain make -j2 ran on until the slow recipe ended
wait $plain
prc=$?
plain_s=$(( ($(ms) - t0) / 1000 ))
check "control: plain make failed too (rc=$prc) but only after ${plain_s} s" \
	test $prc -ne 0 -a "$plain_s" -ge 18
echo "    stopped build ${stopped} s, plain make ${plain_s} s"
finish
