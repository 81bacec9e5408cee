#!/bin/bash
# Every route of a running `kfarm serve`, over real HTTP (curl, sequential):
# p50/p99 of N requests each on one keep-alive connection, against the 5 ms
# p99 target; and of N/4 requests each right after another connection
# committed to the database (nothing the server rendered before is reused).
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
	"/api/matrix?kernel=$last_kernel" "/api/trend?limit=1000" /api/trees /metrics /
)
pct() { # seconds, one a line -> "p50 .., p99 .."; fails when p99 > 5 ms
	sort -n | awk '{ v[NR] = $1 * 1000 }
		END { i = int(NR * 0.99); if (i < 1) i = 1
			printf "p50 %6.2f ms, p99 %6.2f ms", v[int(NR * 0.5) + 1], v[i]
			if (v[i] > 5) exit 1 }'
}
for r in "${routes[@]}"; do
	args=()
	for _ in $(seq "$N"); do args+=(-o /dev/null "$URL$r"); done
	code=$(curl -s -o /dev/null -w '%{http_code}' "$URL$r")
	steady=$(curl -s -w '%{time_total}\n' "${args[@]}" | pct) && ok1=met || ok1=MISSED
	fresh=$(for _ in $(seq $((N / 4))); do
		sqlite3 "$DB" "UPDATE runs SET argv = argv WHERE id = 1"
		curl -s -o /dev/null -w '%{time_total}\n' "$URL$r"
	done | pct) && ok2=met || ok2=MISSED
	printf "route: %-40s HTTP %s on %s results: %d requests %s (%s); %d after a commit %s (%s)\n" \
		"$r" "$code" "$NRES" "$N" "$steady" "$ok1" $((N / 4)) "$fresh" "$ok2"
done
