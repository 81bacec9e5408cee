#!/bin/bash
# An interrupted source build: kfarm build --source and kfarm run --source
# start a real kernel build (images/kernel.sh, make, gcc), kfarm alone gets
# SIGINT (kill -INT PID, not the terminal's process group) once make
# compiles. kfarm must forward it to the build's process group, wait for it,
# record the build as ERROR "interrupted", exit 130, and leave no kernel.sh
# or make running and nothing in the cache that looks done (no image, no
# failure record a later run would take as the result).
# The tree: a kernel source tree already unpacked by make images
# (KFARM_INTERRUPT_SRC to name another), built with the test's own cache.
. "$(dirname "$0")/lib.sh"
echo "t-build-interrupt: SIGINT to kfarm while a source candidate builds"

SRC=${KFARM_INTERRUPT_SRC:-$(ls -d "$KFARM_CACHE"/src/linux-6.1 "$KFARM_CACHE"/src/linux-6.1-* 2>/dev/null | grep -v nopatch | head -n1)}
if [ -z "$SRC" ] || [ ! -f "$SRC/Makefile" ]; then
	echo "  no unpacked kernel tree (run make images, or set KFARM_INTERRUPT_SRC)"
	bad "kernel tree to build"; finish; exit 1
fi
export KFARM_CACHE=$T/cache
mkdir -p "$KFARM_CACHE"
DB=$T/i.db
: >"$T/initrd"

# starts "$@" in the background, waits until make compiles, sends SIGINT to
# kfarm only; sets RC (kfarm's exit status) and LATE (seconds it took to end)
interrupt_during_compile() {
	local err=$1; shift
	# job control: a background job of a script would start with SIGINT
	# ignored; with it, kfarm has SIGINT as from a terminal, in a process
	# group of its own (the signal reaches kfarm alone)
	set -m
	nice -n 10 "$KFARM" "$@" >"$T/out" 2>"$err" &
	local pid=$! i
	set +m
	# until make builds the image (the configuration is done)
	for i in $(seq 600); do
		pgrep -f "O=$KFARM_CACHE/build.* bzImage" >/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	sleep 5	# make and its compilers are running now
	check "make compiles under kfarm before the signal" pgrep -f "O=$KFARM_CACHE/build.* bzImage" >/dev/null
	local t0=$(date +%s)
	kill -INT "$pid"
	wait "$pid"
	RC=$? LATE=$(( $(date +%s) - t0 ))
}

survivors() { pgrep -af "$KFARM_CACHE|kernel.sh --src $SRC " | grep -v pgrep || true; }
# what a broken kfarm left behind is the test's own: ended by its ids
reap_survivors() { local p; for p in $(pgrep -f "$KFARM_CACHE|kernel.sh --src $SRC "); do kill "$p" 2>/dev/null; done; }
no_done_entry() {
	! ls "$KFARM_CACHE"/kernels/x86_64-*/image >/dev/null 2>&1 &&
	! ls "$KFARM_CACHE"/kernels/x86_64-*.failed.json >/dev/null 2>&1
}

# --- kfarm build --source
interrupt_during_compile "$T/err1" build --db "$DB" --source "$SRC" --arch x86_64 --label intr1
check "kfarm build: exit 130 after SIGINT ($RC, ended ${LATE}s after it)" test "$RC" = 130
sleep 1
S=$(survivors)
check "kfarm build: no kernel.sh, make or compiler left running" test -z "$S"
[ -z "$S" ] || { echo "$S" | head -5; reap_survivors; sleep 2; }
check "kfarm build: no image and no failure record in the cache" no_done_entry
check "kfarm build: the build stored as ERROR 'interrupted'" test "$(sql "$DB" \
	"SELECT status || ' ' || (error LIKE 'interrupted%') FROM builds")" = "ERROR 1"
check "kfarm build: the run marked interrupted" test "$(sql "$DB" "SELECT status FROM runs")" = interrupted
grep -q 'kernel: interrupted (INT): nothing recorded' "$T/err1"
check "kernel.sh said it recorded nothing" test $? = 0

# --- kfarm run --source: the build runs inside the scheduler's loop
interrupt_during_compile "$T/err2" run --db "$DB" --source "$SRC" --arch x86_64 --label intr2 \
	--initramfs "x86_64=$T/initrd" --append "$TOKEN"
check "kfarm run: exit 130 after SIGINT ($RC, ended ${LATE}s after it)" test "$RC" = 130
sleep 1
S=$(survivors)
check "kfarm run: no kernel.sh, make or compiler left running" test -z "$S"
[ -z "$S" ] || { echo "$S" | head -5; reap_survivors; sleep 2; }
check "kfarm run: no image and no failure record in the cache" no_done_entry
check "kfarm run: the build stored as ERROR 'interrupted', no PASS" test "$(sql "$DB" \
	"SELECT group_concat(status || ' ' || (error LIKE 'interrupted%')) FROM builds b JOIN sources s ON s.id = b.source_id WHERE s.label = 'intr2'")" = "ERROR 1"
check "kfarm run: the run marked interrupted" test "$(sql "$DB" "SELECT status FROM runs ORDER BY id DESC LIMIT 1")" = interrupted
check "kfarm run: no VM was started" no_qemu_left
[ "$FAILS" = 0 ] || { echo "--- stderr (build)"; tail -20 "$T/err1"; echo "--- stderr (run)"; tail -20 "$T/err2"; }
finish
