#!/bin/bash
# A hostile console: a stand-in guest (a static /init, not the kfarm suite)
# opens 20 KTAP nesting levels, prints 4096 results with 4000-byte names at
# the deepest and a 4000-byte-named parent line per level. kfarm's memory and
# CPU stay small (next to a control guest printing the same bytes without
# nesting), the run ends by itself, and what the bounds cut is recorded with
# the job (DB and API), never silent.
. "$(dirname "$0")/lib.sh"
echo "t-ktapbomb: KTAP nesting bomb through a real kernel's console"

IMG=$(default_image x86_64 6.1)
[ -n "$IMG" ] || { bad "no x86_64 6.1 default kernel (make images)"; finish; exit 1; }
DB=$T/b.db

# guest(DEFINES): the bomb; with -DOK='"xx"' the same bytes, as noise lines
guest() {
	cat <<C
$1
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#define LEVELS 20
int main(void) {
	static char name[4001];
	memset(name, 'n', 4000);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	printf("KTAP version 1\n# kfarm-init: stand-in guest\n1..1\n");
	for (int l = 1; l < LEVELS; l++)
		printf("%*sKTAP version 1\n%*s1..1\n", 2 * l, "", 2 * l, "");
	for (int i = 1; i <= 4096; i++)
		printf("%*s" OK " %d %s\n", 2 * (LEVELS - 1), "", i, name);
	for (int l = LEVELS - 2; l >= 1; l--)
		printf("%*s" OK " 1 %s\n", 2 * l, "", name);
	printf("ok 1 bomb\n");
	fflush(stdout);
	for (;;) pause();
}
C
}
guest '#define OK "ok"' | make_initrd "$T/bomb.cpio.gz"
guest '#define OK "xx"' | make_initrd "$T/flat.cpio.gz"

# Peak RssAnon (KiB) and CPU seconds of PID itself (not its QEMU), sampled
# until it exits.
peak_anon_cpu() {
	local pid=$1 peak=0 ticks=0 v t hz; hz=$(getconf CLK_TCK)
	while kill -0 "$pid" 2>/dev/null; do
		v=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null)
		[ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
		t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null)
		[ -n "$t" ] && ticks=$t
		sleep 0.1
	done
	echo "$peak $(awk -v t="$ticks" -v hz="$hz" 'BEGIN {printf "%.2f", t / hz}')"
}

# run_guest NAME: boots NAME.cpio.gz; sets rc rss cpu wall
run_guest() {
	local start kp; start=$(date +%s)
	"$KFARM" run --db "$DB" --kernel "x86_64=$IMG:$1" --initramfs "x86_64=$T/$1.cpio.gz" \
		--tests bomb --silence-timeout 60 --append "$TOKEN" --json >"$T/$1.out" 2>"$T/$1.err" &
	kp=$!
	read -r rss cpu < <(peak_anon_cpu $kp)
	wait $kp; rc=$?
	wall=$(( $(date +%s) - start ))
	echo "  $1: kfarm peak RssAnon ${rss} KiB, ${cpu} s CPU, ${wall} s wall (rc=$rc)"
}

# the control: the same console bytes without nesting, what reading costs
run_guest flat
flat_cpu=$cpu flat_wall=$wall
jcheck "flat control: COMPLETE" '.jobs[0].outcome == "COMPLETE"' "$T/flat.out"
run_guest bomb
cp "$T/bomb.out" "$T/out"

limit=65536	# KiB; an ASan build carries its shadow memory
[ -n "${ASAN_OPTIONS:-}" ] && limit=262144
check "bomb: exit 0, the suite's one test passed (rc=$rc)" test $rc -eq 0
jcheck "bomb: COMPLETE ($(jq -r '.jobs[0].outcome' "$T/out" 2>/dev/null))" '.jobs[0].outcome == "COMPLETE"' "$T/out"
check "bomb: kfarm's anonymous memory stays small (${rss} KiB < $limit)" test "$rss" -lt $limit
# relative to the control of the same run: the machine may be busy
check "bomb: parsing costs little CPU over reading the same bytes (${cpu} s < 1.3 x ${flat_cpu} + 1 s)" \
	awk -v c="$cpu" -v f="$flat_cpu" 'BEGIN {exit !(c < 1.3 * f + 1)}'
check "bomb: the run ended by itself, promptly (${wall} s < ${flat_wall} + 20 s)" \
	test "$wall" -lt $((flat_wall + 20))

job=$(sql "$DB" "SELECT max(id) FROM jobs")
warn=$(sql "$DB" "SELECT warning FROM jobs WHERE id = $job")
echo "  warning: $warn"
check "bomb: DB records the depth cap and how many results it dropped" \
	grep -q 'KTAP output truncated: depth cap 16 (4099 results dropped)' <<<"$warn"
check "bomb: DB records the clipped names" grep -q 'names clipped' <<<"$warn"
check "bomb: the 16 results within the depth cap are stored ($(sql "$DB" "SELECT count(*) FROM results WHERE job_id = $job"))" \
	test "$(sql "$DB" "SELECT count(*) FROM results WHERE job_id = $job")" = 16
check "bomb: stored paths are bounded ($(sql "$DB" "SELECT max(length(test)) FROM results WHERE job_id = $job") bytes)" \
	test "$(sql "$DB" "SELECT max(length(test)) FROM results WHERE job_id = $job")" -le 512
check "bomb: the top-level test passed" \
	test "$(sql "$DB" "SELECT status FROM results WHERE job_id = $job AND test = 'bomb'")" = PASS

if start_serve "$DB"; then
	curl -s "$URL/api/jobs/$job" >"$T/job.json"
	jcheck "bomb: the API shows the truncation with the job" \
		'.warning | test("KTAP output truncated: depth cap 16 \\(4099 results dropped\\)")' "$T/job.json"
else
	bad "kfarm serve did not start: $(cat "$T/serve.err")"
fi
check "bomb: no QEMU left" no_qemu_left
finish
