#!/bin/bash
# The store and the endpoint under hostile conditions: a locked database, a
# full filesystem, thousands of connections, malformed and oversized
# requests, path traversal, kill -9 of serve. Nothing lost, clear errors.
. "$(dirname "$0")/lib.sh"
echo "t-stress: locked and full databases, 5000 connections, bad requests"

IMG=$(default_image x86_64 6.1)
[ -n "$IMG" ] || { bad "no x86_64 6.1 default kernel (make images)"; finish; exit 1; }
DB=$T/s.db
"$KFARM" run --db "$DB" --kernel "x86_64=$IMG:first" --tests sysinfo --append "$TOKEN" >/dev/null 2>&1
check "a first run is stored" test "$(sql "$DB" "SELECT count(*) FROM jobs")" = 1

# another writer holds the database: kfarm waits (bounded), then says so
sqlite3 "$DB" "BEGIN EXCLUSIVE; SELECT 1; SELECT sleep(30);" >/dev/null 2>&1 &
python3 - "$DB" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
time.sleep(20)
PY
locker=$!
sleep 0.5
start=$(date +%s)
"$KFARM" run --db "$DB" --kernel "x86_64=$IMG:locked" --tests sysinfo --append "$TOKEN" >/dev/null 2>"$T/err"
rc=$? took=$(( $(date +%s) - start ))
check "locked database: non-zero exit ($rc) after a bounded wait (${took}s)" bash -c "[ $rc -ne 0 ] && [ $took -le 15 ]"
check "locked database: says so ($(head -1 "$T/err"))" grep -q "is locked by another writer" "$T/err"
kill $locker 2>/dev/null; wait $locker 2>/dev/null
check "locked database: first run intact" test "$(sql "$DB" "SELECT count(*) FROM jobs")" = 1

# a full filesystem: the job that cannot be stored is reported, nothing half-written
mkdir "$T/full"
if mount -t tmpfs -o size=2m tmpfs "$T/full" 2>/dev/null; then
	"$KFARM" run --db "$T/full/f.db" --kernel "x86_64=$IMG:ok" --tests sysinfo --append "$TOKEN" >/dev/null 2>&1
	dd if=/dev/zero of="$T/full/filler" bs=4k 2>/dev/null
	"$KFARM" run --db "$T/full/f.db" --kernel "x86_64=$IMG:nospace" --append "$TOKEN" >/dev/null 2>"$T/err"
	rc=$?
	check "full filesystem: non-zero exit ($rc)" test $rc -ne 0
	check "full filesystem: a clear error ($(grep -m1 -E 'full|space' "$T/err"))" grep -qE "disk full|No space left" "$T/err"
	rm -f "$T/full/filler"
	check "full filesystem: database passes integrity_check" test "$(sql "$T/full/f.db" "PRAGMA integrity_check")" = ok
	check "full filesystem: the earlier job intact, no half-stored one" \
		test "$(sql "$T/full/f.db" "SELECT group_concat(c.label) FROM jobs j JOIN candidates c ON c.id=j.candidate_id")" = ok
	check "full filesystem: no orphan results" \
		test "$(sql "$T/full/f.db" "SELECT count(*) FROM results WHERE job_id NOT IN (SELECT id FROM jobs)")" = 0
	umount "$T/full"
else
	echo "  (skipped: cannot mount a tmpfs here)"
fi

# the endpoint: many connections, bad requests, traversal, then kill -9
start_serve "$DB" || bad "kfarm serve did not start"
python3 - "${URL#http://}" >"$T/conns" <<'PY'
import socket, sys, time
host, port = sys.argv[1].split(":")
socks, refused = [], 0
for i in range(5000):
    try:
        s = socket.create_connection((host, int(port)), timeout=5)
        socks.append(s)
    except OSError:
        refused += 1
# half send nothing, the other half a request split in two
ok = 0
for s in socks[::2]:
    try:
        s.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\n")
    except OSError:
        pass
time.sleep(1)
for s in socks:
    s.close()
print(len(socks), refused)
PY
read -r opened refused <"$T/conns"
echo "    5000 connections: $opened opened, $refused refused"
check "5000 concurrent connections: server still answers" bash -c "curl -s -m 5 -o /dev/null -w '%{http_code}' '$URL/api/status' | grep -q 200"
big=$(head -c 60000 /dev/zero | tr '\0' a)
printf 'X-Big: %s\n' "$big" >"$T/hdr"
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H "@$T/hdr" "$URL/api/status")
check "oversized header refused ($code)" bash -c "[ '$code' = 431 ] || [ '$code' = 413 ] || [ '$code' = 400 ] || [ '$code' = 000 ]"
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$URL/api/history?arch=$big")
check "oversized query refused ($code)" bash -c "[ '$code' = 400 ] || [ '$code' = 414 ] || [ '$code' = 431 ] || [ '$code' = 000 ]"
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST --data-binary "@$TOP/README.md" "$URL/api/status")
check "POST with a body refused ($code)" bash -c "[ '$code' = 405 ] || [ '$code' = 413 ]"
printf 'GARBAGE\r\n\r\n' | timeout 5 python3 -c "
import socket,sys; h,p=sys.argv[1].split(':'); s=socket.create_connection((h,int(p))); s.sendall(sys.stdin.buffer.read()); print(s.recv(100)[:12])" "${URL#http://}" >"$T/garbage" 2>&1
check "malformed request line: a 4xx or the connection closed ($(cat "$T/garbage"))" grep -qE "HTTP/1.1 4|^b''$" "$T/garbage"
for p in '/../../etc/passwd' '/%2e%2e/%2e%2e/etc/passwd' '/api/jobs/1/../../../etc/passwd' '/api/jobs/..%2f..%2fetc%2fpasswd/log' '/web/../README.md'; do
	body=$(curl -s -m 5 --path-as-is "$URL$p")
	check "traversal $p refused" bash -c "! grep -q 'root:' <<<'$body' && ! grep -q kfarm <<<'${body:0:20}'"
done
check "server still healthy after all that" bash -c "curl -s -m 5 '$URL/api/runs' | jq -e 'length >= 1' >/dev/null"
rss=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVE_PID/status")
check "serve's peak RSS stayed bounded ($rss KiB)" test "$rss" -lt 131072
kill -9 "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
check "kill -9 of serve: database passes integrity_check" test "$(sql "$DB" "PRAGMA integrity_check")" = ok
start_serve "$DB" && ok "serve restarts on the same database and port choice" || bad "serve did not restart"
stop_serve
check "no QEMU left" no_qemu_left
finish
