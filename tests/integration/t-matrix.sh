#!/bin/bash
# The default matrix, end to end: every default kernel that built boots under
# QEMU, its KTAP results land in a real SQLite file, and the JSON endpoint
# shows every arch. Checks the per-arch facts the suite must observe.
. "$(dirname "$0")/lib.sh"
echo "t-matrix: default matrix through kfarm run"

DB=$T/m.db
"$KFARM" run --db "$DB" --json --append "$TOKEN" >"$T/run.json" 2>"$T/run.err"
rc=$?
cat "$T/run.err" | grep -E 'COMPLETE|PANIC|TIMEOUT|BOOT_FAIL|INFRA|skipping' | sed 's/^/    /'
check "kfarm run exit 0 (rc=$rc)" test "$rc" -eq 0
check "no QEMU left" no_qemu_left

built=$(jq -r 'select(.status=="built") | "\(.arch)-\(.version)"' "$KFARM_CACHE"/defaults/*.json | sort)
ran=$(jq -r '.jobs[] | "\(.arch)-\(.label | sub("^debian-"; ""))"' "$T/run.json" | sort)
check "every built default kernel ran" test "$built" = "$ran"
for a in x86_64 arm64 riscv64 sparc64 alpha; do
	check "$a is in the matrix" grep -q "^$a-" <<<"$ran"
done

njobs=$(jq '.jobs | length' "$T/run.json")
check "every job COMPLETE" test "$(jq '[.jobs[] | select(.outcome=="COMPLETE")] | length' "$T/run.json")" = "$njobs"
check "no test FAILed or went MISSING" test "$(jq '[.jobs[] | .fail + .missing] | add' "$T/run.json")" = 0
check "DB has the jobs" test "$(sql "$DB" "SELECT count(*) FROM jobs WHERE outcome='COMPLETE'")" = "$njobs"

# what the suite must see on these kernels (../shared/FACTS.md)
clone3() { jq -r --arg a "$1" --arg l "debian-$2" \
	'.jobs[] | select(.arch==$a and .label==$l) | .results[] | select(.test=="clone3") | .status' "$T/run.json"; }
for av in x86_64:6.1 x86_64:6.12 arm64:6.1 arm64:6.12 riscv64:6.1 riscv64:6.12 alpha:6.12; do
	a=${av%:*} v=${av#*:}
	[ -n "$(default_image "$a" "$v")" ] || continue
	check "clone3 PASS on $a $v" test "$(clone3 "$a" "$v")" = PASS
done
for av in alpha:6.1 sparc64:6.1 sparc64:6.12; do
	a=${av%:*} v=${av#*:}
	[ -n "$(default_image "$a" "$v")" ] || continue
	check "clone3 SKIP (not implemented) on $a $v" test "$(clone3 "$a" "$v")" = SKIP
	reason=$(sql "$DB" "SELECT r.reason FROM results r JOIN jobs j ON j.id=r.job_id JOIN candidates c ON c.id=j.candidate_id WHERE j.arch='$a' AND c.label='debian-$v' AND r.test='clone3'")
	check "clone3 skip reason names the arch ($reason)" grep -q "not implemented" <<<"$reason"
done
# the guest reported its release, and it matches what was built
for f in "$KFARM_CACHE"/defaults/*.json; do
	[ "$(jq -r .status "$f")" = built ] || continue
	a=$(jq -r .arch "$f") v=$(jq -r .version "$f") rel=$(jq -r .release "$f")
	got=$(jq -r --arg a "$a" --arg l "debian-$v" '.jobs[] | select(.arch==$a and .label==$l) | .release' "$T/run.json")
	check "$a $v guest reports release $rel" test "$got" = "$rel"
done

# the JSON endpoint over loopback
start_serve "$DB" || bad "kfarm serve did not start"
curl -s "$URL/api/status" >"$T/status.json"
for a in x86_64 arm64 riscv64 sparc64 alpha; do
	jcheck "/api/status shows $a" ".arches | index(\"$a\") != null" "$T/status.json"
done
check "/api/status has a clone3 row per arch" test "$(jq '[.results[] | select(.test=="clone3")] | length' "$T/status.json")" = 5
run=$(jq .run "$T/run.json")
check "/api/runs/$run lists $njobs jobs" test "$(curl -s "$URL/api/runs/$run" | jq '.jobs | length')" = "$njobs"
job=$(sql "$DB" "SELECT min(id) FROM jobs")
check "/api/jobs/$job/log is the console" bash -c "curl -s '$URL/api/jobs/$job/log' | grep -q 'KTAP version 1'"
stop_serve
finish
