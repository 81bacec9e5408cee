#!/bin/bash
# t-lava: kfarm's jobs through a real LAVA lab (Debian 12's lava-server and
# lava-dispatcher with PostgreSQL, one local worker, `qemu` devices), all on
# loopback, against the direct backend: same per-test outcomes, the per-job
# overhead as a ratio; then the faults: a job canceled in LAVA, kfarm
# interrupted, an invalid token, a worker without the QEMU binary, the LAVA
# server stopped mid-run. Needs root and `make deps` (installs nothing).
# LAVA_ARCHES picks the arches (default: the five), LAVA_J the parallel jobs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lava-lab.sh"
trap 'lab_stop; cleanup' EXIT
DB=$T/kfarm.db

echo "t-lava: a LAVA lab from Debian's packages against the direct backend"
for c in lava-server lava-worker gunicorn3 pg_ctlcluster createdb; do
	command -v "$c" >/dev/null || { bad "$c is missing (run 'make deps')"; finish; exit 1; }
done
[ "$(id -u)" = 0 ] || { bad "needs root (LAVA's services switch users)"; finish; exit 1; }

KERNELS=()
ARCHES=()
for a in ${LAVA_ARCHES:-x86_64 arm64 riscv64 sparc64 alpha}; do
	img=$(default_image "$a" 6.1)
	[ -n "$img" ] || img=$(default_image "$a" 6.12)
	if [ -z "$img" ] || [ ! -f "$KFARM_CACHE/initramfs/$a.json" ]; then
		echo "  (no default kernel or initramfs for $a: left out)"
		continue
	fi
	KERNELS+=(--kernel "$a=$img:lava-it")
	ARCHES+=("$a")
done
[ ${#ARCHES[@]} -gt 0 ] || { bad "no default kernel built (run 'make images')"; finish; exit 1; }
J=${LAVA_J:-${#ARCHES[@]}}
echo "  arches: ${ARCHES[*]} (-j $J)"
X86=$(default_image x86_64 6.1)

t0=$(date +%s)
if ! lab_start "${#ARCHES[@]}"; then
	bad "the LAVA lab did not start (logs in $LAB)"
	tail -n 5 "$LAB"/*.log
	finish
	exit 1
fi
ok "LAVA lab up in $(( $(date +%s) - t0 ))s: $LAVA_URL, worker $LAB_WORKER, ${#ARCHES[@]} qemu devices"
AUTH="Authorization: Token $(cat "$LAVA_TOKEN_FILE")"
njobs() { curl -sf -H "$AUTH" "$LAVA_URL/api/v0.2/jobs/?limit=1" | jq .count; }
lava_run() { nice -n 10 "$KFARM" run --backend lava --lava-url "$LAVA_URL" "$@"; }
wait_finished() { # ID: LAVA says Finished within 120s
	for _ in $(seq 240); do
		[ "$(lab_job "$1" | jq -r .state)" = Finished ] && return 0
		sleep 0.5
	done
	return 1
}

# --- kfarm lava-job: what LAVA's own validator accepts ---
"$KFARM" lava-job --arch "${ARCHES[0]}" >"$T/def.yaml"
check "lava-job: a definition for ${ARCHES[0]} on device type qemu" grep -q '^device_type: qemu$' "$T/def.yaml"
jq -Rs '{definition: .}' "$T/def.yaml" | curl -s -X POST -H 'Content-Type: application/json' \
	--data-binary @- "$LAVA_URL/api/v0.2/jobs/validate/" >"$T/valid"
jcheck "lava-job: LAVA's validator says $(jq -r .message "$T/valid")" '.message == "Job valid."' "$T/valid"

# --- an invalid token: clear error, exit 2, nothing started or written ---
before=$(njobs)
echo not-a-token >"$T/badtoken"
lava_run --lava-token-file "$T/badtoken" --kernel "x86_64=$X86" --db "$T/bad.db" 2>"$T/err"
rc=$?
check "invalid token: exit 2 (rc=$rc)" test $rc -eq 2
check "invalid token: says so ($(cat "$T/err"))" grep -q 'refused the token' "$T/err"
check "invalid token: no database written" test ! -e "$T/bad.db"
check "invalid token: no LAVA job submitted" test "$(njobs)" = "$before"
KFARM_LAVA_TOKEN=x lava_run --lava-token "$(cat "$LAVA_TOKEN_FILE")" --kernel "x86_64=$X86" \
	--db "$T/bad.db" 2>"$T/err"
rc=$?
check "token as an argument: refused, exit 2 (rc=$rc)" test $rc -eq 2
check "token as an argument: the error does not echo it" \
	bash -c '! grep -qF "$(cat "$1")" "$2"' _ "$LAVA_TOKEN_FILE" "$T/err"

# --- the matrix through LAVA and directly ---
# the same command line both ways; no_timer_check: x86's IO-APIC timer check
# can panic a TCG guest on a starved host (seen here, direct), not a kfarm fault
MAPPEND="$TOKEN no_timer_check"
t0=$(date +%s.%N)
lava_run --lava-token-file "$LAVA_TOKEN_FILE" "${KERNELS[@]}" -j "$J" --confirm 0 \
	--append "$MAPPEND" --db "$DB" --json >"$T/lava.json" 2>"$T/lava.err"
rc=$?
t1=$(date +%s.%N)
check "LAVA matrix: exit 0 (rc=$rc)" test $rc -eq 0
jcheck "LAVA matrix: every job COMPLETE ($(jq -rc '[.jobs[] | "\(.arch)=\(.outcome)"]' "$T/lava.json"))" \
	'[.jobs[].outcome] | length > 0 and all(. == "COMPLETE")' "$T/lava.json"
# a job not COMPLETE: why, as kfarm and LAVA saw it (what a CI log must show)
jq -r '.jobs[] | select(.outcome != "COMPLETE") | "    \(.arch): \(.outcome): \(.reason)"' "$T/lava.json"
sql "$DB" "SELECT lava_job_id || ' ' || log_path FROM jobs WHERE run_id = $(jq .run "$T/lava.json") AND outcome != 'COMPLETE'" |
while read -r id log; do
	echo "    LAVA job $id: $(lab_job "$id" | jq -c '{state, health, actual_device, submit_time, start_time, end_time}')"
	grep -E '^\[qemu: LAVA job' "$DB.logs/$log" 2>/dev/null | sed 's/^/      /' | head -n 10
	curl -sf -H "$AUTH" "$LAVA_URL/api/v0.2/jobs/$id/logs/" | tail -n 8 | cut -c1-240 | cat -v | sed 's/^/      /'
done
nice -n 10 "$KFARM" run "${KERNELS[@]}" -j "$J" --confirm 0 --append "$MAPPEND" --db "$DB" \
	--json >"$T/direct.json" 2>"$T/direct.err"
rc=$?
t2=$(date +%s.%N)
check "direct matrix: exit 0 (rc=$rc)" test $rc -eq 0
outcomes() { jq -c '[.jobs[] | .arch as $a | .outcome as $o | .results[] | "\($a) \(.test)=\(.status)"] | sort' "$1"; }
check "same per-test outcomes through LAVA and directly ($(outcomes "$T/lava.json" | jq length) results)" \
	test "$(outcomes "$T/lava.json")" = "$(outcomes "$T/direct.json")"
check "results are not empty" test "$(outcomes "$T/lava.json" | jq length)" -gt 0
lrun=$(jq .run "$T/lava.json")
check "every LAVA job's id and URL stored with its kfarm job" test "$(sql "$DB" \
	"SELECT count(*) FROM jobs WHERE run_id = $lrun AND lava_job_id > 0 AND lava_url LIKE '$LAVA_URL/scheduler/job/%'")" \
	= "${#ARCHES[@]}"
ids=$(sql "$DB" "SELECT lava_job_id FROM jobs WHERE run_id = $lrun")
allok=1 healths=
# kfarm is done at the guest's last line; LAVA finishes its own steps after
for id in $ids; do
	wait_finished "$id" || allok=0
	h=$(lab_job "$id" | jq -r '"\(.state)/\(.health)"')
	healths="$healths $id=$h"
	[ "$h" = Finished/Complete ] || allok=0
done
check "LAVA itself calls those jobs Complete (none canceled by kfarm):$healths" test $allok -eq 1
check "the job's QEMU command is LAVA's (from its log)" test "$(sql "$DB" \
	"SELECT count(*) FROM jobs WHERE run_id = $lrun AND qemu_cmdline LIKE '%/var/lib/lava/dispatcher/tmp/%'")" \
	= "${#ARCHES[@]}"
sum() { jq '[.jobs[].duration_s] | add' "$1"; }
ratio=$(jq -n "$(sum "$T/lava.json") / $(sum "$T/direct.json") * 100 | round / 100")
echo "  overhead: per-job duration LAVA $(jq -n "$(sum "$T/lava.json") / ${#ARCHES[@]} | round")s," \
	"direct $(jq -n "$(sum "$T/direct.json") / ${#ARCHES[@]} | round")s: ratio $ratio;" \
	"wall $(printf %.0f "$(echo "$t1 - $t0" | bc)")s vs $(printf %.0f "$(echo "$t2 - $t1" | bc)")s"
sql "$DB" "SELECT arch || ' ' || log_path FROM jobs WHERE run_id = $lrun" | while read -r a log; do
	q=$(grep -ho "after [0-9]*s in LAVA's queue" "$DB.logs/$log" | grep -o '[0-9]\+')
	jq -r --arg a "$a" --arg q "${q:-?}" '.jobs[] | select(.arch == $a) |
		"    \(.arch): LAVA queued \($q)s, boot \(.boot_s // 0 | round)s, total \(.duration_s | round)s"' "$T/lava.json"
done
jq -r '.jobs[] | "    \(.arch): direct boot \(.boot_s // 0 | round)s total \(.duration_s | round)s"' "$T/direct.json"
check "no QEMU left" no_qemu_left

# a guest that reports its plan and then hangs: the job is running when the
# faults below strike (stand-in initramfs, see lib.sh make_initrd)
make_initrd "$T/hang.cpio.gz" <<'C'
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("KTAP version 1\n1..2\nok 1 first\n"); fflush(stdout); for (;;) pause(); }
C
hang_run() { # DB [ARGS]: kfarm's output in $T/hang.json/.err, in the background
	local db=$1; shift
	HANGLOG=$db.logs
	# exec: $! is kfarm itself, not a subshell (which would ignore SIGINT)
	(exec nice -n 10 "$KFARM" run --backend lava --lava-url "$LAVA_URL" \
		--lava-token-file "$LAVA_TOKEN_FILE" --kernel "x86_64=$X86:hang" \
		--initramfs "x86_64=$T/hang.cpio.gz" --tests first,second --confirm 0 \
		--append "$TOKEN" --db "$db" --json "$@" >"$T/hang.json" 2>"$T/hang.err") &
	KPID=$!
}
# the LAVA job of the newest run in DB once LAVA runs it ("" after 120s)
running_job() {
	local id st
	for _ in $(seq 240); do
		id=$(curl -sf -H "$AUTH" "$LAVA_URL/api/v0.2/jobs/?ordering=-id&limit=1" | jq -r '.results[0].id // empty')
		st=$(lab_job "$id" 2>/dev/null | jq -r .state)
		[ "$st" = Running ] && grep -qs "ok 1 first" "$HANGLOG"/run-*/*hang*.log && { echo "$id"; return; }
		sleep 0.5
	done
}

# --- a job canceled in LAVA: the run is interrupted, nothing recorded for it ---
hang_run "$T/cancel.db" --retries 0
id=$(running_job)
check "cancel: the stand-in guest runs as LAVA job ${id:-?}" test -n "$id"
curl -sf -H "$AUTH" "$LAVA_URL/api/v0.2/jobs/$id/cancel/" >/dev/null
wait "$KPID"
rc=$?
check "cancel: kfarm exits 130, interrupted (rc=$rc)" test $rc -eq 130
check "cancel: says the LAVA job was canceled" grep -q "LAVA job $id was canceled in LAVA" "$HANGLOG"/run-*/*hang*.log
check "cancel: run marked interrupted" test "$(sql "$T/cancel.db" "SELECT status FROM runs")" = interrupted
check "cancel: no job recorded for it" test "$(sql "$T/cancel.db" "SELECT count(*) FROM jobs")" = 0
check "cancel: LAVA calls it Canceled" test "$(lab_job "$id" | jq -r .health)" = Canceled
if [ "$rc" != 130 ]; then	# what kfarm and LAVA said, for the log
	tail -n 4 "$T/hang.err" | sed 's/^/    kfarm: /'
	wait_finished "$id"
	echo "    LAVA job $id: $(lab_job "$id" | jq -r '"\(.state)/\(.health)"')"
fi

# --- kfarm interrupted: its LAVA jobs are canceled ---
hang_run "$T/int.db" --retries 0
id=$(running_job)
kill -INT "$KPID"
wait "$KPID"
rc=$?
check "SIGINT: kfarm exits 130 (rc=$rc)" test $rc -eq 130
wait_finished "$id"
check "SIGINT: LAVA job $id canceled by kfarm ($(lab_job "$id" | jq -r .health))" \
	test "$(lab_job "$id" | jq -r .health)" = Canceled
check "SIGINT: no QEMU left once LAVA is done" no_qemu_left

# --- no device free: LAVA's queue is not the kernel's time ---
# one device left Good, held by the stand-in guest; a job behind it waits
# longer than its boot limit, then runs: COMPLETE, its wait in its log
for i in $(seq 2 "${#ARCHES[@]}"); do
	lab_manage devices update --health MAINTENANCE "kfarm-qemu-$i" >/dev/null
done
hang_run "$T/hold.db" --retries 0
hold=$KPID
id=$(running_job)
check "queue: the stand-in guest holds the one device (LAVA job ${id:-?})" test -n "$id"
lava_run --lava-token-file "$LAVA_TOKEN_FILE" --kernel "x86_64=$X86:queued" --confirm 0 \
	--retries 0 --boot-timeout 20 --silence-timeout 20 --append "$MAPPEND" --db "$T/queue.db" \
	--json >"$T/queue.json" 2>"$T/queue.err" &
qpid=$!
sleep 30
kill -INT "$hold"
wait "$hold"
wait "$qpid"
rc=$?
check "queue: queued past its 20s boot limit, then run: exit 0 (rc=$rc)" test $rc -eq 0
jcheck "queue: COMPLETE in one attempt ($(jq -rc '[.jobs[] | .outcome, .attempts, .reason]' "$T/queue.json"))" \
	'.jobs[0].outcome == "COMPLETE" and .jobs[0].attempts == 1' "$T/queue.json"
waited=$(grep -ho "running, after [0-9]*s in LAVA's queue" "$T/queue.db.logs"/run-*/*.log | grep -o '[0-9]\+')
check "queue: its log says it waited ${waited:-?}s in LAVA's queue (at least 25s)" test "${waited:-0}" -ge 25
jcheck "queue: its boot time is the guest's, not the wait ($(jq '.jobs[0].boot_s | round' "$T/queue.json")s)" \
	'.jobs[0].boot_s < 20' "$T/queue.json"
# and its own limit: still queued after --queue-timeout, INFRA_ERROR, retried
hang_run "$T/hold2.db" --retries 0
hold=$KPID
id=$(running_job)
lava_run --lava-token-file "$LAVA_TOKEN_FILE" --kernel "x86_64=$X86:queued" --confirm 0 \
	--retries 1 --queue-timeout 8 --append "$MAPPEND" --db "$T/qlimit.db" \
	--json >"$T/qlimit.json" 2>"$T/qlimit.err"
rc=$?
check "queue limit: exit 3, an infrastructure error (rc=$rc)" test $rc -eq 3
jcheck "queue limit: INFRA_ERROR, retried ($(jq -rc '[.jobs[] | .outcome, .attempts, .reason]' "$T/qlimit.json"))" \
	'.jobs[0].outcome == "INFRA_ERROR" and .jobs[0].attempts == 2 and
	 (.jobs[0].reason | test("still queued for a machine after 8s.*before the VM started"))' "$T/qlimit.json"
check "queue limit: no results stored for it" test "$(sql "$T/qlimit.db" "SELECT count(*) FROM results")" = 0
healths=
for q in $(sql "$T/qlimit.db" "SELECT lava_job_id FROM jobs"); do
	wait_finished "$q"
	healths+=" $(lab_job "$q" | jq -r .health)"
done
check "queue limit: both LAVA jobs canceled by kfarm while queued:$healths" test "$healths" = " Canceled Canceled"
kill -INT "$hold"
wait "$hold"
for i in $(seq 2 "${#ARCHES[@]}"); do
	lab_manage devices update --health GOOD "kfarm-qemu-$i" >/dev/null
done

# --- a worker without the QEMU binary: INFRA_ERROR naming it, retried ---
lab_worker_stop
lab_worker_start unshare -m --propagation private sh -c \
	'mount --bind /dev/null /usr/bin/qemu-system-x86_64 && exec "$@"' sh
lava_run --lava-token-file "$LAVA_TOKEN_FILE" --kernel "x86_64=$X86" --confirm 0 --retries 1 \
	--append "$TOKEN" --db "$T/nobin.db" --json >"$T/nobin.json" 2>"$T/nobin.err"
rc=$?
check "no QEMU binary: exit 3 (rc=$rc)" test $rc -eq 3
jcheck "no QEMU binary: INFRA_ERROR naming qemu-system-x86_64 ($(jq -r '.jobs[0].reason' "$T/nobin.json"))" \
	'.jobs[0].outcome == "INFRA_ERROR" and (.jobs[0].reason | test("qemu-system-x86_64"))' "$T/nobin.json"
jcheck "no QEMU binary: retried once (attempts 2)" '.jobs[0].attempts == 2' "$T/nobin.json"
lab_worker_stop
lab_worker_start

# --- the LAVA server stopped mid-run: INFRA_ERROR, nothing half-written ---
hang_run "$T/down.db" --retries 1
id=$(running_job)
check "server down: LAVA job ${id:-?} running when gunicorn stops" test -n "$id"
lab_gunicorn_stop
wait "$KPID"
rc=$?
check "server down: exit 3 (rc=$rc)" test $rc -eq 3
jcheck "server down: INFRA_ERROR ($(jq -r '.jobs[0].reason' "$T/hang.json"))" \
	'.jobs[0].outcome == "INFRA_ERROR"' "$T/hang.json"
jcheck "server down: retried by kfarm's policy, the retry refused at submission" \
	'.jobs[0].attempts == 2 and (.jobs[0].reason | test("cannot submit to LAVA"))' "$T/hang.json"
check "server down: the first attempt stored as INFRA_ERROR, unreachable named" \
	grep -q unreachable <<<"$(sql "$T/down.db" "SELECT reason FROM jobs WHERE attempt = 1 AND outcome = 'INFRA_ERROR'")"
check "server down: run complete, not left running" test "$(sql "$T/down.db" "SELECT status FROM runs")" = complete
check "server down: database intact" test "$(sql "$T/down.db" "PRAGMA integrity_check")" = ok
check "server down: no latest result from the lost job" test "$(sql "$T/down.db" "SELECT count(*) FROM latest")" = 0

ours="${LAB_PIDS[*]}"
for p in "${LAB_PIDS[@]}"; do ours+=" $(lab_descendants "$p")"; done
lab_stop
left=
for p in $ours; do kill -0 "$p" 2>/dev/null && left+=" $p"; done
check "lab stopped: none of its $(wc -w <<<"$ours") processes left${left:+ (left:$left)}" test -z "$left"
check "lab stopped: its database dropped" \
	bash -c '! runuser -u postgres -- psql -lqt | cut -d"|" -f1 | grep -qw "$1"' _ "kfarm_lava_$$"
check "lab stopped: no QEMU left" no_qemu_left
finish
