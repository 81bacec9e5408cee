#!/bin/bash
# Every route of a running `kfarm serve`, over real HTTP on loopback, one
# keep-alive connection (so one server thread, its store already open):
# N requests in a row (the reply cached for the database version after the
# first), then N/4 each right after another connection committed a change
# (the reply recomputed: http.c's cache is keyed by PRAGMA data_version).
# Per request: the client's wall time, and the server's own CPU time for it
# (its Server-Timing header, the thread's CPU clock): on a shared, loaded
# machine the wall time also holds other tenants' scheduling, the CPU time
# only what the route costs; and (X-Kfarm-Rusage) whether the thread was
# preempted or faulted new memory in meanwhile, counted for the slow samples
# so that a spike can be told apart from the route's own work. Prints a table
# route -> p50/p99 and exits 1 if
# any route's p99 server time is over 5 ms (either phase), naming it.
# Usage: routes.sh URL DB NRESULTS [N]
set -u
URL=$1 DB=$2 NRES=$3 N=${4:-200}
mid_run=$(sqlite3 "$DB" "SELECT id FROM runs ORDER BY id LIMIT 1 OFFSET (SELECT count(*) / 2 FROM runs)")
mid_job=$(sqlite3 "$DB" "SELECT id FROM jobs ORDER BY id LIMIT 1 OFFSET (SELECT count(*) / 2 FROM jobs)")
last_kernel=$(sqlite3 "$DB" "SELECT c.label FROM jobs j JOIN candidates c ON c.id = j.candidate_id ORDER BY j.id DESC LIMIT 1")
a_test=$(sqlite3 "$DB" "SELECT test FROM results WHERE depth = 0 ORDER BY id DESC LIMIT 1")
a_tree=$(sqlite3 "$DB" "SELECT tree FROM candidates WHERE tree IS NOT NULL ORDER BY id DESC LIMIT 1")
routes=(
	/api/status /api/runs "/api/runs?limit=1000" "/api/runs/$mid_run" "/api/jobs/$mid_job"
	"/api/jobs/$mid_job/log" /api/history "/api/history?arch=x86_64" "/api/history?test=$a_test"
	"/api/history?arch=alpha&test=$a_test" "/api/history?arch=alpha&test=no_such_test"
	/api/regressions "/api/regressions?tree=$a_tree" /api/matrix "/api/matrix?tree=$a_tree"
	"/api/matrix?kernel=$last_kernel" /api/trend "/api/trend?limit=1000" /api/trees
	/api/builds /api/facts "/api/facts?limit=500" "/api/facts?tree=$a_tree" /api/bisections "/api/bisections?limit=1000" /api/bisections/1 /metrics /api /
)
# every route of the table must be timed: a new route fails here until added
for p in $("${KFARM:-bin/kfarm}" serve --help 2>&1 | awk '$1 == "GET" {print $2}'); do
	re=$(printf '%s' "$p" | sed 's/{[a-z]*}/[^\/?]*/g')
	printf '%s\n' "${routes[@]}" | grep -qE "^${re}(\\?|\$)" ||
		{ echo "routes: route $p is not timed by routes.sh (FAILED)"; exit 1; }
done
echo "routes: $NRES results, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$URL" "$DB" "$N" "${routes[@]}" <<'PY'
import http.client, sqlite3, sys, time, urllib.parse
url, db, n, routes = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
u = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(u.hostname, u.port)
w = sqlite3.connect(db, isolation_level=None, timeout=10)
def get(r):
    t = time.perf_counter()
    conn.request("GET", r)
    resp = conn.getresponse(); body = resp.read()
    wall = (time.perf_counter() - t) * 1000
    st = resp.getheader("Server-Timing", "cpu;dur=nan")
    ru = dict(kv.split("=") for kv in resp.getheader("X-Kfarm-Rusage", "").split())
    return (resp.status, len(body), wall, float(st.split("dur=")[1]), resp.getheader("X-Kfarm-Cache"),
            int(ru.get("nivcsw", 0)), int(ru.get("minflt", 0)))
def pct(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(len(v) * p))]
bump = 0
def commit():  # a real change (SQLite writes nothing for a no-op UPDATE)
    global bump; bump += 1
    w.execute("UPDATE runs SET pid = ? WHERE id = (SELECT min(id) FROM runs)", (bump,))
print("%-40s %4s %8s | %-25s | %-25s | %-27s" % ("route", "HTTP", "bytes",
      "in a row: wall p50/p99", "server CPU p50/p99", "after a commit: CPU p50/p99"))
bad = []
# a slow sample (over twice its phase's median): preempted meanwhile (another
# process took the CPU, and its caches), or new memory faulted in?
slow = {"n": 0, "preempted": 0, "faults": 0}
def count_slow(v):
    med = pct([x[3] for x in v], .5)
    for x in v:
        if x[3] > 2 * med and x[3] > 0.5:
            slow["n"] += 1; slow["preempted"] += x[5] > 0; slow["faults"] += x[6] >= 64
for r in routes:
    get(r)  # the first: made and kept
    a = [get(r) for _ in range(n)]
    b = []
    for _ in range(max(n // 4, 1)):
        commit(); b.append(get(r))
    count_slow(a); count_slow(b)
    code, size = a[0][0], a[0][1]
    aw, ac, bc = [x[2] for x in a], [x[3] for x in a], [x[3] for x in b]
    miss = sum(1 for x in b if x[4] != "miss" and x[4] is not None)
    ok = pct(ac, .99) <= 5 and pct(bc, .99) <= 5
    if not ok: bad.append(r)
    print("%-40s %4d %8d | %7.2f / %7.2f ms       | %7.3f / %7.3f ms     | %7.3f / %7.3f ms %s%s" % (
          r, code, size, pct(aw, .5), pct(aw, .99), pct(ac, .5), pct(ac, .99),
          pct(bc, .5), pct(bc, .99), "met" if ok else "MISSED",
          "" if not miss else " (%d served from cache after a commit!)" % miss))
    if miss: bad.append(r + " (stale)")
print("routes: %d samples over twice their median (and 0.5 ms): %d preempted meanwhile, %d with >= 64 page faults"
      % (slow["n"], slow["preempted"], slow["faults"]))
if bad:
    print("routes: FAILED: p99 over 5 ms: %s" % ", ".join(bad))
    sys.exit(1)
print("routes: every route's p99 <= 5 ms (server CPU), in a row and after a commit")
PY
