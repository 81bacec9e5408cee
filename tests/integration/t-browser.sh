#!/bin/bash
# The dashboard (web/) in a real headless chromium against a real database:
# two candidates in one tree on x86_64 and arm64, where candidate B brings a
# failing test (x86_64 flaky), a skip (harness) and a job that times out
# (arm64: the remaining tests MISSING). tests/browser/dashboard.mjs checks the
# matrix, regressions, history strip, job view with console log, trend chart,
# the fallbacks for an older server and escaping, and the facts table (a
# third tree whose second candidate has io_uring switched off); screenshot
# in tests/out/.
. "$(dirname "$0")/lib.sh"
echo "t-browser: dashboard in headless chromium"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
BROWSER=$TOP/tests/browser
SHOT=$TOP/tests/out/dashboard.png
for tool in "$CHROMIUM" node npm; do
	command -v "$tool" >/dev/null || { bad "$tool missing (make deps: chromium nodejs npm)"; finish; exit 1; }
done
if [ ! -d "$BROWSER/node_modules/playwright-core" ]; then
	npm ci --prefix "$BROWSER" --no-audit --no-fund >"$T/npm.log" 2>&1
	check "npm ci tests/browser (playwright-core)" test -d "$BROWSER/node_modules/playwright-core" ||
		{ cat "$T/npm.log"; finish; exit 1; }
fi

X=$(default_image x86_64 6.1) A=$(default_image arm64 6.1)
[ -n "$X" ] && [ -n "$A" ] || { bad "default 6.1 kernels for x86_64/arm64 missing (make images)"; finish; exit 1; }
DB=$T/d.db
TESTS=sysinfo,clone3,getrandom,harness,flaky
run() { "$KFARM" run --db "$DB" --tree dash --tests $TESTS --confirm 1 --json "$@" >/dev/null 2>>"$T/run.err"; }

# a changed fact: two candidates of tree "facts" on x86_64 6.12, the second
# booted with io_uring switched off (sysctl kernel.io_uring_disabled=2 from
# the command line), as a new default would arrive; run first, so that
# "dash" stays the newest tree, the one the dashboard opens on
X12=$(default_image x86_64 6.12)
[ -n "$X12" ] || { bad "default 6.12 kernel for x86_64 missing (make images)"; finish; exit 1; }
runf() { "$KFARM" run --db "$DB" --tree facts --tests sysinfo --confirm 0 --json "$@" >/dev/null 2>>"$T/run.err"; }
runf --kernel "x86_64=$X12:io-on" --append "$TOKEN"
check "facts candidate io-on runs clean" test $? -eq 0
runf --kernel "x86_64=$X12:io-off" --append "sysctl.kernel.io_uring_disabled=2 $TOKEN"
check "facts candidate io-off runs clean" test $? -eq 0
check "io-off's guest reports io_uring disabled" grep -q '^disabled (kernel.io_uring_disabled = 2)' \
	<<<"$(sql "$DB" "SELECT r.reason FROM results r JOIN jobs j ON j.id = r.job_id JOIN candidates c ON c.id = j.candidate_id WHERE c.label = 'io-off' AND r.test = 'sysinfo/io_uring'")"

run --kernel "x86_64=$X:cand-a" --kernel "arm64=$A:cand-a" --append "kfarm.opt=flaky.fail_pct=0,harness.mode=skip $TOKEN"
check "candidate A runs clean" test $? -eq 0
run --kernel "x86_64=$X:cand-b" --append "kfarm.opt=flaky.fail_pct=100,harness.mode=skip $TOKEN"
check "candidate B on x86_64: flaky fails (exit 1)" test $? -eq 1
# harness hangs (its own limit stretched by kfarm.scale) until the job's total
# limit: sysinfo..getrandom have run, harness and flaky are MISSING
run --kernel "arm64=$A:cand-b" --timeout 8 --append "kfarm.opt=harness.mode=hang kfarm.scale=10 $TOKEN"
check "candidate B on arm64: harness hangs, job times out (exit 1)" test $? -eq 1

start_serve "$DB" || { bad "kfarm serve did not start"; cat "$T/serve.err"; finish; exit 1; }
JOB=$(curl -s "$URL/api/history?arch=x86_64&test=flaky&limit=1" | jq -r '.[0].job')
start=$(date +%s)
timeout 120 node "$BROWSER/dashboard.mjs" --url "$URL" --screenshot "$SHOT" --job-shot "$TOP/tests/out/dashboard-job.png" \
	--cell x86_64:sysinfo:PASS --cell x86_64:clone3:PASS --cell x86_64:getrandom:PASS \
	--cell x86_64:harness:SKIP --cell x86_64:flaky:FAIL \
	--cell arm64:sysinfo:PASS --cell arm64:harness:MISSING --cell arm64:flaky:MISSING \
	--regression regression:x86_64:flaky --regression regression:arm64:flaky \
	--history x86_64:flaky:PASS,FAIL,FAIL --job "$JOB" --candidate cand-a:x86_64:flaky:PASS \
	--fact facts:x86_64:io-off:io_uring:changed --fact facts:x86_64:io-off:preemption:same \
	--fact facts:x86_64:io-on:io_uring:same >"$T/browser.out" 2>&1
rc=$?
# the browser's own verdicts become this test's checks
while IFS= read -r line; do
	case $line in
	"  ok: "*) ok "${line#  ok: }" ;;
	"  FAIL: "*) bad "${line#  FAIL: }" ;;
	*) echo "    $line" ;;
	esac
done <"$T/browser.out"
check "browser test exit status 0" test $rc -eq 0
echo "    browser part: $(($(date +%s) - start))s; screenshot: $SHOT"
stop_serve
check "no QEMU left" no_qemu_left
finish
