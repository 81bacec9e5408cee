#!/bin/bash
# Candidates in series: the 6.12 kernels after the 6.1 ones in one tree must
# report exactly the real changes; a deliberately flaky test must end up
# FLAKY, not a regression; exports validate.
. "$(dirname "$0")/lib.sh"
echo "t-regress: regressions, fixes, support changes, flakes, exports"

X61=$(default_image x86_64 6.1) X612=$(default_image x86_64 6.12)
A61=$(default_image alpha 6.1) A612=$(default_image alpha 6.12)
for v in X61 X612 A61 A612; do
	[ -n "${!v}" ] || { bad "default kernel $v missing (make images)"; finish; exit 1; }
done
DB=$T/r.db
TESTS=clone3,futex,getrandom,fork
run() { "$KFARM" run --db "$DB" --append "$TOKEN" --json "$@" 2>>"$T/err"; }

run --tree scn --tests $TESTS --kernel "x86_64=$X61:A" --kernel "alpha=$A61:A" >"$T/a.json"
check "candidate A (6.1) runs clean" test $? -eq 0
run --tree scn --tests $TESTS --kernel "x86_64=$X612:B" --kernel "alpha=$A612:B" >"$T/b.json"
check "candidate B (6.12) runs clean" test $? -eq 0
jcheck "B's summary: exactly alpha clone3 SKIP -> PASS, a support change" \
	'[.changes[] | "\(.kind) \(.arch) \(.test) \(.from.status)->\(.to.status)"] == ["support_change alpha clone3 SKIP->PASS"]' "$T/b.json"
"$KFARM" regressions --db "$DB" --tree scn --json >"$T/reg.json"
check "kfarm regressions exits 0 when nothing regressed" test $? -eq 0
jcheck "kfarm regressions agrees" '[.regressions[] | .kind] == ["support_change"]' "$T/reg.json"

# a failure that repeats is a regression, confirmed by re-runs
run --tree flk --tests flaky --append "kfarm.opt=flaky.fail_pct=0" --kernel "x86_64=$X612:C" >/dev/null
run --tree flk --tests flaky --append "kfarm.opt=flaky.fail_pct=100" --kernel "x86_64=$X612:D" --confirm 2 >"$T/d.json"
check "D: exit 1 on a failing test" test $? -eq 1
jcheck "D: the failure was confirmed by 2 re-runs (3 jobs)" '[.jobs[] | select(.label=="D")] | length == 3' "$T/d.json"
jcheck "D: reported as a regression" '[.changes[] | .kind] == ["regression"]' "$T/d.json"
"$KFARM" regressions --db "$DB" --tree flk >/dev/null
check "kfarm regressions exits 1 with an open regression" test $? -eq 1
# the same failure, declared expected in a known-failures file: known, not a regression
mkdir "$T/known"
echo '[{"arch": "x86_64", "test": "flaky", "status": "FAIL", "min": "6.12", "reason": "fails on purpose"}]' >"$T/known/k.json"
KFARM_KNOWN=$T/known "$KFARM" regressions --db "$DB" --tree flk --json >"$T/known.json"
check "known failure: kfarm regressions exits 0" test $? -eq 0
jcheck "known failure: reported as known, with the file's reason" \
	'[.regressions[] | "\(.kind) \(.reason)"] == ["known fails on purpose"]' "$T/known.json"
echo '[{"arch": "x86_64", "test": "flaky", "status": "FAIL", "max": "6.1", "reason": "old kernels only"}]' >"$T/known/k.json"
KFARM_KNOWN=$T/known "$KFARM" regressions --db "$DB" --tree flk --json >"$T/known.json"
jcheck "known failure outside its kernel range: still a regression" '[.regressions[] | .kind] == ["regression"]' "$T/known.json"
# the same candidate now passes: its outcome differs between runs -> FLAKY
run --tree flk --tests flaky --append "kfarm.opt=flaky.fail_pct=0" --kernel "x86_64=$X612:D" >"$T/d2.json"
"$KFARM" regressions --db "$DB" --tree flk --json >"$T/reg.json"
jcheck "D: now FLAKY, not a regression" '[.regressions[] | "\(.kind) \(.to.status)"] == ["flaky FLAKY"]' "$T/reg.json"

# a random flake (50%) with confirmation runs: whatever the draws, never a
# confirmed regression unless every run failed
run --tree rnd --tests flaky --append "kfarm.opt=flaky.fail_pct=0" --kernel "x86_64=$X612:E" >/dev/null
run --tree rnd --tests flaky --append "kfarm.opt=flaky.fail_pct=50" --kernel "x86_64=$X612:F" --confirm 4 >"$T/f.json"
fails=$(jq '[.jobs[] | select(.label=="F") | .fail] | add' "$T/f.json")
runs=$(jq '[.jobs[] | select(.label=="F")] | length' "$T/f.json")
kind=$("$KFARM" regressions --db "$DB" --tree rnd --json | jq -r '[.regressions[].kind] | join(",")')
echo "    50% flake: $fails of $runs runs failed -> '${kind:-no change}'"
if [ "$fails" = 0 ]; then want=""; elif [ "$fails" = "$runs" ]; then want=regression; else want=flaky; fi
check "50% flake classified from its runs ($want)" test "$kind" = "$want"

# exports
"$KFARM" export --db "$DB" --junit "$T/junit.xml" --run "$(jq .run "$T/b.json")"
check "JUnit export validates against tests/data/junit.xsd" xmllint --noout --schema "$TOP/tests/data/junit.xsd" "$T/junit.xml"
check "JUnit has one testsuite per job" test "$(grep -c '<testsuite ' "$T/junit.xml")" = "$(jq '.jobs | length' "$T/b.json")"
"$KFARM" export --db "$DB" --kcidb "$T/kcidb.json" --run "$(jq .run "$T/d.json")"
jcheck "KCIDB v5: version, ids 'kfarm:', required fields and links" '
	.version.major == 5 and
	(.checkouts | length > 0 and all(.id and .origin == "kfarm" and (.id | startswith("kfarm:")))) and
	(.builds | length > 0 and all(.id and .origin and .checkout_id and (.id | startswith("kfarm:")))) and
	(.tests | length > 0 and all(.id and .origin and .build_id and (.id | startswith("kfarm:")) and
		(.status | IN("FAIL","ERROR","MISS","PASS","DONE","SKIP"))))' "$T/kcidb.json"
jcheck "KCIDB: builds link to checkouts, tests to builds" '
	([.checkouts[].id] as $c | all(.builds[]; .checkout_id as $x | $c | index($x) != null)) and
	([.builds[].id] as $b | all(.tests[]; .build_id as $x | $b | index($x) != null))' "$T/kcidb.json"
jcheck "KCIDB: the failing flaky test exported as FAIL" '[.tests[] | select(.path == "kfarm.flaky") | .status] | index("FAIL") != null' "$T/kcidb.json"

# the same through HTTP
start_serve "$DB" || bad "kfarm serve did not start"
curl -s "$URL/api/regressions?tree=scn" >"$T/api.json"
jcheck "/api/regressions?tree=scn: the support change" '[.regressions[] | "\(.kind) \(.arch) \(.test)"] == ["support_change alpha clone3"]' "$T/api.json"
curl -s "$URL/metrics" >"$T/metrics"
check "/metrics: jobs by outcome" grep -qE '^kfarm_jobs_total\{outcome="COMPLETE"\} [0-9]+' "$T/metrics"
check "/metrics: boot seconds per arch" grep -qE '^kfarm_boot_seconds\{arch="alpha"\} [0-9.]+' "$T/metrics"
check "/metrics: open regressions gauge" grep -qE '^kfarm_open_regressions [0-9]+' "$T/metrics"
stop_serve
check "no QEMU left" no_qemu_left
finish
