#!/bin/bash
# Detection rate of the compaction test on one alpha kernel: boots IMAGE
# again and again at -smp SMP (tests=compaction only) for about SECONDS,
# then reports runs, detections (compaction not ok), which subtest saw it,
# wall time per run and the migration counters, from the stored results and
# console logs. Nothing is expected: the numbers are what was seen.
#
# usage: tests/bench/compaction-control.sh LABEL IMAGE SMP SECONDS [JOBS]
#   environment: OPTS, guest options (kfarm.opt=compaction.workers=3,...);
#   DB=PATH: only summarise that earlier database (SECONDS 0)
set -u
[ $# -ge 4 ] || { echo "usage: $0 LABEL IMAGE SMP SECONDS [JOBS]" >&2; exit 2; }
label=$1 image=$2 smp=$3 secs=$4 jobs=${5:-2}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
KFARM=$TOP/bin/kfarm
if [ -z "${DB:-}" ]; then
	T=$(mktemp -d /tmp/kfarm-cc.XXXXXX)
	DB=$T/cc.db
fi
end=$(( $(date +%s) + secs ))
while [ "$(date +%s)" -lt "$end" ]; do
	args=()
	for _ in $(seq "$jobs"); do args+=(--kernel "alpha=$image:$label"); done
	"$KFARM" run --db "$DB" --smp "$smp" --tests compaction --confirm 0 -j "$jobs" \
		${OPTS:+--append "$OPTS"} "${args[@]}" >/dev/null 2>&1
done
q() { sqlite3 -batch "$DB" "$1"; }
runs=$(q "SELECT count(*) FROM jobs")
complete=$(q "SELECT count(*) FROM jobs WHERE outcome = 'COMPLETE'")
det=$(q "SELECT count(*) FROM results WHERE test = 'compaction' AND status = 'FAIL'")
skip=$(q "SELECT count(*) FROM results WHERE test = 'compaction' AND status = 'SKIP'")
echo "compaction control: $label at -smp $smp${OPTS:+ ($OPTS)}: $runs runs ($complete COMPLETE), $det detected (compaction FAIL), $skip inconclusive (SKIP)"
q "SELECT '  ' || test || ': ' || count(*) || ' FAIL' FROM results WHERE test LIKE 'compaction/%' AND status = 'FAIL' GROUP BY test"
q "SELECT printf('  wall per run: mean %.1fs, min %.1fs, max %.1fs', avg(duration_s), min(duration_s), max(duration_s)) FROM jobs"
for f in $(q "SELECT log_path FROM jobs"); do
	grep -a -o 'vmstat pgmigrate_success [0-9]* -> [0-9]* (+[0-9]*)' "$f" | sed 's/.*(+\([0-9]*\))/\1/'
done | sort -n | awk '{v[NR]=$1; s+=$1} END {if (NR) printf "  pgmigrate_success per run: min %d, median %d, max %d (%d runs with counters)\n", v[1], v[int((NR+1)/2)], v[NR], NR}'
for f in $(q "SELECT log_path FROM jobs"); do
	grep -a -o 'not ok [0-9]* pages_intact[a-z_]* # [0-9]* ' "$f" | awk '{print $4 ": " $6}'
done | sort | uniq -c | sed 's/^/  mismatched pages seen (count x subtest: pages): /' | head -20
echo "  database: $DB (logs beside it)"
