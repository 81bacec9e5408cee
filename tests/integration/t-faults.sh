#!/bin/bash
# Guests that hang, panic, flood or never start; kfarm killed mid-run. Every
# outcome classified, the database consistent, no QEMU left behind.
. "$(dirname "$0")/lib.sh"
echo "t-faults: hang, panic, flood, QEMU killed, kfarm killed"

IMG=$(default_image x86_64 6.1)
[ -n "$IMG" ] || { bad "no x86_64 6.1 default kernel (make images)"; finish; exit 1; }
DB=$T/f.db

# a guest that prints the KTAP header and then hangs
make_initrd "$T/hang.cpio.gz" <<'C'
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("KTAP version 1\n# kfarm-init: stand-in guest\n1..2\nok 1 first\n"); fflush(stdout); for (;;) pause(); }
C
"$KFARM" run --db "$DB" --kernel "x86_64=$IMG:hang" --initramfs "x86_64=$T/hang.cpio.gz" \
	--tests first,second --silence-timeout 5 --append "$TOKEN" --json >"$T/out" 2>/dev/null
rc=$?
check "hang: exit 1 (rc=$rc)" test $rc -eq 1
jcheck "hang: TIMEOUT, silence named" '.jobs[0].outcome == "TIMEOUT" and (.jobs[0].reason | test("silent for 5s"))' "$T/out"
jcheck "hang: the test that never reported is MISSING, the first PASS" \
	'[.jobs[0].results[] | "\(.test)=\(.status)"] == ["first=PASS", "second=MISSING"]' "$T/out"
jcheck "hang: took about the limit, not more ($(jq .jobs[0].duration_s "$T/out")s)" \
	'.jobs[0].duration_s < 30' "$T/out"
check "hang: no QEMU left" no_qemu_left

# a kernel that panics: bogus rdinit=
"$KFARM" run --db "$DB" --kernel "x86_64=$IMG:panic" --append "rdinit=/no/such/init $TOKEN" \
	--json >"$T/out" 2>/dev/null
rc=$?
check "panic: exit 1 (rc=$rc)" test $rc -eq 1
jcheck "panic: PANIC with the panic line quoted ($(jq -r .jobs[0].reason "$T/out"))" \
	'.jobs[0].outcome == "PANIC" and (.jobs[0].reason | test("Kernel panic - not syncing"))' "$T/out"
jcheck "panic: every test MISSING, none passed" \
	'[.jobs[0].results[] | .status] | (length > 0 and all(. == "MISSING"))' "$T/out"
check "panic: no QEMU left" no_qemu_left

# a guest that floods the console: the log is bounded and marked, memory too
make_initrd "$T/flood.cpio.gz" <<'C'
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void) {
	static char line[1024];
	memset(line, 'x', sizeof(line) - 1); line[sizeof(line) - 2] = '\n';
	printf("KTAP version 1\n# kfarm-init: stand-in guest\n1..1\n"); fflush(stdout);
	for (long i = 0; i < 40L * 1024; i++) fputs(line, stdout);   /* 40 MB */
	printf("ok 1 flood\n"); fflush(stdout);
	for (;;) pause();
}
C
"$KFARM" run --db "$DB" --kernel "x86_64=$IMG:flood" \
	--initramfs "x86_64=$T/flood.cpio.gz" --tests flood --append "$TOKEN" --json >"$T/out" 2>/dev/null &
peak_anon $! >"$T/rss"
wait
log=$DB.logs/$(sql "$DB" "SELECT log_path FROM jobs ORDER BY id DESC LIMIT 1")
jcheck "flood: COMPLETE" '.jobs[0].outcome == "COMPLETE"' "$T/out"
check "flood: log capped at 16 MiB ($(stat -c %s "$log") bytes)" test "$(stat -c %s "$log")" -lt $((17 << 20))
check "flood: log ends with the truncation marker" grep -q 'console log truncated here' "$log"
limit=8192	# KiB; an ASan build carries its shadow memory
[ -n "${ASAN_OPTIONS:-}" ] && limit=65536
check "flood: kfarm's anonymous memory bounded under 40 MB of console ($(cat "$T/rss") KiB < $limit)" \
	test "$(cat "$T/rss")" -lt $limit

# QEMU killed from outside: an infrastructure error, retried once
"$KFARM" run --db "$DB" --kernel "x86_64=$IMG:killed" --initramfs "x86_64=$T/hang.cpio.gz" \
	--tests first,second --append "$TOKEN" --retries 1 --json >"$T/out" 2>/dev/null &
kp=$!
# each attempt's own QEMU (not kfarm, whose argv has the token too; not the
# last attempt's, dying), killed 1 s after it started
prev=
for i in 1 2; do
	q=
	for _ in $(seq 100); do
		q=$(pgrep -f "qemu-system.*$TOKEN" | grep -vx "${prev:-none}" | head -n1)
		[ -n "$q" ] && break
		sleep 0.1
	done
	sleep 1
	[ -n "$q" ] && kill -KILL "$q"
	prev=$q
done
wait $kp; rc=$?
check "QEMU killed: exit 3, infrastructure (rc=$rc)" test $rc -eq 3
jcheck "QEMU killed: INFRA_ERROR after 2 attempts" \
	'.jobs[0].outcome == "INFRA_ERROR" and .jobs[0].attempts == 2 and (.jobs[0].reason | test("killed by signal 9"))' "$T/out"
# what the guest reported before the kill may be kept (a PASS is true); no
# FAIL or MISSING, and nothing of it in the latest results
check "QEMU killed: no test recorded as a failure, none as the latest result" \
	test "$(sql "$DB" "SELECT count(*) FROM results r JOIN jobs j ON j.id=r.job_id JOIN candidates c ON c.id=j.candidate_id
		WHERE c.label='killed' AND (r.status <> 'PASS' OR r.id IN (SELECT result_id FROM latest))")" = 0

# kfarm SIGKILLed mid-run: QEMU dies with it, DB intact, run marked later
"$KFARM" run --db "$DB" --kernel "x86_64=$IMG:k9a" --kernel "x86_64=$IMG:k9b" --initramfs "x86_64=$T/hang.cpio.gz" \
	--tests first,second --jobs 2 --append "$TOKEN" >/dev/null 2>&1 &
kp=$!
for _ in $(seq 100); do pgrep -f "$TOKEN" >/dev/null && break; sleep 0.1; done
sleep 2
kill -9 $kp; wait $kp 2>/dev/null
sleep 0.5
check "kill -9: no QEMU survives" no_qemu_left
check "kill -9: database passes integrity_check" test "$(sql "$DB" "PRAGMA integrity_check")" = ok
run=$(sql "$DB" "SELECT max(id) FROM runs")
check "kill -9: run $run still says running" test "$(sql "$DB" "SELECT status FROM runs WHERE id=$run")" = running
"$KFARM" run --db "$DB" --kernel "x86_64=$IMG:after" --tests sysinfo --append "$TOKEN" >/dev/null 2>"$T/err"
check "kill -9: next start marks run $run interrupted" test "$(sql "$DB" "SELECT status FROM runs WHERE id=$run")" = interrupted
check "kill -9: and says so ($(grep interrupted "$T/err"))" grep -q "run $run was interrupted" "$T/err"
check "kill -9: earlier completed jobs intact" test "$(sql "$DB" "SELECT count(*) FROM jobs j JOIN candidates c ON c.id=j.candidate_id WHERE c.label='flood' AND j.outcome='COMPLETE'")" = 1

# Ctrl-C: clean stop, exit 130
"$KFARM" run --db "$DB" --kernel "x86_64=$IMG:int" --initramfs "x86_64=$T/hang.cpio.gz" \
	--tests first,second --append "$TOKEN" >/dev/null 2>&1 &
kp=$!
for _ in $(seq 100); do pgrep -f "$TOKEN" >/dev/null && break; sleep 0.1; done
sleep 1
kill -INT $kp; wait $kp; rc=$?
check "SIGINT: exit 130 (rc=$rc)" test $rc -eq 130
check "SIGINT: run marked interrupted" test "$(sql "$DB" "SELECT status FROM runs ORDER BY id DESC LIMIT 1")" = interrupted
check "SIGINT: no QEMU left" no_qemu_left
finish
