#!/bin/bash
# A history database is untrusted input: copied, shared or edited. Crafted
# copies of a real kfarm database (sqlite3 CLI) against a real `kfarm serve`
# over loopback and the CLI: log rows naming /etc/passwd, a symlink, a FIFO
# or ../; invalid UTF-8 and NULL statuses; an attacker's view. No crash, a
# clear error, nothing outside the logs directory served, SIGTERM still stops
# the server with a FIFO request in flight.
. "$(dirname "$0")/lib.sh"
echo "t-hostile-db: crafted databases against kfarm serve and the CLI"

IMG=$(default_image x86_64 6.1)
[ -n "$IMG" ] || { bad "no x86_64 6.1 default kernel (make images)"; finish; exit 1; }

# a stand-in guest (not kfarm's suite): two tests, the second failing when told
make_initrd "$T/guest.cpio.gz" <<'C'
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void) {
	char cmd[4096] = "";
	mkdir("/proc", 0555);
	mount("proc", "/proc", "proc", 0, NULL);
	FILE *f = fopen("/proc/cmdline", "r");
	if (f) { if (!fgets(cmd, sizeof(cmd), f)) cmd[0] = 0; fclose(f); }
	printf("KTAP version 1\n# kfarm-init: stand-in guest\n1..2\nok 1 alpha\n%s 2 beta\n",
	       strstr(cmd, "kfarm.opt=fail") ? "not ok" : "ok");
	fflush(stdout);
	for (;;) pause();
}
C
BASE=$T/base.db
run() { "$KFARM" run --db "$BASE" --initramfs "x86_64=$T/guest.cpio.gz" --tests alpha,beta \
	--tree hx --confirm 0 --json "$@" >/dev/null 2>>"$T/run.err"; }
run --kernel "x86_64=$IMG:A" --append "$TOKEN"
run --kernel "x86_64=$IMG:B" --append "kfarm.opt=fail $TOKEN"
check "base database: two runs, a regression (alpha/beta PASS -> beta FAIL)" \
	test "$("$KFARM" regressions --db "$BASE" --json | jq -r '[.regressions[].kind] | join(",")')" = regression
check "base database: the console log is served" bash -c \
	"$(declare -f start_serve free_port); KFARM='$KFARM' T='$T'; start_serve '$BASE' && \
	 curl -s \"\$URL/api/jobs/2/log\" | grep -q 'not ok 2 beta'; kill \$SERVE_PID"

# craft NAME SQL: a copy of the base database (and its logs) edited as given
craft() {
	rm -rf "$T/$1.db" "$T/$1.db.logs"
	cp "$BASE" "$T/$1.db"
	sqlite3 -batch "$T/$1.db" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
	cp -r "$BASE.logs" "$T/$1.db.logs" 2>/dev/null || mkdir -p "$T/$1.db.logs/run-1"
	sqlite3 -batch "$T/$1.db" "$2" || bad "crafting $1"
	DB=$T/$1.db LOGS=$T/$1.db.logs
}
# code URL: HTTP status (000 when no answer within 5 s); body in $T/body
code() { curl -s -m 5 -o "$T/body" -w '%{http_code}' "$1"; }
alive() { kill -0 "$SERVE_PID" 2>/dev/null; }
# SIGTERM, then SIGKILL if it did not end within 5 s (a stuck server is a failure)
stop() {
	kill -TERM "$SERVE_PID" 2>/dev/null
	for _ in $(seq 50); do alive || break; sleep 0.1; done
	alive && { bad "kfarm serve ignored SIGTERM for 5 s ($1)"; kill -KILL "$SERVE_PID"; }
	wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
}

# --- console log rows naming files outside the logs directory ---
LOGS=$T/logs.db.logs
craft logs "UPDATE jobs SET log_path = '/etc/passwd' WHERE id = 1;
	UPDATE jobs SET log_path = '$LOGS/run-1/evil.log' WHERE id = 2;"
ln -s /etc/passwd "$LOGS/run-1/evil.log"
start_serve "$DB" || bad "serve did not start"
c=$(code "$URL/api/jobs/1/log")
check "log_path = /etc/passwd: refused ($c), a JSON error, not the file" \
	bash -c "[ $c = 403 ] && jq -e '.error | test(\"outside the logs directory\")' '$T/body' >/dev/null && ! grep -q root: '$T/body'"
c=$(code "$URL/api/jobs/2/log")
check "log_path = a symlink to /etc/passwd in the logs dir: refused ($c), not the file" \
	bash -c "[ $c = 403 ] && jq -e '.error | test(\"symlink\")' '$T/body' >/dev/null && ! grep -q root: '$T/body'"
"$KFARM" show 1 --db "$DB" >"$T/show.out" 2>"$T/show.err"; rc=$?
check "kfarm show: exit 3 ($rc), a clear error, no /etc/passwd printed" \
	bash -c "[ $rc = 3 ] && grep -q 'outside the logs directory' '$T/show.err' && ! grep -q root: '$T/show.out'"
sqlite3 "$DB" "UPDATE jobs SET log_path = '../../../../../../../etc/passwd' WHERE id = 1"
c=$(code "$URL/api/jobs/1/log")
check "log_path = ../ traversal: refused ($c), not the file" \
	bash -c "[ $c = 403 ] && ! grep -q root: '$T/body'"
sqlite3 "$DB" "UPDATE jobs SET log_path = '$LOGS/../../../../../../etc/passwd' WHERE id = 1"
c=$(code "$URL/api/jobs/1/log")
check "log_path = logs dir + ../ traversal: refused ($c), not the file" \
	bash -c "[ $c = 403 ] && ! grep -q root: '$T/body'"
mkfifo "$LOGS/run-1/fifo.log"
sqlite3 "$DB" "UPDATE jobs SET log_path = '$LOGS/run-1/fifo.log' WHERE id = 1"
curl -s -m 20 -o "$T/fifo.body" -w '%{http_code}' "$URL/api/jobs/1/log" >"$T/fifo.code" &
cpid=$!
sleep 1
kill -TERM "$SERVE_PID"
for _ in $(seq 50); do alive || break; sleep 0.1; done
check "FIFO request in flight: SIGTERM stops kfarm serve within 5 s" bash -c "! kill -0 $SERVE_PID 2>/dev/null"
wait "$cpid"
check "FIFO log: refused at once ($(cat "$T/fifo.code")), not waited on" \
	bash -c "[ \"\$(cat '$T/fifo.code')\" = 403 ] && jq -e '.error | test(\"not a regular file\")' '$T/fifo.body' >/dev/null"
kill -KILL "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
timeout 10 "$KFARM" show 1 --db "$DB" >/dev/null 2>"$T/show.err"; rc=$?
check "kfarm show on the FIFO: refused at once, exit 3 ($rc)" \
	bash -c "[ $rc = 3 ] && grep -q 'not a regular file' '$T/show.err'"

# --- a tree name that is invalid UTF-8 (after a valid one) ---
craft utf "UPDATE candidates SET tree = CAST(X'ff6878' AS TEXT) WHERE label = 'B';"
start_serve "$DB" || bad "serve did not start"
c=$(code "$URL/api/trees")
check "invalid UTF-8 tree: /api/trees answers 200 ($c), the name repaired (U+FFFD), not dropped" \
	bash -c "[ $c = 200 ] && jq -e '[.trees[] | \"\\(.tree)=\\(.candidates | length)\"] == [\"hx=1\", \"\\ufffdhx=1\"]' '$T/body' >/dev/null"
c=$(code "$URL/api/status")
check "invalid UTF-8 tree: /api/status still 200 ($c)" test "$c" = 200
check "invalid UTF-8 tree: server alive" alive
stop "invalid UTF-8 tree"

# --- a reason that is invalid UTF-8 (as older kfarms cut it mid-character) ---
# (the read side reads the summaries kept by store_job: edited there too)
craft utfr "UPDATE results SET reason = CAST(X'6375742061742063e2' AS TEXT)
	WHERE job_id = 2 AND test = 'beta';
	UPDATE sum_cand_test SET reason = CAST(X'6375742061742063e2' AS TEXT)
	WHERE test = 'beta' AND job = 2;
	UPDATE sum_change SET reason = CAST(X'6375742061742063e2' AS TEXT)
	WHERE test = 'beta' AND to_job = 2;
	UPDATE sum_matrix SET reason = CAST(X'6375742061742063e2' AS TEXT)
	WHERE test = 'beta' AND job = 2;"
start_serve "$DB" || bad "serve did not start"
c=$(code "$URL/api/regressions")
check "invalid UTF-8 reason: /api/regressions keeps the regression ($c), reason repaired" \
	bash -c "[ $c = 200 ] && jq -e '[.regressions[] | \"\\(.kind) \\(.test) \\(.reason)\"] == [\"regression beta cut at c\\ufffd\"]' '$T/body' >/dev/null"
c=$(code "$URL/metrics")
check "invalid UTF-8 reason: /metrics counts the open regression ($c)" \
	bash -c "[ $c = 200 ] && grep -qx 'kfarm_open_regressions 1' '$T/body'"
stop "invalid UTF-8 reason"
"$KFARM" regressions --db "$DB" >/dev/null 2>&1; rc=$?
check "invalid UTF-8 reason: kfarm regressions exits 1, a regression is open ($rc)" test "$rc" = 1

# --- NULL statuses: the schema left as kfarm made it, the data edited (a
# writable_schema detour, as a hex editor would) ---
craft null "PRAGMA writable_schema = ON;
	UPDATE sqlite_master SET sql = replace(sql, 'status TEXT NOT NULL', 'status TEXT')
	WHERE name = 'results';"
sql "$DB" "UPDATE results SET status = NULL WHERE job_id = 2 AND test = 'beta';"
sql "$DB" "PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = replace(sql,
	'status TEXT CHECK', 'status TEXT NOT NULL CHECK') WHERE name = 'results';"
# the same in the summary the read side reads (its status: NULL with a count)
sql "$DB" "PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = replace(sql,
	'npass INTEGER NOT NULL', 'npass INTEGER') WHERE name = 'sum_cand_test';"
sql "$DB" "UPDATE sum_cand_test SET npass = NULL WHERE test = 'beta' AND job = 2;"
sql "$DB" "PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = replace(sql,
	'npass INTEGER,', 'npass INTEGER NOT NULL,') WHERE name = 'sum_cand_test';"
# and in the copies the latest changes and the matrix are read from
sql "$DB" "UPDATE sum_change SET to_status = NULL WHERE test = 'beta' AND to_job = 2;
	UPDATE sum_matrix SET status = NULL WHERE test = 'beta' AND job = 2;"
start_serve "$DB" || bad "serve did not start"
for u in /metrics /api/regressions /api/matrix; do
	c=$(code "$URL$u")
	check "NULL status: $u a clear 500 ($c), server alive" \
		bash -c "[ $c = 500 ] && grep -q 'damaged' '$T/body' && kill -0 $SERVE_PID"
done
c=$(code "$URL/api/jobs/2")
check "NULL status: /api/jobs/2 shows it as null ($c)" \
	bash -c "[ $c = 200 ] && jq -e '[.results[] | select(.test == \"beta\") | .status] == [null]' '$T/body' >/dev/null"
stop "NULL status"
"$KFARM" regressions --db "$DB" >/dev/null 2>"$T/reg.err"; rc=$?
check "NULL status: kfarm regressions exits 3 ($rc) with a clear error, no crash" \
	bash -c "[ $rc = 3 ] && grep -q 'damaged' '$T/reg.err'"

# --- the attacker's view ('latest' replaced by a query that never ends) and
# trigger: the edited schema is refused at open ---
craft view "DROP TABLE latest; CREATE VIEW latest AS WITH RECURSIVE c(x) AS
	(SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT 'x86_64' AS arch, 'alpha' AS test,
	x AS result_id FROM c WHERE x < 0;
	CREATE TRIGGER t AFTER INSERT ON runs BEGIN DELETE FROM results; END;"
port=$(free_port)
timeout 10 "$KFARM" serve --db "$DB" --listen "127.0.0.1:$port" 2>"$T/serve.err"; rc=$?
check "attacker's view: kfarm serve refuses the database at start (exit $rc), naming the view" \
	bash -c "[ $rc = 2 ] && grep -q \"view 'latest' is not kfarm's\" '$T/serve.err'"
# the same edit made while the server runs: answered at once, never run
craft view2 "CREATE TEMP TABLE unused (x);"
start_serve "$DB" || bad "serve did not start"
code "$URL/api/status" >/dev/null
sql "$DB" "DROP TABLE latest; CREATE VIEW latest AS WITH RECURSIVE c(x) AS
	(SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT 'x86_64' AS arch, 'alpha' AS test,
	x AS result_id FROM c WHERE x < 0;"
for i in 1 2 3 4; do
	c=$(code "$URL/api/status")
	check "view added under a running server: /api/status answers an error at once ($c)" \
		bash -c "[ $c = 500 ] || [ $c = 503 ]"
done
check "view added under a running server: server alive" alive
stop "view added under a running server"
timeout 10 "$KFARM" status --db "$DB" >/dev/null 2>"$T/st.err"; rc=$?
check "attacker's view: kfarm status exits 3 ($rc) at once, naming the view" \
	bash -c "[ $rc = 3 ] && grep -q \"view 'latest' is not kfarm's\" '$T/st.err'"

# --- issue 10: a dead run whose PID now belongs to a live kfarm serve ---
DB=$T/stale.db
# under TCG: with KVM the stand-in guest may be done before the kill below
"$KFARM" run --db "$DB" --initramfs "x86_64=$T/guest.cpio.gz" --tests alpha,beta,never \
	--kernel "x86_64=$IMG:S" --confirm 0 --accel tcg --append "$TOKEN" >/dev/null 2>&1 &
kp=$!
for _ in $(seq 100); do pgrep -f "$TOKEN" >/dev/null && break; sleep 0.1; done
# killed while its QEMU boots (the stand-in guest's document ends the job
# within about a second of the boot)
sleep 0.2
kill -9 $kp; wait $kp 2>/dev/null
start_serve "$BASE" || bad "serve did not start"
sql "$DB" "UPDATE runs SET pid = $SERVE_PID WHERE id = 1"	# as if the PID were recycled
check "stale run: its PID is now a live process named kfarm" grep -q '^kfarm' "/proc/$SERVE_PID/comm"
"$KFARM" run --db "$DB" --initramfs "x86_64=$T/guest.cpio.gz" --tests alpha,beta \
	--kernel "x86_64=$IMG:S2" --confirm 0 --append "$TOKEN" >/dev/null 2>"$T/stale.err"
check "stale run: the next kfarm run marks it interrupted ($(sql "$DB" "SELECT status FROM runs WHERE id = 1"))" \
	test "$(sql "$DB" "SELECT status FROM runs WHERE id = 1")" = interrupted
stop "stale run"

check "no QEMU left" no_qemu_left
finish
