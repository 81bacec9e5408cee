#!/bin/bash
# KUnit for real: the kernel's own unit tests, run at boot before /init, in
# the same boot as kfarm's smoke suite. One test-only kernel per arch,
# images/control.sh kunit-crash ARCH:6.12 (images/control/kunit/config plus a
# TEST-ONLY example case that dereferences NULL), built once into the cache.
# Every expectation is read from the kernel's own console, never copied from
# an earlier run: the suites it announced ("# Subtest: S") are kunit:S, as
# many as its plan said; each suite's case counts are the kernel's own
# "# S: pass:P fail:F skip:S total:T" line; the example's skip is SKIP; the
# crashing case is not ok with the console's first Oops/BUG line quoted.
# Then kunit.filter_glob= through --append (only the suite asked for runs,
# the job COMPLETE), and oops=panic: the kernel dies inside the example
# suite, what it reported is kept, the suite is not ok "cut off", its unrun
# cases (and suites never started) are MISSING, never absent (on the arches
# whose oops path reads panic_on_oops: not alpha).
# KFARM_KUNIT_ARCHES (default "x86_64 alpha") picks the arches.
# lane: build
. "$(dirname "$0")/lib.sh"
echo "t-kunit: KUnit at boot, counts from the kernel, a crashing case, a panic"

VER=6.12
DB=$T/k.db
ARCHES=${KFARM_KUNIT_ARCHES:-x86_64 alpha}

# the console of job $1 with printk's prefixes (a timestamp and/or a caller
# id, then one space; none on a kernel without CONFIG_PRINTK_TIME) and CRs gone
console() {
	sed -E 's/\r$//; s/^(\[ *[0-9]+\.[0-9]+\](\[ *[TC][0-9]+\])?|\[ *[TC][0-9]+\]) ?//' \
		"$DB.logs/$(sql "$DB" "SELECT log_path FROM jobs WHERE id = $1")"
}
# "PASS FAIL SKIP MISSING" counts of the cases (depth 1) of kunit:SUITE in job $1
counts() {
	sql "$DB" "SELECT sum(status = 'PASS') || ' ' || sum(status = 'FAIL') || ' ' ||
		sum(status = 'SKIP') || ' ' || sum(status = 'MISSING') FROM results
		WHERE job_id = $1 AND depth = 1 AND substr(test, 1, length('kunit:$2/')) = 'kunit:$2/'"
}
res() { sql "$DB" "SELECT status || '|' || coalesce(reason, '') FROM results WHERE job_id = $1 AND test = '$2'"; }
lastjob() { sql "$DB" "SELECT max(id) FROM jobs"; }
run() { # run ARCH IMAGE LABEL ARGS...: one boot, exit status in $rc
	local a=$1 img=$2 label=$3; shift 3
	nice -n 10 "$KFARM" run --db "$DB" --kernel "$a=$img:$label" --confirm 0 \
		--append "$TOKEN${APPEND:+ $APPEND}" --json "$@" >"$T/$label.json" 2>"$T/$label.err"
	rc=$?
}

for a in $ARCHES; do
	t0=$(date +%s)
	img=$(nice -n 10 "$TOP/images/control.sh" kunit-crash "$a:$VER" 2>"$T/build-$a.log" | awk '{print $3}')
	echo "    $a: kunit-crash $VER kernel in $(( $(date +%s) - t0 ))s (cached after the first build)"
	if [ -z "$img" ] || [ "$img" = - ] || [ ! -f "$img" ]; then
		bad "$a: kunit-crash $VER did not build (see $T/build-$a.log)"
		tail -5 "$T/build-$a.log" | sed 's/^/      /'
		continue
	fi
	ok "$a: kunit-crash $VER built"

	# ---- (1) the whole KUnit run, then two smoke tests, in one boot
	APPEND= run "$a" "$img" "kunit-$a" --tests sysinfo,clock
	j=$(lastjob)
	console "$j" >"$T/console-$a"
	check "$a: exit 1 (a crashed case is a failure; got $rc)" test "$rc" = 1
	crash=$(grep -m1 -E '^(BUG:|Oops|Unable to handle kernel|Internal error:|kernel BUG at)' "$T/console-$a")
	check "$a: the console has the crash ($crash)" test -n "$crash"
	check "$a: the job is PANIC quoting it" test \
		"$(sql "$DB" "SELECT outcome || '|' || (instr(reason, '$crash') > 0) FROM jobs WHERE id = $j")" = "PANIC|1"
	for t in sysinfo clock; do
		check "$a: /init's $t ran in the same boot ($(res "$j" "$t" | cut -d'|' -f1))" \
			grep -qE '^(PASS|SKIP)\|' <<<"$(res "$j" "$t")"
	done
	plan=$(awk '/^KTAP version 1$/ { getline; if ($0 ~ /^1\.\.[0-9]+$/) { print substr($0, 4); exit } }' "$T/console-$a")
	mapfile -t suites < <(sed -n 's/^    # Subtest: //p' "$T/console-$a")
	got=$(sql "$DB" "SELECT count(*) FROM results WHERE job_id = $j AND depth = 0 AND test LIKE 'kunit:%'")
	check "$a: the kernel's plan (1..$plan) is the number of kunit: suites stored ($got)" test "$plan" = "$got"
	check "$a: ... as many as it announced (${#suites[@]})" test "${#suites[@]}" = "$plan"
	for s in "${suites[@]}"; do
		st=$(res "$j" "kunit:$s" | cut -d'|' -f1)
		[ -n "$st" ] && [ "$st" != MISSING ] || bad "$a: suite $s announced but kunit:$s is '$st'"
	done
	check "$a: no kunit: result is MISSING" test \
		"$(sql "$DB" "SELECT count(*) FROM results WHERE job_id = $j AND test LIKE 'kunit:%' AND status = 'MISSING'")" = 0
	nstats=0
	while read -r s p f k n; do
		nstats=$((nstats + 1))
		check "$a: kunit:$s cases as the kernel counted them (pass $p fail $f skip $k of $n)" \
			test "$(counts "$j" "$s")" = "$p $f $k 0"
		[ $((p + f + k)) = "$n" ] || bad "$a: the kernel's own $s line does not add up"
	done < <(sed -nE 's/^# ([^ :]+): pass:([0-9]+) fail:([0-9]+) skip:([0-9]+) total:([0-9]+)$/\1 \2 \3 \4 \5/p' \
		"$T/console-$a" | grep -v '^Totals ')
	check "$a: the kernel printed per-suite counts ($nstats suites)" test "$nstats" -gt 1
	check "$a: example_skip_test is SKIP" grep -q '^SKIP|' <<<"$(res "$j" kunit:example/example_skip_test)"
	r=$(res "$j" kunit:example/example_crash_test)
	check "$a: the crashed case is FAIL quoting the crash ($r)" grep -qF "FAIL|crashed: $crash" <<<"$r"
	check "$a: the case before it is not blamed" grep -qx 'PASS|' <<<"$(res "$j" kunit:example/example_simple_test)"

	# ---- (2) kunit.filter_glob= through --append: only that suite
	APPEND=kunit.filter_glob=list-kunit-test run "$a" "$img" "glob-$a" --tests sysinfo
	j=$(lastjob)
	check "$a: filter_glob: exit 0, COMPLETE (no crash ran; got $rc)" test \
		"$rc:$(sql "$DB" "SELECT outcome FROM jobs WHERE id = $j")" = 0:COMPLETE
	check "$a: filter_glob: the only suite is kunit:list-kunit-test" test \
		"$(sql "$DB" "SELECT group_concat(test) FROM results WHERE job_id = $j AND depth = 0 AND test LIKE 'kunit:%'")" = kunit:list-kunit-test
	n=$(console "$j" | sed -n 's/^    1\.\.//p' | head -1)
	check "$a: filter_glob: its $n cases are stored, all PASS" test "$(counts "$j" list-kunit-test)" = "$n 0 0 0"

	# ---- (3) oops=panic: the crash panics the kernel inside example, on
	# the arches whose oops path honours it (alpha's die_if_kernel does not)
	karch=$(jq -r .kernel_arch "$TOP/arches/$a.json")
	src=$(ls -d "$KFARM_CACHE/control/kunit-crash/src/linux-$VER" "$KFARM_CACHE/control/kunit-crash/src/linux-$VER-"* 2>/dev/null | grep -v nopatch | head -1)
	if ! grep -rqw panic_on_oops "$src/arch/$karch/"; then
		echo "    $a: oops=panic not checked: arch/$karch never reads panic_on_oops (the kernel goes on after an oops)"
		continue
	fi
	APPEND=oops=panic run "$a" "$img" "panic-$a" --tests sysinfo
	j=$(lastjob)
	console "$j" >"$T/panic-$a"
	if ! grep -q '^Kernel panic - not syncing' "$T/panic-$a"; then
		bad "$a: oops=panic did not panic the kernel (console: $T/panic-$a)"
		continue
	fi
	check "$a: oops=panic: PANIC, exit 1 (got $rc)" test "$rc:$(sql "$DB" "SELECT outcome FROM jobs WHERE id = $j")" = 1:PANIC
	plan=$(awk '/^KTAP version 1$/ { getline; if ($0 ~ /^1\.\.[0-9]+$/) { print substr($0, 4); exit } }' "$T/panic-$a")
	check "$a: oops=panic: all $plan suites of the plan are there, run or MISSING" test \
		"$(sql "$DB" "SELECT count(*) FROM results WHERE job_id = $j AND depth = 0 AND test LIKE 'kunit:%'")" = "$plan"
	r=$(res "$j" kunit:example)
	check "$a: oops=panic: kunit:example is FAIL, cut off by the crash ($r)" grep -q '^FAIL|cut off: ' <<<"$r"
	eplan=$(awk '/^    # Subtest: example$/ { getline; while ($0 ~ /^    #/) getline; print substr($0, 8); exit }' "$T/panic-$a")
	ran=$(grep -cE '^    (not )?ok [0-9]+ ' <(sed -n '/^    # Subtest: example$/,/^Kernel panic/p' "$T/panic-$a"))
	c=$(counts "$j" example)
	read -r p f k m <<<"$c"
	check "$a: oops=panic: example's $ran reported cases kept, the other $((eplan - ran)) of 1..$eplan MISSING ($c)" \
		test "$((p + f + k)):$m" = "$ran:$((eplan - ran))"
	check "$a: oops=panic: example_simple_test kept as PASS" grep -qx 'PASS|' <<<"$(res "$j" kunit:example/example_simple_test)"
	check "$a: oops=panic: /init never ran: sysinfo MISSING" grep -q '^MISSING|' <<<"$(res "$j" sysinfo)"
done
check "no QEMU left" no_qemu_left
finish
