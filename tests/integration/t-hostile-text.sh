#!/bin/bash
# A stand-in guest (a static x86_64 /init, booted by the real x86_64 default
# kernel) whose test names, reasons and release carry terminal escapes (OSC 0
# window title, OSC 52 clipboard, CSI cursor-up with a forged "all tests
# passed"), C1 controls, invalid UTF-8 and a 600-byte reason whose byte 512
# is inside a character. kfarm run and status/history/show/regressions, under
# a real terminal (script(1)'s pty): no raw ESC/C1 reaches it; the history
# holds valid UTF-8; the API keeps every key and every regression row.
. "$(dirname "$0")/lib.sh"
echo "t-hostile-text: guest escape sequences and invalid UTF-8"

IMG=$(default_image x86_64 6.1)
[ -n "$IMG" ] || { bad "no x86_64 6.1 default kernel (make images)"; finish; exit 1; }
command -v script >/dev/null || { bad "script(1) from util-linux is missing"; finish; exit 1; }
DB=$T/h.db

# guest MODE: 0 every test passes, 1 three hostile tests fail, 2 a "panic" line
guest() {
	{ echo "#define MODE $1"; cat <<'C'; } | make_initrd "$T/g$1.cpio.gz"
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void)
{
	static char longr[601];
	const char *st = MODE == 1 ? "not ok" : "ok";

	/* 510 bytes, then a 3-byte character over bytes 510..512 */
	memset(longr, 'r', 510);
	memcpy(longr + 510, "\xe2\x82\xac", 3);
	memset(longr + 513, 's', 87);
	printf("# kfarm-init: uname Linux 6.1.0-evil\x1b]0;release-title\x07 #1 x86_64\n");
	printf("WARNING: CPU: 0 PID: 1 at evil.c:1 \x1b]0;warn-title\x07 \xff\n");
	if (MODE == 2)
		printf("Kernel panic - not syncing: \x1b]0;panic-title\x07\x1b[9A\x1b[2Kall tests passed\n");
	printf("KTAP version 1\n1..7\n");
	printf("ok 1 title_\x1b]0;pwned-title\x07\n");
	printf("ok 2 clip # SKIP \x1b]52;c;cHduZWQ=\x07 clipboard\n");
	printf("%s 3 forged_\x1b]0;t3\x07 # \x1b[9A\x1b[2Kall tests passed \xef\xbf\xbe\n", st);
	printf("ok 4 c1_\xc2\x9b" "2J_\xc2\x9d" "0;t\xc2\x9c_raw\x9b" "2J\n");
	printf("%s 5 bad_\xff\xc0\xaf_utf8 # \xed\xa0\x80 surrogate \xf4\x90\x80\x80 del\x7f\n", st);
	printf("%s 6 long # %s\n", st, longr);
	printf("ok 7 plain\n");
	fflush(stdout);
	for (;;)
		pause();
}
C
}
for m in 0 1 2; do guest $m || { bad "cannot build the stand-in guest $m"; finish; exit 1; }; done

# term_clean FILE [ALLOW]: FILE, a terminal capture, is valid UTF-8 and holds
# no control character but CR, LF and tab, no DEL, no C1 control; ALLOW (a
# regex) names kfarm's own progress-redraw sequences, removed first
term_clean() {
	python3 - "$1" "${2:-}" <<'PY'
import re, sys
data = open(sys.argv[1], 'rb').read()
if sys.argv[2]:
    data = re.sub(sys.argv[2].encode(), b'', data)
try:
    text = data.decode('utf-8')
except UnicodeDecodeError as e:
    sys.exit(f"    not UTF-8: {e}")
bad = sorted({hex(ord(c)) for c in text
              if (ord(c) < 0x20 and c not in '\r\n\t') or 0x7f <= ord(c) <= 0x9f})
if bad:
    sys.exit(f"    raw controls reached the terminal: {' '.join(bad)}")
PY
}
# under_tty OUT CMD...: runs CMD on a pseudo-terminal, its output into OUT
under_tty() {
	local out=$1; shift
	script -q -e -c "$(printf '%q ' "$@")" /dev/null </dev/null >"$out"
}
run() { "$KFARM" run --db "$DB" --append "$TOKEN" --tests plain --confirm 0 "$@"; }
REDRAW='\x1b\[2K|\x1b\[[1-3]A'	# kfarm's own progress table, one job

run --tree hostile --kernel "x86_64=$IMG:A" --initramfs "x86_64=$T/g0.cpio.gz" \
	>"$T/a.out" 2>&1
rc=$?
check "A: every hostile test passes, exit 0 (rc=$rc)" test $rc -eq 0
under_tty "$T/run.tty" "$KFARM" run --db "$DB" --append "$TOKEN" --tests plain --confirm 0 \
	--tree hostile --kernel "x86_64=$IMG:B" --initramfs "x86_64=$T/g1.cpio.gz"
rc=$?
check "B under a terminal: exit 1, tests failed (rc=$rc)" test $rc -eq 1
check "B: kfarm run's progress and summary: no raw ESC/C1 (only its own redraw)" \
	term_clean "$T/run.tty" "$REDRAW"
check "B: the forged line is shown with its escape, visibly" \
	grep -qF '\x1b[9A\x1b[2Kall tests passed' "$T/run.tty"
check "B: summary lists the 3 regressions" \
	test "$(grep -c '^  regression ' "$T/run.tty")" = 3
# progress lines (stderr not a terminal, as in CI logs) shown on a terminal
under_tty "$T/panic.tty" sh -c "$(printf '%q ' "$KFARM" run --db "$DB" --append "$TOKEN" \
	--tests plain --confirm 0 --tree panic --kernel "x86_64=$IMG:C" \
	--initramfs "x86_64=$T/g2.cpio.gz") 2>&1 | cat"
check "C: the panic line's reason in the progress lines, rendered" \
	grep -qF 'PANIC: Kernel panic - not syncing: \x1b]0;panic-title\x07\x1b[9A' "$T/panic.tty"
check "C: progress lines and summary: no raw ESC/C1" term_clean "$T/panic.tty"

JOB=$(sql "$DB" "SELECT j.id FROM jobs j JOIN candidates c ON c.id = j.candidate_id WHERE c.label = 'B'")
for q in status history "show $JOB" "regressions --tree hostile"; do
	# shellcheck disable=SC2086
	under_tty "$T/q.tty" "$KFARM" $q --db "$DB"
	check "kfarm $q: no raw ESC/C1 on the terminal" term_clean "$T/q.tty"
	check "kfarm $q: the hostile text is there, escaped" grep -qE '\\x1b|\\u009b|\\x07' "$T/q.tty"
done
under_tty "$T/reg.tty" "$KFARM" regressions --db "$DB" --tree hostile
rc=$?
check "kfarm regressions: exit 1, open regressions (rc=$rc)" test $rc -eq 1
check "kfarm regressions: all 3 regressed tests listed ($(grep -c '^regression ' "$T/reg.tty"))" \
	test "$(grep -c '^regression ' "$T/reg.tty")" = 3
under_tty "$T/log.tty" "$KFARM" show "$JOB" --db "$DB"
check "kfarm show: the console log is shown, escaped" \
	grep -qF 'ok 1 title_\x1b]0;pwned-title\x07' "$T/log.tty"
under_tty "$T/json.tty" "$KFARM" show "$JOB" --db "$DB" --json
check "kfarm show --json on a terminal: no raw ESC/C1/DEL" term_clean "$T/json.tty"
check "kfarm show --json on a terminal: still JSON, all 7 results" \
	sh -c "tr -d '\r' <'$T/json.tty' | jq -e '.results | length == 7' >/dev/null"
log=$DB.logs/$(sql "$DB" "SELECT log_path FROM jobs WHERE id = $JOB")
check "the log file keeps the raw bytes" grep -qF $'\x1b]0;pwned-title\x07' "$log"

check "the history holds valid UTF-8 only" python3 - "$DB" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
con.text_factory = bytes
bad = 0
for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
    for row in con.execute(f'SELECT * FROM "{t.decode()}"'):
        for v in row:
            if isinstance(v, bytes):
                try:
                    v.decode('utf-8')
                except UnicodeDecodeError:
                    bad += 1
                    print(f"    {t.decode()}: not UTF-8: {v[:60]!r}")
sys.exit(1 if bad else 0)
PY
check "the 600-byte reason stored as its first 510 bytes (cut before the character)" \
	test "$(sql "$DB" "SELECT length(CAST(reason AS BLOB)) FROM results WHERE job_id = $JOB AND test = 'long'")" = 510

start_serve "$DB" || bad "kfarm serve did not start"
curl -s "$URL/api/jobs/$JOB" >"$T/job.json"
jcheck "/api/jobs/$JOB: 7 results, each with its test and status" \
	'.results | length == 7 and all(has("test") and has("status"))' "$T/job.json"
jcheck "/api/jobs/$JOB: the 3 failures keep their reasons, the long one 510 characters" \
	'[.results[] | select(.status == "FAIL")] | length == 3 and all(has("reason")) and
	 (map(select(.test == "long"))[0].reason | length) == 510' "$T/job.json"
jcheck "/api/jobs/$JOB: release, warning and reason keys kept" \
	'has("release") and has("warning") and (.release | test("evil"))' "$T/job.json"
curl -s "$URL/api/regressions?tree=hostile" >"$T/reg.json"
jcheck "/api/regressions: the 3 regression rows, reasons kept" \
	'[.regressions[] | select(.kind == "regression")] | length == 3 and all(has("reason"))' "$T/reg.json"
curl -s "$URL/metrics" >"$T/metrics"
check "/metrics: 3 open regressions ($(grep '^kfarm_open_regressions' "$T/metrics"))" \
	grep -qx 'kfarm_open_regressions 3' "$T/metrics"
stop_serve

run_b=$(sql "$DB" "SELECT j.run_id FROM jobs j WHERE j.id = $JOB")
"$KFARM" export --db "$DB" --junit "$T/junit.xml" --run "$run_b"
check "JUnit export of the hostile run validates (xmllint)" \
	xmllint --noout --schema "$TOP/tests/data/junit.xsd" "$T/junit.xml"
"$KFARM" export --db "$DB" --kcidb "$T/kcidb.json" --run "$run_b"
jcheck "KCIDB export keeps all 8 tests, paths in KCIDB's pattern" \
	'.tests | length == 8 and all(.path | test("^([a-zA-Z0-9_-]+([.][a-zA-Z0-9_-]+)*)?$"))' "$T/kcidb.json"
check "no QEMU left" no_qemu_left
finish
