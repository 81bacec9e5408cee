#!/bin/bash
# kfarm bisect's driver in seconds: a stand-in kernel tree (a Makefile with
# kbuild's targets that "builds" in 2 s and fails once a file `broken` is
# in the tree; never used outside this test) through the real kfarm build,
# images/kernel.sh, SQLite and process handling: --build bisection with
# --revert-check, good-not-good and bad-not-bad refusals, kill -9 while a
# step's build runs and resume (the run adopted, no step run twice),
# kfarm regressions --bisect on a build regression, /api/bisections.
# t-bisect.sh does the same with real kernels and boots.
. "$(dirname "$0")/lib.sh"
echo "t-bisect-standin: kfarm bisect's driver on a stand-in tree"
export KFARM_CACHE=$T/cache
F=$T/tree
standin_tree "$F" 6 1 'sleep 2' \
	'@if [ -f $(CURDIR)/broken ]; then echo "broken.c:1:1: error: broken on purpose"; exit 1; fi'
echo 0 >"$F/a.c"
export GIT_AUTHOR_NAME=Dev GIT_AUTHOR_EMAIL=dev@example.org GIT_COMMITTER_NAME=Dev \
	GIT_COMMITTER_EMAIL=dev@example.org
g() { git -C "$F" "$@"; }
g init -q -b main && g add -A && g commit -qm base && g tag base
for i in 01 02 03 04 05 06 07 08 09 10; do
	echo "$i" >"$F/f$i.c"
	[ "$i" = 06 ] && echo x >"$F/broken"
	g add -A && g commit -qm "change $i"
done
BAD6=$(g rev-parse main~4)
bis() { "$KFARM" bisect --source "$F" --arch x86_64 --build "$@"; }

bis --good base --bad main --revert-check --db "$T/a.db" >"$T/a.out" 2>&1
check "culprit found: exit 0" test $? -eq 0
check "it is 'change 06'" grep -qx "culprit: $BAD6" "$T/a.out"
check "at most ceil(log2 10) = 4 steps" test "$(sql "$T/a.db" "SELECT count(*) FROM bisect_steps WHERE kind = 'step'")" -le 4
check "the revert check passed" test "$(sql "$T/a.db" "SELECT revert FROM bisections")" = pass
check "the repository's HEAD and work tree are untouched" test -z "$(g status --porcelain)" -a "$(g rev-parse HEAD)" = "$(g rev-parse main)"

bis --good main~3 --bad main --db "$T/a.db" >"$T/ng.out" 2>&1
check "good revision that fails: exit 1" test $? -eq 1
check "... and says so" grep -q "good revision .* is not good" "$T/ng.out"
bis --good base --bad main~8 --db "$T/a.db" >"$T/nb.out" 2>&1
check "bad revision that passes: exit 1" test $? -eq 1
check "... and says so" grep -q "bad revision .* is not bad" "$T/nb.out"
bis --good main --bad base --db "$T/bad.db" >/dev/null 2>"$T/rev.err"
check "good after bad: exit 2, nothing written" test $? -eq 2 -a ! -e "$T/bad.db"

# kill -9 while a step's build runs, then the same command again
rm -rf "$KFARM_CACHE/kernels"	# real (2 s) builds again
# the kfarm itself in the background (not a function: $! must be its pid)
"$KFARM" bisect --source "$F" --arch x86_64 --build --good base --bad main --db "$T/k.db" >"$T/k1.out" 2>&1 &
P=$!
for _ in $(seq 300); do
	d=$(sql "$T/k.db" "SELECT count(*) FROM bisect_steps WHERE verdict IS NOT NULL" 2>/dev/null)
	p=$(sql "$T/k.db" "SELECT count(*) FROM bisect_runs WHERE result IS NULL" 2>/dev/null)
	[ "${d:-0}" -ge 3 ] && [ "$p" = 1 ] && break
	sleep 0.1
done
"$KFARM" bisect --source "$F" --arch x86_64 --build --good base --bad main --db "$T/k.db" >"$T/k0.out" 2>&1
check "a second kfarm on the running bisection: refused, exit 3" test $? -eq 3
check "... naming the other kfarm" grep -q "is being run by another kfarm" "$T/k0.out"
kill -9 $P
wait $P 2>/dev/null
d=$(sql "$T/k.db" "SELECT count(*) FROM bisect_steps WHERE verdict IS NOT NULL")
p=$(sql "$T/k.db" "SELECT count(*) FROM bisect_runs WHERE result IS NULL")
check "killed with $d steps decided and one step's build running" test "$d" -ge 3 -a "$p" = 1
check "the killed bisection had not finished" test "$(sql "$T/k.db" "SELECT status FROM bisections")" = running
bis --good base --bad main --db "$T/k.db" >"$T/k2.out" 2>&1
check "resumed: exit 0" test $? -eq 0
check "resumed: same culprit" grep -qx "culprit: $BAD6" "$T/k2.out"
check "resumed: the decided steps reused" test "$(grep -c '(stored)' "$T/k2.out")" -eq "$d"
check "resumed: the killed bisection's running build adopted" grep -q "waiting for the step's run left by the killed bisection" "$T/k2.out"
check "no step run twice: steps = step runs = database runs" test \
	"$(sql "$T/k.db" "SELECT (SELECT count(*) FROM bisect_steps) || ' ' || (SELECT count(*) FROM bisect_runs) || ' ' || (SELECT count(*) FROM runs)")" = \
	"$(sql "$T/k.db" "SELECT count(*) FROM bisect_steps") $(sql "$T/k.db" "SELECT count(*) FROM bisect_steps") $(sql "$T/k.db" "SELECT count(*) FROM bisect_steps")"

# a build regression of a tree, bisected by kfarm regressions --bisect
"$KFARM" build --source "$F@base" --arch x86_64 --tree fk --db "$T/r.db" >/dev/null 2>&1
"$KFARM" build --source "$F@main" --arch x86_64 --tree fk --db "$T/r.db" >/dev/null 2>&1
"$KFARM" regressions --db "$T/r.db" --tree fk --bisect >"$T/r.out" 2>&1
check "regressions --bisect: exit 1 (the regression stays open)" test $? -eq 1
check "regressions --bisect: bisected the build regression of fk" test \
	"$(sql "$T/r.db" "SELECT tree || ' ' || mode || ' ' || status || ' ' || culprit FROM bisections")" = "fk build found $BAD6"
start_serve "$T/r.db" && curl -s "$URL/api/bisections" >"$T/b.json" && curl -s "$URL/api/bisections/1" >"$T/b1.json"
stop_serve
jcheck "/api/bisections: the culprit" ".bisections[0].culprit == \"$BAD6\" and .bisections[0].steps <= 4" "$T/b.json"
jcheck "/api/bisections/1: steps with their run ids" '(.steps | length) as $n | $n > 0 and ([.steps[] | select(.run_ids != null)] | length) == $n' "$T/b1.json"
finish
