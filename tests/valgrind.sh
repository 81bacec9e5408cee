#!/bin/bash
# valgrind memcheck on a one-arch `kfarm run` and on `kfarm serve` under load:
# no errors, no definite or indirect leaks.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/kfarm-vg.XXXXXX)
trap 'rm -rf "$T"' EXIT
VG=(valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,indirect)
fail=0
"${VG[@]}" "$TOP/bin/kfarm" run --db "$T/v.db" --arch x86_64 --confirm 0 >/dev/null 2>"$T/run.err"
rc=$?
if [ $rc -eq 9 ] || grep -q '^==[0-9]*==' "$T/run.err"; then
	echo "valgrind: kfarm run: errors"; grep '^==' "$T/run.err" | head -20; fail=1
else
	echo "valgrind: kfarm run --arch x86_64: clean (exit $rc)"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${VG[@]}" "$TOP/bin/kfarm" serve --db "$T/v.db" --listen "127.0.0.1:$port" 2>"$T/serve.err" &
pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/api/runs" && break; sleep 0.1; done
for u in /api/status /api/runs /api/runs/1 /api/jobs/1 /api/jobs/1/log '/api/history?arch=x86_64' \
	/api/regressions /api/matrix /api/trend /api/trees /metrics /api/nope /api/runs/x /; do
	curl -s -o /dev/null "http://127.0.0.1:$port$u"
done
wrk -t2 -c64 -d3s "http://127.0.0.1:$port/api/status" | awk '/Requests\/sec/ {print "valgrind: serve under wrk -c64: " $2 " req/s (slowed by valgrind)"}'
kill $pid; wait $pid; rc=$?
if [ $rc -eq 9 ] || grep -q '^==[0-9]*==' "$T/serve.err"; then
	echo "valgrind: kfarm serve: errors"; grep '^==' "$T/serve.err" | head -20; fail=1
else
	echo "valgrind: kfarm serve under load: clean"
fi
exit $fail
