#!/bin/bash
# images/kselftest.sh - build tools/testing/selftests targets of a prepared
# kernel source tree for one arch, the way kfarm's guest runs them.
#
# usage: images/kselftest.sh --src DIR --id ID --result FILE ARCH TARGET[,TARGET...]
#        images/kselftest.sh --config-fragment DIR TARGET[,TARGET...]
#
# Build mode: the arch profile's cross compiler (and its link mode: static,
# or dynamic for alpha, whose static glibc crashes), against the tree's own
# UAPI headers (make headers_install into the cache). Each target is built
# with make -k (a program that does not build does not stop the others),
# installed, and listed (its emit_tests, plus those of the subdirectories it
# builds: futex/functional) in kfarm-list, which /init runs (prog.c).
# Output, KEY = sha256(RECIPE, ID, profile, compiler version, targets):
#   $KFARM_CACHE/kselftest/ARCH-KEY/tree/TARGET/   installed target + kfarm-list
#   $KFARM_CACHE/kselftest/ARCH-KEY/TARGET.log     its build log
#   $KFARM_CACHE/kselftest/ARCH-KEY/result.json    {arch, key, tree, targets:
#       [{target, status: PASS|FAIL, error (first error line), log, programs}]}
# FILE receives a copy of result.json. A target is PASS when make succeeded,
# FAIL otherwise (its programs that did build are still listed and run).
#
# Config mode: prints the union of the targets' own config files
# (tools/testing/selftests/TARGET/config), what `make kselftest-merge` adds,
# after CONFIG_UNIX98_PTYS=y (/init runs the programs on a pty), then what
# images/kselftest.needs says a target needs and does not name.
#
# exit status: 0 (a target that does not build is a result), 2 on a usage or
# infrastructure problem (no profile, compiler, source tree).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=$(realpath -m -- "${KFARM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kfarm}")
JOBS=${JOBS:-2}
RECIPE=3
unset MAKEFLAGS MFLAGS MAKEOVERRIDES MAKELEVEL GNUMAKEFLAGS || true
export LC_ALL=C

die() { printf 'kselftest: error: %s\n' "$*" >&2; exit 2; }
say() { printf 'kselftest: %s\n' "$*" >&2; }
usage() { sed -n '/^# usage:/,/^#        images/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# TARGET names: plain selftests directories, no paths
split_targets() {
	local t
	IFS=, read -r -a targets <<<"$1"
	[ ${#targets[@]} -gt 0 ] || die "no targets"
	for t in "${targets[@]}"; do
		[[ $t =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || die "bad target name '$t'"
		[ -f "$SRC/tools/testing/selftests/$t/Makefile" ] ||
			die "no selftests target '$t' in $SRC (tools/testing/selftests/$t/Makefile)"
	done
}

SRC= ID= RESULT= FRAG=0
while [ $# -gt 0 ]; do
	case $1 in
	--src|--id|--result)
		[ $# -ge 2 ] || usage
		case $1 in --src) SRC=$2 ;; --id) ID=$2 ;; --result) RESULT=$2 ;; esac
		shift ;;
	--config-fragment) [ $# -ge 2 ] || usage; FRAG=1; SRC=$2; shift ;;
	-h|--help) usage ;;
	-*) usage ;;
	*) break ;;
	esac
	shift
done

if [ "$FRAG" = 1 ]; then
	[ $# = 1 ] || usage
	split_targets "$1"
	# kfarm's own need: /init streams programs through a pty, so that
	# stdio is line-buffered and nothing is lost when one is killed
	echo "# kfarm: ptys for /init's line-buffered program output"
	echo "CONFIG_UNIX98_PTYS=y"
	for t in "${targets[@]}"; do
		f="$SRC/tools/testing/selftests/$t/config"
		[ -f "$f" ] || continue
		echo "# selftests/$t/config"
		grep -E '^(CONFIG_[A-Za-z0-9_]+=|# CONFIG_[A-Za-z0-9_]+ is not set)' "$f" || true
	done
	for t in "${targets[@]}"; do
		awk -v t="$t" '$1 == t && $2 ~ /^CONFIG_[A-Za-z0-9_]+=/ {
			if (!n++) print "# kfarm: what " t " needs and does not name (images/kselftest.needs)"
			print $2 }' "$ROOT/images/kselftest.needs"
	done
	exit 0
fi

[ $# = 2 ] && [ -n "$SRC" ] && [ -n "$ID" ] && [ -n "$RESULT" ] || usage
arch=$1
[ -f "$SRC/Makefile" ] || die "$SRC is not a kernel source tree"
split_targets "$2"
command -v jq >/dev/null || die "jq is not installed"
profile="$ROOT/arches/$arch.json"
[ -f "$profile" ] || die "no arch profile $profile"
karch=$(jq -er .kernel_arch "$profile")
cross=$(jq -r '.cross_compile // ""' "$profile")
link=$(jq -r '.link // "static"' "$profile")
gcc=${cross}gcc
gccver=$("$gcc" --version 2>/dev/null | head -n1) || die "no compiler $gcc for $arch"

key=$({
	printf 'kfarm-kselftest recipe %s\narch %s %s %s %s\n' "$RECIPE" "$arch" "$karch" "$cross" "$link"
	printf 'source %s\ncompiler %s\ntargets %s\n' "$ID" "$gccver" "${targets[*]}"
} | sha256sum | cut -c1-16)
out="$CACHE/kselftest/$arch-$key"
if [ -f "$out/result.json" ]; then
	say "$arch: up to date (kselftest/$arch-$key)"
	cp "$out/result.json" "$RESULT"
	exit 0
fi

mkdir -p "$CACHE/kselftest"
exec 9>"$out.lock"
flock 9
work="$out.tmp"
rm -rf "$work"
mkdir -p "$work/tree"

# the candidate's own UAPI headers (selftests include <linux/...> from them)
say "$arch: headers_install from $SRC"
if ! make -C "$SRC" O="$work/kbuild" ARCH="$karch" CROSS_COMPILE="$cross" \
	INSTALL_HDR_PATH="$work/usr" headers_install >"$work/headers.log" 2>&1; then
	tail -n 5 "$work/headers.log" >&2
	die "$arch: make headers_install failed (log $work/headers.log)"
fi

# clone3's Makefile links every program with -lcap, but only
# clone3_cap_checkpoint_restore uses libcap, which the cross sysroots lack:
# an empty libcap.a lets the others link; that one fails on its header and
# the target is a FAIL build naming it.
mkdir -p "$work/empty-libcap"
"${cross}ar" rc "$work/empty-libcap/libcap.a"
ldflags="-L$work/empty-libcap"
[ "$link" = static ] && ldflags="-static $ldflags"
sel="$SRC/tools/testing/selftests"
results=()
for t in "${targets[@]}"; do
	log="$work/$t.log"
	# make's own variables on the command line; LDFLAGS from the
	# environment, so a target's "LDFLAGS += ..." still adds to it
	mk=(make -C "$sel/$t" OUTPUT="$work/build/$t" ARCH="$karch" CROSS_COMPILE="$cross"
	    KHDR_INCLUDES="-isystem $work/usr/include")
	mkdir -p "$work/build/$t"
	say "$arch: building selftests/$t"
	status=PASS error=
	if ! LDFLAGS=$ldflags "${mk[@]}" -k -j"$JOBS" >"$log" 2>&1; then
		status=FAIL
		# the compiler's or linker's own line, not collect2's summary
		# (not a quoted source line that merely contains "error:")
		error=$(grep -v -e '^collect2: ' -e '^ *[0-9]* |' "$log" |
			grep -m1 -E '(^|: )(fatal )?error:|#error|multiple definition|undefined reference|cannot find' ||
			grep -m1 -E 'Error [0-9]' "$log" || tail -n1 "$log")
		error=${error//"$SRC/"/}
		error=${error//"$work/"/}
	fi
	inst="$work/tree/$t"
	# install's prerequisite "all" failed if one program did not build: -i
	# installs the others (the status above is what counts)
	LDFLAGS=$ldflags "${mk[@]}" -i INSTALL_PATH="$inst" install >>"$log" 2>&1 || true
	mkdir -p "$inst"
	# stripped: the initramfs is unpacked into the guest's RAM, and a
	# slow emulated CPU decompresses it at every boot
	find "$inst" -type f -perm -u+x -print0 | while IFS= read -r -d '' f; do
		if [ "$(head -c 4 "$f" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
			"${cross}strip" "$f" 2>/dev/null || true
		fi
	done
	# what kselftest's runner would run: emit_tests of the target and of
	# the subdirectories it builds (futex/functional)
	{
		make -s --no-print-directory -C "$sel/$t" OUTPUT="$work/build/$t" COLLECTION="$t" \
			ARCH="$karch" CROSS_COMPILE="$cross" emit_tests 2>/dev/null || true
		for d in "$work/build/$t"/*/; do
			sub=$(basename "$d")
			[ -f "$sel/$t/$sub/Makefile" ] || continue
			make -s --no-print-directory -C "$sel/$t/$sub" OUTPUT="$work/build/$t/$sub" \
				COLLECTION="$t/$sub" ARCH="$karch" CROSS_COMPILE="$cross" emit_tests 2>/dev/null || true
		done
	} | while IFS= read -r line; do
		coll=${line%%:*} prog=${line#*:}
		rel=${coll#"$t"}; rel=${rel#/}
		p=${rel:+$rel/}$prog
		if [ -f "$inst/$p" ] && [ -x "$inst/$p" ]; then printf '%s\n' "$p"; fi
	done | awk '!seen[$0]++' >"$inst/kfarm-list"
	# /init says it, and a target with nothing to run is "not built"
	[ "$status" = PASS ] || printf '%s\n' "$error" >"$inst/kfarm-build-error"
	progs=$(jq -R . <"$inst/kfarm-list" | jq -s -c .)
	say "$arch: selftests/$t: $status ($(wc -l <"$inst/kfarm-list") programs)${error:+: $error}"
	results+=("$(jq -n -c --arg target "$t" --arg status "$status" --arg error "$error" \
		--arg log "$out/$t.log" --argjson programs "$progs" \
		'{target: $target, status: $status, error: (if $error == "" then null else $error end),
		  log: $log, programs: $programs}')")
done
rm -rf "$work/kbuild" "$work/build" "$work/empty-libcap"

printf '%s\n' "${results[@]}" | jq -s --arg arch "$arch" --arg key "$key" --arg tree "$out/tree" \
	--arg compiler "$gccver" --arg link "$link" \
	'{arch: $arch, key: $key, tree: $tree, compiler: $compiler, link: $link, targets: .}' \
	>"$work/result.json"
rm -rf "$out"
mv -T "$work" "$out"
# the record names where the files are now
jq --arg tree "$out/tree" '.tree = $tree' "$out/result.json" >"$out/result.json.tmp"
mv -f "$out/result.json.tmp" "$out/result.json"
cp "$out/result.json" "$RESULT"
exec 9>&-
