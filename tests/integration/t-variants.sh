#!/bin/bash
# Machine variants and KVM, on real kernels in real QEMU: x86_64 with KVM
# (where KVM really boots a kernel here) and with --accel tcg, both recorded;
# alpha on 4 vCPUs seen by the guest; sparc64 refusing a second vCPU; the
# machine in the job record, in `kfarm show` and in the API's job object.
. "$(dirname "$0")/lib.sh"
echo "t-variants: machine variants (--smp, --variant) and the accelerator"

DB=$T/v.db
job_json() { "$KFARM" show --db "$DB" "$1" --json; }
last_job() { sql "$DB" "SELECT max(id) FROM jobs"; }
results() { # JOB -> "test status" lines of its top-level results
	sql "$DB" "SELECT test || ' ' || status FROM results WHERE job_id = $1 AND depth = 0 ORDER BY id"
}
note() { # JOB SUBTEST -> that sysinfo subtest's note
	sql "$DB" "SELECT reason FROM results WHERE job_id = $1 AND test = 'sysinfo/$2'"
}

# --- x86_64: the accelerator, chosen and recorded ---
X86=$(default_image x86_64 6.1)
[ -n "$X86" ] || X86=$(default_image x86_64 6.12)
if [ -z "$X86" ]; then
	bad "no x86_64 default kernel (run make images)"
else
	TESTS=sysinfo,clone3,fork,mmap,signals
	"$KFARM" run --db "$DB" --kernel "x86_64=$X86:x86" --tests "$TESTS" --confirm 0 \
		--append "$TOKEN" --json >"$T/auto.json" 2>"$T/auto.err"
	rc=$?
	auto=$(last_job)
	accel=$(jq -r '.jobs[0].accel' "$T/auto.json")
	why=$(jq -r '.jobs[0].accel_reason' "$T/auto.json")
	echo "    x86_64 auto: accel $accel ($why)"
	check "x86_64 auto: COMPLETE (rc=$rc)" test "$(jq -r '.jobs[0].outcome' "$T/auto.json")" = COMPLETE
	check "x86_64 auto: the accelerator and its reason are recorded" \
		test "$(sql "$DB" "SELECT accel || '|' || accel_reason FROM jobs WHERE id = $auto")" = "$accel|$why"
	check "x86_64 auto: QEMU got -accel $accel" \
		grep -q -- "-accel $accel " <<<"$(sql "$DB" "SELECT qemu_cmdline FROM jobs WHERE id = $auto")"
	"$KFARM" run --db "$DB" --kernel "x86_64=$X86:x86" --tests "$TESTS" --confirm 0 \
		--accel tcg --append "$TOKEN" --json >"$T/tcg.json" 2>"$T/tcg.err"
	rc=$?
	tcg=$(last_job)
	check "x86_64 --accel tcg: COMPLETE (rc=$rc)" test "$(jq -r '.jobs[0].outcome' "$T/tcg.json")" = COMPLETE
	check "x86_64 --accel tcg: accel tcg, reason --accel tcg" \
		test "$(sql "$DB" "SELECT accel || '|' || accel_reason FROM jobs WHERE id = $tcg")" = "tcg|--accel tcg"
	if [ "$accel" = kvm ]; then
		check "x86_64 KVM and TCG: the same results" test "$(results "$auto")" = "$(results "$tcg")"
		check "x86_64 KVM and TCG are different candidates (machine kvm vs '')" \
			test "$(sql "$DB" "SELECT group_concat(DISTINCT c.machine) FROM jobs j JOIN candidates c ON c.id = j.candidate_id WHERE j.id IN ($auto, $tcg)")" = "kvm,"
	else
		# KVM not usable here: say why, and --accel kvm must refuse clearly
		echo "    KVM not usable on this host: $why (the KVM = TCG comparison needs a host where it is)"
		check "x86_64 auto fell back to TCG with a reason" grep -qE "/dev/kvm|guest arch|KVM probe" <<<"$why"
		"$KFARM" run --db "$DB" --kernel "x86_64=$X86:x86" --tests sysinfo --accel kvm \
			--append "$TOKEN" >/dev/null 2>"$T/kvm.err"
		rc=$?
		check "x86_64 --accel kvm refused: exit 2 (rc=$rc)" test "$rc" -eq 2
		check "x86_64 --accel kvm: the error says why ($(head -c 160 "$T/kvm.err"))" \
			grep -q "kvm is impossible here" "$T/kvm.err"
		check "x86_64 --accel kvm refused before anything was written" \
			test "$(sql "$DB" "SELECT max(id) FROM jobs")" = "$tcg"
	fi
	job_json "$tcg" >"$T/tcg-job.json"
	jcheck "API job object: accel, accel_reason, smp, memory_mb, machine" \
		'.accel == "tcg" and .accel_reason == "--accel tcg" and .smp == 1 and .memory_mb == 512 and .machine == ""' \
		"$T/tcg-job.json"
	check "kfarm show prints the machine line" \
		grep -q "^machine: 1 vCPU, 512 MiB, accel tcg (--accel tcg)" <<<"$("$KFARM" show --db "$DB" "$tcg" --no-log)"
fi

# --- alpha: 4 vCPUs asked for, 4 seen by the guest ---
ALPHA=$(default_image alpha 6.12)
[ -n "$ALPHA" ] || ALPHA=$(default_image alpha 6.1)
if [ -z "$ALPHA" ]; then
	bad "no alpha default kernel (run make images)"
else
	for spec in "--smp 4:4:smp4" "--variant smp2:2:smp2" ":1:"; do
		opt=${spec%%:*} rest=${spec#*:}
		want=${rest%%:*} key=${rest#*:}
		# shellcheck disable=SC2086
		"$KFARM" run --db "$DB" --kernel "alpha=$ALPHA:alpha" --tests sysinfo --confirm 0 \
			$opt --append "$TOKEN" >/dev/null 2>"$T/alpha.err"
		rc=$?
		j=$(last_job)
		check "alpha ${opt:-default}: COMPLETE (rc=$rc)" \
			test "$(sql "$DB" "SELECT outcome FROM jobs WHERE id = $j")" = COMPLETE
		check "alpha ${opt:-default}: the guest sees $want CPU(s) ($(note "$j" cpus))" \
			test "$(note "$j" cpus)" = "online $want configured $want"
		check "alpha ${opt:-default}: smp $want and machine '$key' recorded" \
			test "$(sql "$DB" "SELECT j.smp || '|' || c.machine FROM jobs j JOIN candidates c ON c.id = j.candidate_id WHERE j.id = $j")" = "$want|$key"
		echo "    alpha ${opt:-default}: preemption: $(note "$j" preemption); io_uring: $(note "$j" io_uring)"
	done
	check "alpha: the variant's name is in the record" \
		test "$(sql "$DB" "SELECT count(*) FROM jobs WHERE arch = 'alpha' AND variant = 'smp2' AND smp = 2")" = 1
	check "alpha: three machines, three candidates of one image" \
		test "$(sql "$DB" "SELECT count(DISTINCT candidate_id) FROM jobs WHERE arch = 'alpha'")" = 3
	before=$(sql "$DB" "SELECT count(*) FROM runs")
	"$KFARM" run --db "$DB" --kernel "alpha=$ALPHA:alpha" --smp 5 --append "$TOKEN" >/dev/null 2>"$T/a5.err"
	rc=$?
	check "alpha --smp 5 refused: exit 2 (rc=$rc), names the limit" \
		eval 'test "$rc" -eq 2 && grep -q "at most 4" "$T/a5.err"'
	"$KFARM" run --db "$DB" --kernel "alpha=$ALPHA:alpha" --variant huge --append "$TOKEN" >/dev/null 2>"$T/av.err"
	rc=$?
	check "alpha --variant huge refused: exit 2 (rc=$rc), lists the known ones" \
		eval 'test "$rc" -eq 2 && grep -q "no machine variant .huge. (known: smp2, smp4)" "$T/av.err"'
	check "refusals wrote no run" test "$(sql "$DB" "SELECT count(*) FROM runs")" = "$before"
fi

# --- sparc64: sun4u takes one vCPU ---
SPARC=$(default_image sparc64 6.1)
if [ -z "$SPARC" ]; then
	# the refusal comes before any boot: an image with sparc64's signature will do
	SPARC=$T/sparc-image
	printf '\177ELF\002\002\001\000\000\000\000\000\000\000\000\000\000\002\000\053' >"$SPARC"
fi
before=$(sql "$DB" "SELECT count(*) FROM runs")
"$KFARM" run --db "$DB" --kernel "sparc64=$SPARC:sparc" --smp 2 --append "$TOKEN" >/dev/null 2>"$T/sp.err"
rc=$?
echo "    $(head -c 200 "$T/sp.err")"
check "sparc64 --smp 2 refused: exit 2 (rc=$rc)" test "$rc" -eq 2
check "sparc64 --smp 2: the error names the machine and its limit" \
	grep -q "sparc64: 2 vCPUs asked for, but QEMU's 'sun4u' machine takes at most 1" "$T/sp.err"
check "sparc64 refusal wrote no run" test "$(sql "$DB" "SELECT count(*) FROM runs")" = "$before"
"$KFARM" run --db "$DB" --kernel "sparc64=$SPARC:sparc" --accel fast >/dev/null 2>"$T/acc.err"
rc=$?
check "--accel fast refused: exit 2 (rc=$rc)" eval 'test "$rc" -eq 2 && grep -q "auto, kvm or tcg" "$T/acc.err"'

check "no QEMU left" no_qemu_left
finish
