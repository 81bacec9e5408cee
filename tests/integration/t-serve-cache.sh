#!/bin/bash
# kfarm serve keeps every database route's reply for the database version
# it was made at: a repeated request is served from the cache, a commit by
# any other connection makes the next request recompute (never a stale
# reply), different parameters are different replies, and a log file is
# read afresh each time. No QEMU: fuzz_db's seed is a real kfarm database.
. "$(dirname "$0")/lib.sh"
echo "t-serve-cache: replies cached per database version"
DB=$T/k.db
cp "$TOP/tests/fuzz/corpus/db/kfarm-2runs.sqlite" "$DB"
mkdir -p "$T/k.db.logs/run-2"
echo "first line" >"$T/k.db.logs/run-2/01-x86_64-B.log"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$KFARM" serve --db "$DB" --listen "127.0.0.1:$PORT" --threads 1 2>"$T/serve.err" &
SERVE_PID=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/api" && break; sleep 0.1; done
# one keep-alive connection: "PATH|cache|body" per request, a commit before
# each path written as "!PATH"
python3 - "$PORT" "$DB" >"$T/out" <<'PY'
import http.client, sqlite3, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
w = sqlite3.connect(sys.argv[2], isolation_level=None)
for p in ["/api/runs?limit=1", "/api/runs?limit=1", "/api/runs?limit=2",
          "!/api/runs?limit=1", "/api/runs?limit=1", "/api/jobs/2/log", "/api/jobs/2/log"]:
    if p[0] == "!":
        p = p[1:]
        w.execute("INSERT INTO runs (started, status, argv) VALUES (1, 'complete', 'new')")
    c.request("GET", p); r = c.getresponse(); body = r.read().decode()
    print("%s|%s|%s" % (p, r.getheader("X-Kfarm-Cache"), body.replace("\n", " ")))
    if p.endswith("/log"):
        open(sys.argv[2] + ".logs/run-2/01-x86_64-B.log", "a").write("second line\n")
PY
line() { sed -n "${1}p" "$T/out"; }
check "first request made: miss" grep -q '^/api/runs?limit=1|miss|' <(line 1)
check "the same request again: served from the cache" grep -q '^/api/runs?limit=1|hit|' <(line 2)
check "another limit is another reply (miss, two runs)" \
	bash -c "grep -q '|miss|' <<<'$(line 3)' && [ \$(grep -o '\"id\"' <<<'$(line 3)' | wc -l) = 2 ]"
check "after another connection's commit: recomputed, the new run shown" \
	bash -c "grep -q '|miss|' <<<'$(line 4)' && grep -q '\"argv\":\"new\"' <<<'$(line 4)'"
check "and cached again for the new version" grep -q '^/api/runs?limit=1|hit|.*"argv":"new"' <(line 5)
check "a console log is read afresh, never cached" \
	bash -c "grep -q 'first line' <<<'$(line 6)' && grep -q 'second line' <<<'$(line 7)'"
kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null
finish
