#!/bin/bash
# make bench, builds and boots: kfarm run --source with the builds
# overlapping the boots, against the same steps run one after another.
#   (a) a new candidate, cold (empty kernel cache, O= trees and ccache):
#       build and boot every arch;
#   (b) the same tree with one file changed: the verdict (incremental build
#       and boot of every arch).
# Each is measured twice, from the same starting state: overlapped (one
# kfarm run --source) and sequential (kfarm build --source, every build one
# after another, then each kernel booted alone with --jobs 1). The overlap
# ratio is overlapped wall time / sequential wall time (< 1: overlap wins);
# the sum of the overlapped run's own step durations (builds + boots, from
# its database) is printed beside it. ccache hit rates from ccache's own
# counters, zeroed before each build phase.
#
# knobs: ARCHES (default all five; "x86_64,riscv64" or "x86_64 riscv64"),
#   VER (6.1, Debian's linux-source-VER with images/patches/VER applied),
#   BENCH_DIR (default ~/.cache/kfarm-bench: the unpacked tree is kept there,
#   its kernel cache and ccache are wiped for the cold runs),
#   BENCH_COLD_SEQ=0 skips the cold sequential baseline (the costliest part:
#   a second cold build of every arch), BENCH_PREPARE_ONLY=1 only unpacks the
#   tree and makes the initramfs.
# A full cold 5-arch run is 20+ minutes of every core, twice.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
KFARM=$TOP/bin/kfarm
VER=${VER:-6.1}
BD=${BENCH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kfarm-bench}
IFS=', ' read -r -a ARCH_LIST <<<"${ARCHES:-x86_64 arm64 riscv64 sparc64 alpha}"
ARCH_CSV=$(IFS=,; echo "${ARCH_LIST[*]}")
T=$(mktemp -d /tmp/kfarm-bench-overlap.XXXXXX)
trap 'rm -rf "$T"' EXIT
export KFARM_CACHE=$BD/cache CCACHE_DIR=$BD/cache/ccache
now() { date +%s.%N; }
say() { echo "build-overlap: $*"; }

say "$(date -u +%FT%TZ), $(nproc) CPUs, arches ${ARCH_CSV}, linux-source-$VER"

# --- the candidate: Debian's tarball unpacked once, with kfarm's fix-ups ---
SRC=$BD/linux-$VER
CHANGED=${CHANGED:-init/main.c}	# the file changed for (b): every arch compiles it
if [ ! -f "$SRC/.kfarm-bench-ready" ]; then
	rm -rf "$SRC" "$BD/$(basename $CHANGED).orig" && mkdir -p "$SRC" &&
	tar -xJf "/usr/src/linux-source-$VER.tar.xz" -C "$SRC" --strip-components=1 || exit 1
	for p in "$TOP/images/patches/$VER/"*.patch; do
		[ -f "$p" ] || continue
		patch -d "$SRC" -p1 --batch --forward -s <"$p" || exit 1
	done
	: >"$SRC/.kfarm-bench-ready"
fi
# (b)'s change: a comment line appended, distinct per run so that it
# really rebuilds
change_one_file() { echo "/* kfarm bench change $1 $(date +%s%N) */" >>"$SRC/$CHANGED"; }
cp -n "$SRC/$CHANGED" "$BD/$(basename $CHANGED).orig"
cp "$BD/$(basename $CHANGED).orig" "$SRC/$CHANGED"

# --- the initramfs per arch, outside the wiped cache ---
IR=$BD/initramfs-cache
irargs=()
for a in "${ARCH_LIST[@]}"; do
	if [ ! -f "$IR/initramfs/$a.json" ]; then
		make -s -C "$TOP" initramfs ARCH="$a" KFARM_CACHE="$IR" >"$T/ir-$a.log" 2>&1 ||
			{ say "initramfs for $a failed (see $T/ir-$a.log)"; cat "$T/ir-$a.log"; exit 1; }
	fi
	irargs+=(--initramfs "$a=$(jq -r .path "$IR/initramfs/$a.json")")
done

[ "${BENCH_PREPARE_ONLY:-0}" = 0 ] || { say "tree and initramfs ready"; exit 0; }

cold() { rm -rf "$KFARM_CACHE"; mkdir -p "$KFARM_CACHE"; }
ccache_zero() { ccache -z >/dev/null 2>&1; }
# "hits/calls (rate)" from ccache's counters since the last zero
ccache_rate() {
	ccache --print-stats 2>/dev/null | awk -F'\t' '
		$1 == "direct_cache_hit" || $1 == "preprocessed_cache_hit" { h += $2 }
		$1 == "cache_miss" { m += $2 }
		END { n = h + m; printf "%d/%d hits (%.1f%%)", h, n, n ? 100 * h / n : 0 }'
}

# overlapped: one kfarm run --source; prints "WALL STEPSUM BUILDSUM BOOTSUM"
overlapped() { # DB LABEL
	local t0 t1
	t0=$(now)
	"$KFARM" run --db "$1" --source "$SRC" --arch "$ARCH_CSV" --tree bench --label "$2" \
		"${irargs[@]}" --confirm 0 --json >"$T/$2.json" 2>"$T/$2.err"
	echo "$?" >"$T/$2.rc"
	t1=$(now)
	sqlite3 "$1" "SELECT (SELECT total(duration_s) FROM builds b JOIN sources s ON s.id = b.source_id
		WHERE s.label = '$2'), (SELECT total(j.duration_s) FROM jobs j JOIN candidates c
		ON c.id = j.candidate_id WHERE c.label = '$2' AND j.outcome != 'NOT_BUILT')" |
		awk -F'|' -v a="$t0" -v b="$t1" '{ printf "%.1f %.1f %.1f %.1f\n", b - a, $1 + $2, $1, $2 }'
}

# sequential: kfarm build --source, then each image booted alone; prints
# "WALL BUILDWALL BOOTWALL"
sequential() { # DB LABEL
	local t0 t1 t2 kargs=() a img
	t0=$(now)
	"$KFARM" build --db "$1" --source "$SRC" --arch "$ARCH_CSV" --tree bench-seq --label "$2" \
		>"$T/$2.build" 2>"$T/$2.err"
	t1=$(now)
	for a in "${ARCH_LIST[@]}"; do
		img=$(ls -t "$KFARM_CACHE"/kernels/"$a"-*/image 2>/dev/null | head -n1)
		[ -n "$img" ] || continue
		"$KFARM" run --db "$1" --kernel "$a=$img:$2" --tree bench-seq "${irargs[@]}" --jobs 1 \
			--confirm 0 --json >"$T/$2-$a.json" 2>>"$T/$2.err"
	done
	t2=$(now)
	awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%.1f %.1f %.1f\n", c - a, b - a, c - b }'
}

outcomes() { # JSON -> "arch:outcome ..."
	jq -r '[.jobs[] | "\(.arch):\(.outcome)"] | join(" ")' "$1" 2>/dev/null
}
builds_of() { # DB LABEL -> "arch:status:secs ..."
	sqlite3 "$1" "SELECT group_concat(b.arch || ':' || b.status || ':' || printf('%.0f', b.duration_s)
		|| (CASE b.cached WHEN 1 THEN '(cached)' ELSE '' END), ' ') FROM builds b
		JOIN sources s ON s.id = b.source_id WHERE s.label = '$2'"
}
ratio() { awk -v o="$1" -v s="$2" 'BEGIN { printf "%.2f", (s > 0 ? o / s : 0) }'; }

DB=$T/bench.db
# --- (a) cold, overlapped ---
cold; ccache_zero
read -r AW ASUM ABUILD ABOOT < <(overlapped "$DB" cold)
ACC=$(ccache_rate)
say "(a) cold, overlapped: kfarm run --source: ${AW}s wall (exit $(cat "$T/cold.rc")); its steps: builds ${ABUILD}s + boots ${ABOOT}s = ${ASUM}s; ccache $ACC"
say "(a)   builds: $(builds_of "$DB" cold)"
say "(a)   boots: $(outcomes "$T/cold.json")"
grep -E '^\[ *[0-9.]+s\] .*(build (PASS|FAIL|ERROR)|booting)' "$T/cold.err" | sed 's/^/build-overlap: (a)   /'

# --- (b) one file changed, overlapped (from (a)'s O= trees and ccache) ---
change_one_file b1
ccache_zero
read -r BW BSUM BBUILD BBOOT < <(overlapped "$DB" change1)
BCC=$(ccache_rate)
say "(b) one file changed ($CHANGED), overlapped: ${BW}s wall (exit $(cat "$T/change1.rc")); its steps: builds ${BBUILD}s + boots ${BBOOT}s = ${BSUM}s; ccache $BCC"
say "(b)   builds: $(builds_of "$DB" change1)"
say "(b)   boots: $(outcomes "$T/change1.json")"

# --- (b) baseline: another one-file change, steps one after another ---
change_one_file b2
ccache_zero
read -r SBW SBB SBR < <(sequential "$DB" change2)
SBCC=$(ccache_rate)
say "(b) one file changed, sequential: ${SBW}s wall (builds ${SBB}s, then boots one at a time ${SBR}s); ccache $SBCC"
say "(b) overlap ratio: overlapped/sequential = $BW/$SBW = $(ratio "$BW" "$SBW"); overlapped/sum of its own steps = $(ratio "$BW" "$BSUM")"

# --- (a) baseline: cold again, steps one after another ---
cp "$BD/$(basename $CHANGED).orig" "$SRC/$CHANGED"
if [ "${BENCH_COLD_SEQ:-1}" = 1 ]; then
	cold; ccache_zero
	read -r SAW SAB SAR < <(sequential "$DB" coldseq)
	SACC=$(ccache_rate)
	say "(a) cold, sequential: ${SAW}s wall (builds ${SAB}s, then boots one at a time ${SAR}s); ccache $SACC"
	say "(a) overlap ratio: overlapped/sequential = $AW/$SAW = $(ratio "$AW" "$SAW"); overlapped/sum of its own steps = $(ratio "$AW" "$ASUM")"
else
	say "(a) overlap ratio: overlapped/sum of its own steps = $(ratio "$AW" "$ASUM") (BENCH_COLD_SEQ=0: no cold sequential run)"
fi
