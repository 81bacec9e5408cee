#!/bin/bash
# Detection rate of the compaction test on one alpha kernel: boots IMAGE RUNS
# times at -smp SMP (tests=compaction only), JOBS at a time, then reports
# runs, compaction FAIL (a detection on a kernel with the bug, a false
# positive on a fixed one: KIND says which), which subtest and phase saw it,
# wall time per run and the migration counters per phase, from the stored
# results and console logs. Nothing is expected: the numbers are what was seen.
#
# usage: tests/bench/compaction-control.sh LABEL IMAGE SMP RUNS [JOBS]
#   environment: KIND=fixed|reverted|control (how to name a FAIL; default
#   "FAIL"); INITRAMFS=PATH (alpha initramfs, default kfarm's own);
#   OPTS, guest options (kfarm.opt=compaction.phases=pinned+lazy+crowd,...);
#   DEADLINE=EPOCH-SECONDS: start no run after it (a budget for slow hosts);
#   DB=PATH: only summarise that earlier database (RUNS 0)
set -u
[ $# -ge 4 ] || { echo "usage: $0 LABEL IMAGE SMP RUNS [JOBS]" >&2; exit 2; }
label=$1 image=$2 smp=$3 runs=$4 jobs=${5:-1}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
KFARM=$TOP/bin/kfarm
if [ -z "${DB:-}" ]; then
	T=$(mktemp -d /tmp/kfarm-cc.XXXXXX)
	DB=$T/cc.db
fi
case ${KIND:-} in
fixed) what="false positives" ;;
reverted|control) what="detections" ;;
*) what="FAIL" ;;
esac
t0=$(date +%s)
left=$runs
while [ "$left" -gt 0 ]; do
	[ -z "${DEADLINE:-}" ] || [ "$(date +%s)" -lt "$DEADLINE" ] || { echo "  deadline reached: $left runs not started" >&2; break; }
	n=$(( left < jobs ? left : jobs ))
	args=()
	for _ in $(seq "$n"); do args+=(--kernel "alpha=$image:$label"); done
	"$KFARM" run --db "$DB" --smp "$smp" --tests compaction --confirm 0 -j "$n" \
		${INITRAMFS:+--initramfs "alpha=$INITRAMFS"} \
		${OPTS:+--append "$OPTS"} "${args[@]}" >/dev/null 2>&1
	left=$(( left - n ))
done
q() { sqlite3 -batch "$DB" "$1"; }
nruns=$(q "SELECT count(*) FROM jobs")
complete=$(q "SELECT count(*) FROM jobs WHERE outcome = 'COMPLETE'")
det=$(q "SELECT count(*) FROM results WHERE test = 'compaction' AND status = 'FAIL'")
skip=$(q "SELECT count(*) FROM results WHERE test = 'compaction' AND status = 'SKIP'")
echo "compaction control: $label (${KIND:-?}) at -smp $smp${OPTS:+ ($OPTS)}: $nruns runs ($complete COMPLETE), $det $what (compaction FAIL), $skip inconclusive (SKIP), $(( $(date +%s) - t0 )) s in all"
q "SELECT '  ' || test || ': ' || count(*) || ' FAIL' FROM results WHERE test LIKE 'compaction/%' AND status = 'FAIL' GROUP BY test"
q "SELECT printf('  wall per run: mean %.1fs, min %.1fs, max %.1fs', avg(duration_s), min(duration_s), max(duration_s)) FROM jobs"
logs=$(q "SELECT log_path FROM jobs" | sed "s#^\([^/]\)#$DB.logs/\1#")
# per phase: runs in which that phase saw a mismatch, and its counters
for ph in pinned lazy crowd; do
	seen=0 ran=0
	for f in $logs; do
		line=$(grep -a -o "# $ph: mismatches: .*" "$f" | head -n1)
		[ -n "$line" ] || continue
		ran=$((ran + 1))
		nums=$(grep -o '[0-9][0-9]*' <<<"$line" | paste -sd+ | bc)
		[ "${nums:-0}" -gt 0 ] && seen=$((seen + 1))
	done
	[ $ran -gt 0 ] || continue
	echo "  phase $ph: ran in $ran runs, saw a mismatch in $seen"
	for c in pgmigrate_success pgmigrate_fail compact_isolated compact_stall compact_daemon_wake; do
		for f in $logs; do
			grep -a -o "# $ph: vmstat $c [0-9]* -> [0-9]* (+[0-9]*)" "$f" | sed 's/.*(+\([0-9]*\))/\1/'
		done | sort -n | awk -v c="$c" '{v[NR]=$1} END {if (NR) printf "    %s per run: min %d, median %d, max %d (%d runs)\n", c, v[1], v[int((NR+1)/2)], v[NR], NR}'
	done
	for f in $logs; do
		grep -a -o "# $ph: mismatches: .*" "$f"
	done | sed "s/^# $ph: mismatches: //" | sort | uniq -c | sort -rn | head -5 | sed 's/^/    mismatches (runs x what): /'
done
echo "  database: $DB (logs beside it)"
