#!/bin/bash
# Source candidates, built for real: a git repository made from Debian's 6.1
# source (tests/integration/source-fixture.sh, cached), three revisions of it
# (alpha builds, a commit breaks the alpha build, a commit fixes it) run with
# kfarm run --source REPO@REV --arch alpha: build PASS -> FAIL (first error
# stored, a regression, tests MISSING "not built") -> PASS (a fix), booted in
# real QEMU. Then patch series that do not apply, and bad source inputs.
# Uses its own cache ($KFARM_SOURCE_CACHE, default ~/.cache/kfarm-t-source)
# so that its builds are reused between runs and never touch make images'
# kernels.
# Its compiler cache is make images' (KFARM_CCACHE_DIR): the fixture is
# Debian's 6.1 + kfarm's fix-ups, so its first builds are mostly ccache hits.
# lane: build
. "$(dirname "$0")/lib.sh"
echo "t-source: git/tarball source candidates, builds as results, patch series"

TC=${KFARM_SOURCE_CACHE:-$HOME/.cache/kfarm-t-source}
export KFARM_CCACHE_DIR=${KFARM_CCACHE_DIR:-$KFARM_CACHE/ccache}
export KFARM_CACHE=$TC/cache
REPO=$TC/linux-6.1
DB=$T/s.db
mkdir -p "$KFARM_CACHE"
nice -n 10 "$TOP/tests/integration/source-fixture.sh" "$REPO" || { bad "test repository"; finish; exit 1; }
make -s -C "$TOP" initramfs ARCH=alpha KFARM_CACHE="$KFARM_CACHE" >"$T/initramfs.log" 2>&1 ||
	{ bad "alpha initramfs"; cat "$T/initramfs.log"; finish; exit 1; }
git -C "$REPO" rev-parse -q --verify base >/dev/null || { bad "fixture has no base"; exit 1; }

# B breaks alpha (a syntax error in an alpha-only file), C fixes it; made
# with plumbing in a private index, unique per test run so they really build
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@localhost GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@localhost
F=arch/alpha/kernel/time.c
git -C "$REPO" show "base:$F" >"$T/time.c"
echo 'int kfarm_broken_on_purpose = ;' >>"$T/time.c"
blob=$(git -C "$REPO" hash-object -w "$T/time.c")
GIT_INDEX_FILE=$T/idx git -C "$REPO" read-tree base
GIT_INDEX_FILE=$T/idx git -C "$REPO" update-index --cacheinfo "100644,$blob,$F"
tree=$(GIT_INDEX_FILE=$T/idx git -C "$REPO" write-tree)
B=$(git -C "$REPO" commit-tree "$tree" -p base -m "alpha: break the build (run $$ $RANDOM)")
C=$(git -C "$REPO" commit-tree "base^{tree}" -p "$B" -m "alpha: fix the build (run $$ $RANDOM)")

# the user's work tree and index must stay as they are: make them dirty
echo "uncommitted $$" >>"$REPO/README"
before=$(git -C "$REPO" status --porcelain; git -C "$REPO" rev-parse HEAD)

run() { nice -n 10 "$KFARM" run --db "$DB" --append "$TOKEN" --arch alpha --tree t-src --json "$@" 2>>"$T/err"; }
bdur() { sql "$DB" "SELECT printf('%.0f', duration_s) FROM builds ORDER BY id DESC LIMIT 1"; }

run --source "$REPO@base" >"$T/a.json"
check "revision base: exit 0 (built and booted)" test $? -eq 0
check "base: build PASS recorded with compiler, config hash, log" test "$(sql "$DB" \
	"SELECT status || (compiler LIKE 'alpha-linux-gnu-gcc%') || (length(config_sha256) = 64) || (log_path LIKE 'run-%/build-alpha-%.log') FROM builds")" = PASS111
check "base: the build log is in the database's logs" test -s "$DB.logs/$(sql "$DB" 'SELECT log_path FROM builds')"
jcheck "base: alpha booted and its tests passed" '.jobs | length == 1 and .[0].outcome == "COMPLETE" and .[0].pass > 0 and .[0].fail == 0' "$T/a.json"
check "base: the source's identity is the commit id" test "$(sql "$DB" "SELECT identity FROM sources")" = "git:$(git -C "$REPO" rev-parse base)+patches:none"
T_FULL=$(bdur) CACHED_FULL=$(sql "$DB" "SELECT cached FROM builds ORDER BY id DESC LIMIT 1")

run --source "$REPO@$B" >"$T/b.json"
check "revision B: exit 1 (alpha does not build)" test $? -eq 1
ERRLINE=$(sql "$DB" "SELECT error FROM builds ORDER BY id DESC LIMIT 1")
check "B: build FAIL with the first error at file:line ($ERRLINE)" \
	test "$(sql "$DB" "SELECT status FROM builds ORDER BY id DESC LIMIT 1")" = FAIL
check "B: first error names $F:line" grep -qE "^$F:[0-9]+:[0-9]+: error:" <<<"$ERRLINE"
jcheck "B: reported as a build regression in the run's changes" \
	'[.changes[] | select(.test == "build") | "\(.kind) \(.from.status)->\(.to.status)"] == ["regression PASS->FAIL"]' "$T/b.json"
n_missing=$(sql "$DB" "SELECT count(*) FROM results r JOIN jobs j ON j.id = r.job_id JOIN candidates c ON c.id = j.candidate_id
	WHERE c.label LIKE '${B:0:12}%' AND r.status = 'MISSING' AND r.reason = 'not built'")
n_tests=$(sql "$DB" "SELECT count(*) FROM results WHERE job_id = (SELECT min(id) FROM jobs) AND depth = 0")
check "B: all $n_tests tests stored MISSING \"not built\" (got $n_missing)" test "$n_missing" -eq "$n_tests" -a "$n_tests" -gt 0
jcheck "B: the unbuilt tests are not changes of their own: the build's regression says it" \
	'[.changes[] | select(.test != "build")] == []' "$T/b.json"
"$KFARM" regressions --db "$DB" --tree t-src >"$T/reg.txt"
check "kfarm regressions: exit 1 with the open build regression" test $? -eq 1
check "kfarm regressions: shows the build's first error" grep -qF "first error: $ERRLINE" "$T/reg.txt"
jid=$(sql "$DB" "SELECT j.id FROM jobs j JOIN candidates c ON c.id = j.candidate_id WHERE c.label = '${B:0:12}'")
"$KFARM" show --db "$DB" "$jid" >"$T/show.txt" 2>&1
check "kfarm show of B's alpha job: the build FAILed, with its first error" \
	grep -qxF "first error: $ERRLINE" "$T/show.txt"
check "kfarm show of B's alpha job: outcome NOT_BUILT (no boot failure), with the build's error" \
	grep -qxF "outcome: NOT_BUILT: build FAIL: $ERRLINE" "$T/show.txt"
check "B: its job is NOT_BUILT, not a boot failure" test "$(sql "$DB" "SELECT outcome FROM jobs WHERE id = $jid")" = NOT_BUILT
check "B: no image in the cache for the failed key" test ! -e "$KFARM_CACHE/kernels/alpha-$(sql "$DB" "SELECT kernel_key FROM builds ORDER BY id DESC LIMIT 1")/image"
T_FAIL=$(bdur)

# the dashboard at B (headless chromium, tests/browser/builds.mjs): alpha's
# cells are build-failed cells, unlike a boot failure's, the build regression
# is listed, a cell opens the build log at the first error; screenshots in
# tests/out/
BROWSER=$TOP/tests/browser
if [ ! -d "$BROWSER/node_modules/playwright-core" ]; then
	npm ci --prefix "$BROWSER" --no-audit --no-fund >"$T/npm.log" 2>&1 || cat "$T/npm.log"
fi
if start_serve "$DB"; then
	timeout 120 node "$BROWSER/builds.mjs" --url "$URL" --arch alpha --error "$ERRLINE" --hash "#tree=t-src" \
		--screenshot "$TOP/tests/out/build-failed.png" --job-shot "$TOP/tests/out/build-failed-log.png" >"$T/browser.out" 2>&1
	rc=$?
	while IFS= read -r line; do
		case $line in
		"  ok: "*) ok "dashboard: ${line#  ok: }" ;;
		"  FAIL: "*) bad "dashboard: ${line#  FAIL: }" ;;
		*) echo "    $line" ;;
		esac
	done <"$T/browser.out"
	check "dashboard: browser test exit status 0" test $rc -eq 0
	stop_serve
else
	bad "kfarm serve did not start"
fi

run --source "$REPO@$C" >"$T/c.json"
check "revision C: exit 0 (fixed, built and booted)" test $? -eq 0
jcheck "C: reported as a build fix" '[.changes[] | select(.test == "build") | .kind] == ["fix"]' "$T/c.json"
jcheck "C: its tests are no fixes of their own (they did not run at B)" \
	'[.changes[] | select(.test != "build")] == []' "$T/c.json"
T_INCR=$(bdur)
check "C: an incremental rebuild, not from the cache" test "$(sql "$DB" "SELECT cached FROM builds ORDER BY id DESC LIMIT 1")" = 0

# D on top of C adds a warning (an unused static in an alpha file): the
# incremental build passes with one new warning, a "change" naming it; the
# warnings C's build already had (and the ones of the files D's build did
# not recompile) are not new
printf '%s\n' "$(git -C "$REPO" show "base:$F")" 'static int kfarm_unused_on_purpose;' >"$T/time-d.c"
blob=$(git -C "$REPO" hash-object -w "$T/time-d.c")
GIT_INDEX_FILE=$T/idx git -C "$REPO" read-tree base
GIT_INDEX_FILE=$T/idx git -C "$REPO" update-index --cacheinfo "100644,$blob,$F"
D=$(git -C "$REPO" commit-tree "$(GIT_INDEX_FILE=$T/idx git -C "$REPO" write-tree)" -p "$C" -m "alpha: a new warning (run $$ $RANDOM)")
run --source "$REPO@$D" >"$T/d.json"
check "revision D: exit 0 (a new warning is no failure)" test $? -eq 0
check "D: one new warning stored, in $F" test "$(sql "$DB" "SELECT w.new_warnings || ' ' || (SELECT count(*) FROM build_warnings
	WHERE build_id = b.id AND new AND warning LIKE '$F: warning: %kfarm_unused_on_purpose%') FROM builds b
	JOIN build_warn_sum w ON w.build_id = b.id ORDER BY b.id DESC LIMIT 1")" = "1 1"
jcheck "D: the run's changes have a build change with the new warning" \
	'[.changes[] | select(.test == "build") | "\(.kind) \(.to.new_warnings) \(.to.warnings[0] | test("kfarm_unused_on_purpose"))"] == ["change 1 true"]' "$T/d.json"
"$KFARM" regressions --db "$DB" --tree t-src >"$T/reg-d.txt"
check "kfarm regressions: names the new warning" grep -q "new warning: $F: warning: .*kfarm_unused_on_purpose" "$T/reg-d.txt"

after=$(git -C "$REPO" status --porcelain; git -C "$REPO" rev-parse HEAD)
check "the user's work tree, index and HEAD are untouched" test "$before" = "$after"
git -C "$REPO" checkout -q -- README

start_serve "$DB" && curl -s "$URL/api/builds" >"$T/builds.json"
jcheck "/api/builds: PASS, FAIL, PASS, PASS (D) newest first, with first error and D's new warning" \
	'[.builds[] | .status] == ["PASS", "PASS", "FAIL", "PASS"] and (.builds[2].error | test("time.c:[0-9]+")) and .builds[0].new_warnings == 1' "$T/builds.json"
stop_serve
"$KFARM" status --db "$DB" >"$T/status.txt"
check "kfarm status lists the latest build per tree x arch" grep -qE '^alpha +t-src +[0-9a-f]{12} +PASS' "$T/status.txt"
echo "  alpha build times: base ${T_FULL}s (cached=$CACHED_FULL), failing ${T_FAIL}s, incremental fix ${T_INCR}s"

# (a2) --config: +FRAGMENT on top of kfarm's recipe, built and booted in its
# own O= tree under its own key, the option in the image's config; a fragment
# asking for an option whose dependencies are unmet is a FAIL naming it;
# defconfig = the arch's defconfig + kfarm's options, every one verified
printf 'CONFIG_IKCONFIG=y\nCONFIG_IKCONFIG_PROC=y\n' >"$T/ikconfig.config"
run --source "$REPO@$C" --config "+$T/ikconfig.config" >"$T/cf.json"
check "--config +FRAGMENT: exit 0 (built and booted)" test $? -eq 0
check "+FRAGMENT: build recorded with config kfarm+ikconfig.config" test "$(sql "$DB" \
	"SELECT status || ' ' || config FROM builds ORDER BY id DESC LIMIT 1")" = "PASS kfarm+ikconfig.config"
key_c=$(sql "$DB" "SELECT b.kernel_key FROM builds b JOIN sources s ON s.id = b.source_id
	WHERE b.config = 'kfarm' AND s.commit_id = '$C' ORDER BY b.id DESC LIMIT 1")
key_f=$(sql "$DB" "SELECT kernel_key FROM builds ORDER BY id DESC LIMIT 1")
check "+FRAGMENT: another cache key than kfarm's recipe for the same commit" test -n "$key_f" -a "$key_f" != "$key_c"
check "+FRAGMENT: the built kernel's config has the fragment's options" \
	grep -qx CONFIG_IKCONFIG_PROC=y "$KFARM_CACHE/kernels/alpha-$key_f/config"
check "+FRAGMENT: the build tree is its own (src/git-.../.kfarm-o-alpha-...-frag-HASH)" \
	test "$(ls -d "$KFARM_CACHE"/src/git-*/.kfarm-o-alpha-git-*-frag-*/ | wc -l)" -ge 1
jcheck "+FRAGMENT: alpha booted and its tests passed" '.jobs[0].outcome == "COMPLETE" and .jobs[0].fail == 0' "$T/cf.json"
printf 'CONFIG_DEBUG_INFO_BTF=y\n' >"$T/btf.config"
nice -n 10 "$KFARM" build --db "$T/cfg.db" --source "$REPO@$C" --config "+$T/btf.config" --arch alpha >"$T/btf.out" 2>>"$T/err"
check "a fragment whose option cannot be met: exit 1" test $? -eq 1
check "its FAIL names the option that did not stick" test "$(sql "$T/cfg.db" "SELECT status || ' ' || config || ' ' || error FROM builds")" = \
	"FAIL kfarm+btf.config CONFIG_DEBUG_INFO_BTF=y requested by the config fragments but .config has CONFIG_DEBUG_INFO_BTF=n (dependencies not met?)"
"$KFARM" build --db "$T/cfg.db" --source "$REPO@$C" --config "$T/no-such.config" --arch alpha >/dev/null 2>"$T/bad.err"
check "--config with a missing file: exit 2, naming it" test $? -eq 2 -a -n "$(grep -F "$T/no-such.config" "$T/bad.err")"
"$KFARM" run --db "$T/cfg.db" --config defconfig --arch alpha >/dev/null 2>"$T/bad.err"
check "--config without --source: exit 2" test $? -eq 2
t0=$SECONDS
nice -n 10 "$KFARM" build --db "$T/cfg.db" --source "$REPO@$C" --config defconfig --arch alpha >"$T/def.out" 2>>"$T/err"
check "--config defconfig: alpha builds (exit 0)" test $? -eq 0
key_d=$(sql "$T/cfg.db" "SELECT kernel_key FROM builds WHERE config = 'defconfig'")
check "defconfig: the arch's defconfig (its CONFIG_SRM_ENV) + kfarm's options (MATHEMU, COMPACTION) in the image's config" \
	test "$(grep -cxE 'CONFIG_(SRM_ENV=m|SRM_ENV=y|MATHEMU=y|COMPACTION=y|BLK_DEV_INITRD=y)' "$KFARM_CACHE/kernels/alpha-$key_d/config")" = 4
echo "  alpha defconfig build: $(sql "$T/cfg.db" "SELECT printf('%.0f', duration_s) FROM builds WHERE config = 'defconfig'")s (cached=$(sql "$T/cfg.db" "SELECT cached FROM builds WHERE config = 'defconfig'"), wall $((SECONDS - t0))s)"

# (b) patch series that do not apply: a result for the candidate, exit 1
mkdir "$T/q"
printf '0001-bad.patch\n' >"$T/q/series"
cat >"$T/q/0001-bad.patch" <<'PATCH'
--- a/fs/fcntl.c
+++ b/fs/fcntl.c
@@ -1,3 +1,3 @@
-this line is not in fs/fcntl.c
+so this hunk cannot apply
 nor is this one
 or this
PATCH
nice -n 10 "$KFARM" build --db "$T/p.db" --source "$REPO@$C" --patches "$T/q" --arch alpha >"$T/p.out" 2>>"$T/err"
check "a series that does not apply: exit 1" test $? -eq 1
check "the build result names the patch and the hunk" test "$(sql "$T/p.db" "SELECT status || ' ' || error FROM builds")" = \
	"FAIL patch 0001-bad.patch: hunk #1 FAILED at 1 (fs/fcntl.c)"
git -C "$REPO" format-patch -1 --stdout "$B" >"$T/b.mbox"
nice -n 10 "$KFARM" build --db "$T/p.db" --source "$REPO@$B" --patches "$T/b.mbox" --arch alpha >/dev/null 2>>"$T/err"
check "an mbox that does not apply (already applied): exit 1" test $? -eq 1
check "its result names the mail and the file" grep -q "^FAIL patch mail 1 (\[PATCH\] alpha: break the build.*Reversed.*(arch/alpha/kernel/time.c)" \
	<<<"$(sql "$T/p.db" "SELECT status || ' ' || error FROM builds ORDER BY id DESC LIMIT 1")"
nkern=$(ls "$KFARM_CACHE/kernels" | wc -l)
nice -n 10 "$KFARM" build --db "$T/p.db" --source /usr/src/linux-source-6.1.tar.xz --patches "$T/q" --arch alpha >/dev/null 2>>"$T/err"
check "tarball + a series that does not apply: exit 1" test $? -eq 1
check "nothing half-built: no unpacked tree, no temporary left, no kernel" \
	test -z "$(ls -a "$KFARM_CACHE/src" | grep -E "^(\.tmp-)?linux-6\.1-[0-9a-f]{12}")" -a "$(ls "$KFARM_CACHE/kernels" | wc -l)" = "$nkern"

# (c) bad inputs: a clear error naming the input, exit 2, no database written
head -c 4096 /dev/urandom >"$T/garbage.tar.xz"
: >"$T/empty.tar.gz"
mkdir "$T/notkernel"; echo 'all:' >"$T/notkernel/Makefile"
for spec in "$T/missing.tar.xz" "$T/garbage.tar.xz" "$T/empty.tar.gz" "$T/notkernel" "$REPO@no-such-rev" "$T/q/series"; do
	"$KFARM" build --db "$T/bad.db" --source "$spec" --arch alpha >/dev/null 2>"$T/bad.err"
	rc=$?
	check "bad source $(basename "$spec"): exit 2 ($(tail -n1 "$T/bad.err" | cut -c1-90))" test $rc -eq 2
	check "bad source $(basename "$spec"): the error names it" grep -qF "$spec" "$T/bad.err"
done
check "bad sources: no database written" test ! -e "$T/bad.db"
# run from a git hook (GIT_DIR and GIT_WORK_TREE naming the user's own
# repository), kfarm's git still works only in its cache: the user's HEAD,
# index and untracked files stay (a checkout and git clean -fdx there
# otherwise)
head0=$(git -C "$REPO" rev-parse HEAD)
echo keep >"$REPO/kfarm-untracked-marker"
GIT_DIR=$REPO/.git GIT_WORK_TREE=$REPO nice -n 10 "$KFARM" build --db "$T/hook.db" --source "$REPO@$C" \
	--arch alpha >/dev/null 2>"$T/hook.err"
check "kfarm build under GIT_DIR/GIT_WORK_TREE of the user's repository: exit 0" test $? -eq 0
check "  the user's HEAD and untracked files are untouched" test "$(git -C "$REPO" rev-parse HEAD)" = "$head0" \
	-a -f "$REPO/kfarm-untracked-marker"
rm -f "$REPO/kfarm-untracked-marker"

# a bad source among good ones loses none of them: the good one's build
# is recorded (C's alpha is cached by now), the bad one's arch is an ERROR
# naming the reason, and the command still says bad input
for cmd in build run; do
	nice -n 10 "$KFARM" $cmd --db "$T/mixed-$cmd.db" --source "$REPO@$C" --source "$T/garbage.tar.xz" \
		--arch alpha >/dev/null 2>"$T/mixed.err"
	rc=$?
	check "kfarm $cmd, a good source and a garbage tarball: exit 2 ($(tail -n1 "$T/mixed.err" | cut -c1-80))" test $rc -eq 2
	check "kfarm $cmd: the good source's build is recorded PASS, the bad one's ERROR with the reason" test \
		"$(sql "$T/mixed-$cmd.db" "SELECT status || ' ' || coalesce(substr(error, 1, 39), '-') FROM builds ORDER BY id")" = \
		"PASS -
ERROR the source tree could not be prepared: "
done
check "no QEMU left" no_qemu_left
finish
