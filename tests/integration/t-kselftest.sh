#!/bin/bash
# kselftests from the candidate's own source, for real: Debian's 6.12 tarball
# + images/patches/6.12 with --kselftest clone3,sigaltstack on x86_64
# (static) and alpha (dynamic: the programs' libraries from the sysroot).
# Neither target has a config file; the kernels get kfarm's own addition to
# the merge (ptys, for streaming), so they are built once under their own
# key and cached from then on. Checks: each
# target's build is a build result (clone3 FAILs on the one program that
# needs libcap, with the first error; the others still run), kselftest:T is
# expected and nested, the programs really ran on both arches. Then user
# programs on a guest that times out: they are expected (MISSING, not
# absent), their output streams (a fully buffered printf before a hang is in
# the log), a program's own SKIP reason is stored, a Totals line with
# failures is not a PASS, and --tests names user:NAME.
# lane: build
. "$(dirname "$0")/lib.sh"
echo "t-kselftest: kselftest targets built from the candidate, user programs"

TARBALL=/usr/src/linux-source-6.12.tar.xz
DB=$T/k.db
[ -f "$TARBALL" ] || { bad "$TARBALL (apt-get install linux-source-6.12)"; finish; exit 1; }

# ---- (0) /init's program runner on the host (not PID 1, no VM): a kselftest
# target dir with a settings timeout, streaming through a pty
make -s -C "$TOP" guest-host >/dev/null 2>&1 || bad "host build of /init"
H=$T/host
mkdir -p "$H/ks/demo/sub"
gcc -O2 -o "$H/ks/demo/skip4" -x c - <<'C'
#include <stdio.h>
int main(void) { printf("TAP version 13\n1..0 # SKIP Time namespaces are not supported\n"); return 4; }
C
gcc -O2 -o "$H/ks/demo/sub/early" -x c - <<'C'
#include <stdio.h>
#include <stdlib.h>
int main(void) { printf("TAP version 13\n1..5\nok 1 a\nok 2 # SKIP New time NS\n"); fflush(stdout); abort(); }
C
gcc -O2 -o "$H/ks/demo/hang" -x c - <<'C'
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("TAP version 13\n1..1\n# isatty %d\n", isatty(1)); for (;;) pause(); }
C
gcc -O2 -o "$H/ks/demo/quiet" -x c - <<'C'
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("TAP version 13\n1..1\nEstimating: "); fflush(stdout); sleep(3); printf("done\nok 1 q\n"); return 0; }
C
printf '#!/nonexistent/sh\necho never\n' >"$H/ks/demo/script.sh"
chmod +x "$H/ks/demo/script.sh"
printf 'skip4\nsub/early\nhang\nscript.sh\nquiet\n' >"$H/ks/demo/kfarm-list"
printf 'timeout=4\n' >"$H/ks/demo/settings"
"$TOP/build/guest/host/init" kfarm.tests=kselftest:demo "kfarm.kselftestdir=$H/ks" \
	kfarm.opt=user.heartbeat=1 >"$H/out" 2>&1
hl() { grep -qxF -- "$1" "$H/out"; }
check "host: exit 4 is SKIP with the program's own reason" hl "  ok 1 skip4 # SKIP Time namespaces are not supported"
check "host: a crash is not ok, named by its collection path" hl "  not ok 2 sub/early # crashed: SIGABRT"
check "host: settings timeout=4 ends the hanging program" hl "  not ok 3 hang # TIMEOUT after 4s"
check "host: its stdout was a tty (a pty: line-buffered, printed before the kill)" hl "    # isatty 1"
check "host: a script without its interpreter is SKIP with the reason" \
	hl "  ok 4 script.sh # SKIP script for /nonexistent/sh, which kfarm's guest does not have"
check "host: a quiet program gets a heartbeat, its half line kept whole after it" \
	bash -c 'grep -A1 -- "^    # kfarm-init: still running after [0-9]* s$" "$1" | grep -qxF "    Estimating: done"' _ "$H/out"
check "host: the quiet program passes" hl "  ok 5 quiet"
check "host: the target is not ok, naming the failed programs" hl "not ok 1 kselftest:demo # 2 of 5 failed: sub/early, hang"

# ---- (a) --kselftest on two arches
nice -n 10 "$KFARM" run --db "$DB" --append "$TOKEN" --source "$TARBALL" --patches "$TOP/images/patches/6.12" \
	--arch x86_64,alpha --kselftest clone3,sigaltstack --timeout 900 --json >"$T/a.json" 2>"$T/a.err"
rc=$?
check "run --kselftest: exit 0 or 1 (results, not an error; got $rc)" test $rc -le 1
check "kernels: PASS with config kfarm+kselftest" test \
	"$(sql "$DB" "SELECT group_concat(arch || ':' || status, ' ') FROM (SELECT * FROM builds WHERE config = 'kfarm+kselftest' ORDER BY arch)")" = \
	"alpha:PASS x86_64:PASS"
KX=$KFARM_CACHE/kernels/x86_64-$(sql "$DB" "SELECT kernel_key FROM builds WHERE arch = 'x86_64' AND config = 'kfarm+kselftest'")
check "the merged config is in the kernel (CONFIG_UNIX98_PTYS=y) and its record" \
	bash -c "grep -qx CONFIG_UNIX98_PTYS=y '$KX/config' && jq -e '.kselftest_config.targets == \"clone3,sigaltstack\"' '$KX/build.json' >/dev/null"
check "what clone3 needs and does not name is merged (images/kselftest.needs: CONFIG_PID_NS=y)" grep -qx CONFIG_PID_NS=y "$KX/config"
for a in x86_64 alpha; do
	check "$a: clone3's cases in a new PID namespace pass (CONFIG_PID_NS merged)" test \
		"$(sql "$DB" "SELECT group_concat(DISTINCT r.status) FROM results r JOIN jobs j ON j.id = r.job_id WHERE j.arch = '$a' AND r.test GLOB 'kselftest:clone3/clone3/*in a new PID*'")" = PASS

	st=$(sql "$DB" "SELECT status || ' ' || error FROM builds WHERE arch = '$a' AND config = 'kselftest:clone3'")
	check "$a: kselftest:clone3 build FAILs with the first error (the libcap header): $st" \
		grep -qE '^FAIL clone3_cap_checkpoint_restore.c:[0-9]+:[0-9]+: fatal error: sys/capability.h' <<<"$st"
	check "$a: kselftest:sigaltstack build PASS, its log stored" test \
		"$(sql "$DB" "SELECT status || (log_path LIKE 'run-%/kselftest-$a-%-sigaltstack.log') FROM builds WHERE arch = '$a' AND config = 'kselftest:sigaltstack'")" = PASS1
	jid=$(sql "$DB" "SELECT j.id FROM jobs j JOIN candidates c ON c.id = j.candidate_id WHERE c.arch = '$a'")
	top=$(sql "$DB" "SELECT group_concat(test || '=' || status, ' ') FROM (SELECT test, status FROM results WHERE job_id = $jid AND depth = 0 AND test LIKE 'kselftest:%' ORDER BY test)")
	check "$a: both targets ran as top-level results ($top)" \
		grep -qE '^kselftest:clone3=(PASS|FAIL|SKIP) kselftest:sigaltstack=(PASS|FAIL|SKIP)$' <<<"$top"
	check "$a: clone3's three built programs ran, nested under kselftest:clone3" test \
		"$(sql "$DB" "SELECT count(*) FROM results WHERE job_id = $jid AND depth = 1 AND test IN
			('kselftest:clone3/clone3', 'kselftest:clone3/clone3_clear_sighand', 'kselftest:clone3/clone3_set_tid') AND status <> 'MISSING'")" = 3
	n=$(sql "$DB" "SELECT count(*) FROM results WHERE job_id = $jid AND depth = 2 AND test LIKE 'kselftest:sigaltstack/sas/%'")
	check "$a: sas's own subtests are stored ($n)" test "$n" -gt 0
	log=$DB.logs/$(sql "$DB" "SELECT log_path FROM jobs WHERE id = $jid")
	check "$a: no program failed to load (its libraries are packed)" \
		bash -c "! grep -q 'error while loading shared libraries' '$log'"
	check "$a: programs ran on a pty (streamed, line-buffered), not the pipe fallback" \
		bash -c "grep -q '^    # kfarm-init: [0-9.]* s[[:space:]]*\$' '$log' && ! grep -q 'pipe: no pty' '$log'"
	check "$a: no nameless 'test N' for a result with a description" test \
		"$(sql "$DB" "SELECT count(*) FROM results WHERE job_id = $jid AND test GLOB 'kselftest:*/test [0-9]*' AND status <> 'MISSING'")" = 0
done
check "alpha's initramfs carries the NEEDED libraries (libgcc_s for pthread_exit)" \
	bash -c "zcat '$(ls -t "$KFARM_CACHE"/initramfs/alpha-kselftest-*.cpio.gz | head -n1)' | cpio -t 2>/dev/null | grep -qx lib/libgcc_s.so.1"
"$KFARM" run --db "$T/bad.db" --source "$TARBALL" --kselftest 'clone3,../x' >/dev/null 2>"$T/bad.err"
check "--kselftest with a path: exit 2, nothing written" test $? -eq 2 -a ! -e "$T/bad.db"
"$KFARM" run --db "$T/bad.db" --kselftest clone3 >/dev/null 2>"$T/bad.err"
check "--kselftest without --source: exit 2" test $? -eq 2
S612=$(ls -d "$KFARM_CACHE"/src/linux-6.12 "$KFARM_CACHE"/src/linux-6.12-* 2>/dev/null | grep -v nopatch | head -n1)
check "a target's config file is what the kernel merges (kselftest-merge)" \
	grep -qx CONFIG_USERFAULTFD=y <("$TOP/images/kselftest.sh" --config-fragment "$S612" mm)
check "timers has no config file; what mqueue-lat needs is merged (kselftest.needs: POSIX_MQUEUE and its NET)" \
	test "$("$TOP/images/kselftest.sh" --config-fragment "$S612" timers | grep -cxE 'CONFIG_(POSIX_MQUEUE|NET)=y')" = 2

# ---- (b) user programs: expected, streamed, their own reasons
U=$T/user C=$T/cache
mkdir -p "$U" "$C"
cc_user() { gcc -static -O2 -o "$U/$1" -x c -; }
cc_user a_skip <<'EOF'
#include <stdio.h>
int main(void) { printf("TAP version 13\n1..0 # SKIP Time namespaces are not supported\n"); return 4; }
EOF
cc_user b_totals <<'EOF'
#include <stdio.h>
int main(void) { printf("TAP version 13\n1..3\nnot ok 1 a\nnot ok 2 b\nnot ok 3 c\n"
	"# Totals: pass:0 fail:3 xfail:0 xpass:0 skip:0 error:0\n"); return 0; }
EOF
cc_user c_hang <<'EOF'
#include <stdio.h>
#include <unistd.h>
/* stdio's own choice: fully buffered on a pipe (the line would be lost
 * when the job times out), line-buffered on a pty (streamed) */
int main(void) { printf("kfarm-buffered-line before the hang\n");
	for (;;) pause(); }
EOF
cc_user d_after <<'EOF'
int main(void) { return 0; }
EOF
KFARM_CACHE=$C bash "$TOP/images/mkinitramfs.sh" x86_64 >/dev/null 2>"$T/mk.err" &&
	KFARM_CACHE=$C bash "$TOP/images/mkinitramfs.sh" x86_64 "$U" >/dev/null 2>>"$T/mk.err"
check "user initramfs built" test $? -eq 0
UI=$(jq -r .path "$C/initramfs/x86_64-user.json")
K=$KX/image	# the kselftest kernel: it has ptys
KFARM_CACHE=$C nice -n 10 "$KFARM" run --db "$T/u.db" --kernel "x86_64=$K:u" --initramfs "x86_64=$UI" \
	--append "$TOKEN kfarm.opt=user.timeout=1000" --timeout 60 --json >"$T/u.json" 2>"$T/u.err"
jcheck "hanging user program: job TIMEOUT" '.jobs[0].outcome == "TIMEOUT"' "$T/u.json"
st() { sql "$T/u.db" "SELECT status || ' ' || reason FROM results WHERE test = '$1' AND depth = 0"; }
check "user:a_skip: SKIP with its own reason, not \"exit status 4\"" test "$(st user:a_skip)" = "SKIP SKIP Time namespaces are not supported"
check "user:b_totals: exit 0 with Totals fail:3 is FAIL" grep -q '^FAIL exit status 0 but Totals: pass:0 fail:3' <<<"$(st user:b_totals)"
check "user:c_hang and user:d_after expected: MISSING on TIMEOUT, not absent" test \
	"$(st user:c_hang | cut -d' ' -f1),$(st user:d_after | cut -d' ' -f1)" = "MISSING,MISSING"
ulog=$T/u.db.logs/$(sql "$T/u.db" "SELECT log_path FROM jobs")
check "a fully buffered line before the hang is in the console log (pty streaming)" \
	grep -aq '^  kfarm-buffered-line before the hang' "$ulog"
KFARM_CACHE=$C nice -n 10 "$KFARM" run --db "$T/u2.db" --kernel "x86_64=$K:u" --initramfs "x86_64=$UI" \
	--append "$TOKEN" --tests sysinfo,user:a_skip,user:d_after --json >"$T/u2.json" 2>"$T/u2.err"
check "--tests names user programs: exit 0" test $? -eq 0
check "--tests sysinfo,user:a_skip,user:d_after: exactly those ran" test \
	"$(sql "$T/u2.db" "SELECT group_concat(test || '=' || status, ' ') FROM (SELECT * FROM results WHERE depth = 0 ORDER BY id)")" = \
	"sysinfo=PASS user:a_skip=SKIP user:d_after=PASS"
# ---- (c) one default kernel version: --kernels
"$KFARM" run --db "$T/v.db" --kernels 9.99 >/dev/null 2>"$T/v.err"
check "--kernels 9.99: no such default kernel, exit 2, nothing written" test $? -eq 2 -a ! -e "$T/v.db"
if [ -n "$(default_image x86_64 6.12)" ] && [ -n "$(default_image x86_64 6.1)" ]; then
	nice -n 10 "$KFARM" run --db "$T/v.db" --arch x86_64 --kernels 6.12 --tests sysinfo --append "$TOKEN" --json >"$T/v.json" 2>>"$T/v.err"
	jcheck "--arch x86_64 --kernels 6.12: only the 6.12 kernel booted" \
		'[.jobs[] | .label] == ["debian-6.12"]' "$T/v.json"
fi
check "no QEMU left" no_qemu_left
finish
