#!/bin/bash
# images/kernel.sh - build kfarm's default test kernels from Debian's
# linux-source-VER tarballs, one (arch, version) after another, into the cache
# layout of docs/design.md:
#
#   src/linux-VER-PKEY/            unpacked tarball + images/patches/VER/*.patch
#   build/ARCH-VER/                O= build tree (incremental, disposable)
#   kernels/ARCH-VER-KEY/          image config build.log release build.json
#   kernels/ARCH-VER-KEY.failed.json (+ .failed.log)   failure record
#   defaults/ARCH-VER.json         what `kfarm run` boots by default
#
# KEY = sha256(tarball identity, arch profile build fields, arches/common.config,
# arches/ARCH.config, the patches, `${CROSS_COMPILE}gcc --version`, this script).
# A kernel (or a failure) already recorded under its KEY is not rebuilt unless
# --force.  Every output is made under a temporary name and renamed into place.
#
# usage: images/kernel.sh [--force] [--nopatch] [--config-only] ARCH:VER...
#        images/kernel.sh [options] ARCH VER
#   --force        rebuild even if a kernel or failure record exists for the key
#   --nopatch      build without images/patches/VER (separately keyed source,
#                  build tree and outputs; defaults/ is not touched) - shows the
#                  real breakage our fix-up patches hide
#   --config-only  stop after the configuration check (nothing is recorded)
# environment: KFARM_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/kfarm),
#   KFARM_LINUX_SOURCES (dir with linux-source-VER.tar.xz, default /usr/src),
#   JOBS (make -j, default nproc), STRICT=1 (exit 1 if any kernel failed).
# exit status: 0 when every kernel was built or its failure recorded
# (a broken kernel is a result, not an error); 1 with STRICT=1 and a failure;
# 2 on a usage or infrastructure problem (missing tarball, compiler, profile).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF="$ROOT/images/kernel.sh"
CACHE=$(realpath -m -- "${KFARM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kfarm}")
SOURCES=$(realpath -m -- "${KFARM_LINUX_SOURCES:-/usr/src}")
JOBS=${JOBS:-$(nproc)}
FORCE=0 NOPATCH=0 CONFIG_ONLY=0

# A make that calls us must not leak its flags (jobserver, V=, variables
# given on its command line) into the kernel's make.
unset MAKEFLAGS MFLAGS MAKEOVERRIDES MAKELEVEL GNUMAKEFLAGS || true
export KBUILD_BUILD_USER=kfarm KBUILD_BUILD_HOST=kfarm LC_ALL=C

say()  { printf 'kernel: %s\n' "$*" >&2; }
die()  { printf 'kernel: error: %s\n' "$*" >&2; exit 2; }
sha()  { sha256sum | cut -c1-"$1"; }

usage() { sed -n '/^# usage:/,/^# exit status/p' "$SELF" | sed 's/^# \{0,1\}//' >&2; exit 2; }

command -v jq >/dev/null || die "jq is not installed (apt-get install jq)"
command -v patch >/dev/null || die "patch is not installed (apt-get install patch)"

# ---------------------------------------------------------------- helpers

# atomic write: stdin -> tmp -> rename
put() { local f=$1 t; t="$(dirname "$f")/.tmp.$(basename "$f").$$"; cat >"$t"; mv -f "$t" "$f"; }

# first error line of a build log ($1), paths made relative to the source
# tree ($2) and the build tree ($3)
first_error() {
	local l
	l=$(grep -m1 -E 'error:' "$1" || true)
	[ -n "$l" ] || l=$(grep -m1 -E 'Error' "$1" || true)
	[ -n "$l" ] || l=$(grep -v '^[[:space:]]*$' "$1" | tail -n1 || true)
	l=${l:-unknown error (empty log)}
	[ -z "${2:-}" ] || l=${l//"$2/"/}
	[ -z "${3:-}" ] || l=${l//"$3/"/}
	printf '%s' "$l"
}

# VERSION.PATCHLEVEL.SUBLEVEL+EXTRAVERSION from a source tree's Makefile
makefile_version() {
	awk -F' *= *' '$1=="VERSION"{v=$2} $1=="PATCHLEVEL"{p=$2} $1=="SUBLEVEL"{s=$2}
		$1=="EXTRAVERSION"{e=$2} /^NAME/{exit} END{printf "%s.%s.%s%s", v, p, s, e}' "$1/Makefile"
}

# Unpack the tarball once per (version, PKEY): tmp dir, patches, rename.
# Prints the source dir on stdout; on failure prints "kfarm: error: ..." on
# stderr and returns 1.  (Runs in a command substitution inside a condition,
# where set -e is off: every step is checked by hand.)
ensure_source() {
	local ver=$1 pkey=$2 tarball=$3; shift 3
	local dst="$CACHE/src/linux-$ver-$pkey" tmp p rc=0
	mkdir -p "$CACHE/src" || return 1
	exec 8>"$CACHE/src/.lock-linux-$ver-$pkey" || return 1
	flock 8 || return 1
	if [ ! -d "$dst" ]; then
		rm -rf "$CACHE/src/.tmp-linux-$ver-$pkey".*   # left by an interrupted run
		tmp="$CACHE/src/.tmp-linux-$ver-$pkey.$$"
		mkdir -p "$tmp" || return 1
		echo "kfarm: unpacking $tarball into $dst" >&2
		if ! tar -xJf "$tarball" -C "$tmp" --strip-components=1; then
			echo "kfarm: error: cannot unpack $tarball" >&2; rc=1
		fi
		for p in "$@"; do
			[ $rc = 0 ] || break
			echo "kfarm: applying patches/$ver/$(basename "$p")" >&2
			if ! patch -d "$tmp" -p1 --batch --forward <"$p" >&2; then
				echo "kfarm: error: patch $(basename "$p") does not apply to $(basename "$tarball")" >&2
				rc=1
			fi
		done
		if [ $rc = 0 ]; then
			mv -T "$tmp" "$dst" || rc=1
		fi
		[ $rc = 0 ] || rm -rf "$tmp"
	fi
	exec 8>&-
	[ $rc = 0 ] && printf '%s\n' "$dst"
}

# Config symbols that exist for this arch in this tree: every Kconfig outside
# arch/, plus arch/Kconfig and arch/KARCH/.
known_symbols() {
	local src=$1 karch=$2
	{ grep -rhoE --include='Kconfig*' --exclude-dir=arch \
		'^[[:space:]]*(menu)?config[[:space:]]+[A-Za-z0-9_]+' "$src"
	  grep -rhoE --include='Kconfig*' \
		'^[[:space:]]*(menu)?config[[:space:]]+[A-Za-z0-9_]+' "$src/arch/Kconfig" "$src/arch/$karch"
	} | awk '{print $2}' | sort -u
}

# Check that every option the fragments set has that value in .config.
# Later assignments override earlier ones (arch fragment over common).
# Writes problems to stdout; returns 1 if any option is wrong.
verify_config() {
	local src=$1 karch=$2 config=$3 frag=$4 ver=$5
	local -A want=()
	local -a order=()
	local line sym val have bad=0 known
	known=$(known_symbols "$src" "$karch")
	while IFS= read -r line; do
		if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
			sym=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]}
		elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set ]]; then
			sym=${BASH_REMATCH[1]} val=n
		else
			continue
		fi
		[ -n "${want[$sym]+x}" ] || order+=("$sym")
		want[$sym]=$val
	done <"$frag"
	for sym in "${order[@]}"; do
		val=${want[$sym]}
		if ! grep -qx "${sym#CONFIG_}" <<<"$known"; then
			say "  note: $sym does not exist in $ver for ARCH=$karch, skipped"
			continue
		fi
		have=$(grep -m1 -E "^$sym=" "$config" | cut -d= -f2- || true)
		[ -n "$have" ] || have=n
		if [ "$have" != "$val" ]; then
			echo "kfarm: error: $sym=$val requested by the config fragments but .config has $sym=$have (dependencies not met?)"
			bad=1
		fi
	done
	return $bad
}

# defaults/ARCH-VER.json
write_default() {
	local arch=$1 ver=$2 status=$3 image=$4 release=$5 key=$6 error=$7 log=$8
	mkdir -p "$CACHE/defaults"
	jq -n --arg arch "$arch" --arg version "$ver" --arg status "$status" \
		--arg image "$image" --arg release "$release" --arg key "$key" \
		--arg error "$error" --arg log "$log" \
		'{arch: $arch, version: $version, status: $status,
		  image: (if $image == "" then null else $image end),
		  release: (if $release == "" then null else $release end),
		  key: $key,
		  error: (if $error == "" then null else $error end),
		  log: (if $log == "" then null else $log end)}' |
		put "$CACHE/defaults/$arch-$ver.json"
}

# ---------------------------------------------------------------- one kernel

# Sets RESULT (built|cached|failed|failed-cached|configured), RELEASE, KEY, ERR, SECS.
build_one() {
	local arch=$1 ver=$2
	local profile="$ROOT/arches/$arch.json" karch cross image cfrag tarball gcc gccver
	local tarid patches=() pkey_in pkey key_in out failed flog bdir src log target t0
	RESULT= RELEASE= KEY= ERR= SECS=0
	t0=$(date +%s)

	[ -f "$profile" ] || die "no arch profile $profile"
	karch=$(jq -er '.kernel_arch' "$profile") || die "$profile: no kernel_arch"
	cross=$(jq -er '.cross_compile // ""' "$profile") || die "$profile: bad cross_compile"
	image=$(jq -er '.image' "$profile") || die "$profile: no image"
	cfrag="$ROOT/arches/$(jq -er '.config' "$profile")" || die "$profile: no config"
	[ -f "$cfrag" ] || die "$profile: config fragment $cfrag missing"
	[ -f "$ROOT/arches/common.config" ] || die "arches/common.config missing"
	tarball="$SOURCES/linux-source-$ver.tar.xz"
	[ -f "$tarball" ] || die "no $tarball (apt-get install linux-source-$ver)"
	gcc="${cross}gcc"
	gccver=$("$gcc" --version 2>/dev/null | head -n1) || die "no compiler $gcc for $arch"
	[ -n "$gccver" ] || die "no compiler $gcc for $arch"

	tarid="$(basename "$tarball") $(stat -c '%s %Y' "$tarball")"
	if [ "$NOPATCH" = 1 ]; then
		pkey_in="tarball $tarid"$'\n'"nopatch"$'\n'
	else
		shopt -s nullglob
		patches=("$ROOT/images/patches/$ver/"*.patch)
		shopt -u nullglob
		pkey_in="tarball $tarid"$'\n'
		for p in "${patches[@]}"; do
			pkey_in+="patch $(basename "$p")"$'\n'"$(cat "$p")"$'\n'
		done
	fi
	pkey=$(printf '%s' "$pkey_in" | sha 12)
	[ "$NOPATCH" = 1 ] && pkey="nopatch-$pkey"
	key_in=$(
		printf 'kfarm-kernel 1\narch %s\nversion %s\n' "$arch" "$ver"
		printf 'profile %s|%s|%s\n' "$karch" "$cross" "$image"
		printf '%s' "$pkey_in"
		printf 'compiler %s\n' "$gccver"
		echo "--- common.config"; cat "$ROOT/arches/common.config"
		echo "--- $(basename "$cfrag")"; cat "$cfrag"
		echo "--- kernel.sh"; cat "$SELF"
	)
	key=$(printf '%s' "$key_in" | sha 16)
	KEY=$key
	out="$CACHE/kernels/$arch-$ver-$key"
	failed="$out.failed.json"
	flog="$out.failed.log"

	if [ "$CONFIG_ONLY" = 0 ] && [ "$FORCE" = 0 ]; then
		if [ -f "$out/image" ]; then
			RESULT=cached RELEASE=$(cat "$out/release")
			[ "$NOPATCH" = 1 ] || write_default "$arch" "$ver" built "$out/image" "$RELEASE" "$key" "" "$out/build.log"
			return 0
		fi
		if [ -f "$failed" ]; then
			RESULT=failed-cached ERR=$(jq -r '.error' "$failed") RELEASE=$(jq -r '.release // ""' "$failed")
			[ "$NOPATCH" = 1 ] || write_default "$arch" "$ver" failed "" "$RELEASE" "$key" "$ERR" "$(jq -r '.log' "$failed")"
			return 0
		fi
	fi

	mkdir -p "$CACHE/build" "$CACHE/kernels"
	bdir="$CACHE/build/$arch-$ver"
	[ "$NOPATCH" = 1 ] && bdir+="-nopatch"
	exec 9>"$bdir.lock"
	flock 9

	log="$bdir.log"
	: >"$log"
	fail() {   # record a failure: $1 = error line
		ERR=$1 RESULT=failed
		SECS=$(( $(date +%s) - t0 ))
		[ "$CONFIG_ONLY" = 1 ] && { exec 9>&-; return 0; }
		cp "$log" "$flog.tmp.$$" && mv -f "$flog.tmp.$$" "$flog"
		jq -n --arg arch "$arch" --arg version "$ver" --arg key "$key" --arg error "$ERR" \
			--arg log "$flog" --arg release "$RELEASE" --arg compiler "$gccver" \
			--argjson nopatch "$([ "$NOPATCH" = 1 ] && echo true || echo false)" \
			'{arch: $arch, version: $version, key: $key, error: $error, log: $log,
			  release: $release, compiler: $compiler, nopatch: $nopatch}' | put "$failed"
		[ "$NOPATCH" = 1 ] || write_default "$arch" "$ver" failed "" "$RELEASE" "$key" "$ERR" "$flog"
		exec 9>&-
	}

	[ -d "$CACHE/src/linux-$ver-$pkey" ] ||
		say "unpacking $(basename "$tarball") (+${#patches[@]} patches) into src/linux-$ver-$pkey"
	if ! src=$(ensure_source "$ver" "$pkey" "$tarball" "${patches[@]}" 2>>"$log"); then
		fail "$(grep -m1 '^kfarm: error: ' "$log" | sed 's/^kfarm: error: //')"; return 0
	fi
	RELEASE=$(makefile_version "$src")

	# An O= tree belongs to one source tree; start afresh if that changed.
	if [ -d "$bdir" ] && [ "$(cat "$bdir/.kfarm-srctree" 2>/dev/null)" != "$src" ]; then
		rm -rf "$bdir"
	fi
	mkdir -p "$bdir"
	echo "$src" >"$bdir/.kfarm-srctree"

	# ccache behind the compiler: a rebuild under a new key (a script or
	# fragment change) of unchanged sources is mostly cache hits. BASEDIR
	# makes the cache independent of where the cache directory lives.
	local -a mk=(make -C "$src" O="$bdir" ARCH="$karch" CROSS_COMPILE="$cross" LOCALVERSION=)
	if command -v ccache >/dev/null; then
		mk+=(CC="ccache ${cross}gcc" HOSTCC="ccache gcc")
		export CCACHE_DIR="$CACHE/ccache" CCACHE_BASEDIR="$CACHE" CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
	fi
	target=$(basename "$image")
	{
		echo "# kfarm kernel build: $arch $ver key $key"
		echo "# source $src ($RELEASE), compiler: $gccver"
		echo "# $(date -u +%FT%TZ)"
	} >>"$log"

	cat "$ROOT/arches/common.config" "$cfrag" >"$bdir/kfarm.fragment"
	if ! { "${mk[@]}" tinyconfig &&
	       (cd "$src" && scripts/kconfig/merge_config.sh -m -O "$bdir" "$bdir/.config" "$bdir/kfarm.fragment") &&
	       "${mk[@]}" olddefconfig; } >>"$log" 2>&1; then
		fail "$(first_error "$log" "$src" "$bdir")"; return 0
	fi
	local problems
	if ! problems=$(verify_config "$src" "$karch" "$bdir/.config" "$bdir/kfarm.fragment" "$ver" 2>>"$log"); then
		printf '%s\n' "$problems" >>"$log"
		printf '%s\n' "$problems" | sed 's/^kfarm: error: /kernel:   /' >&2
		fail "$(head -n1 <<<"$problems" | sed 's/^kfarm: error: //')"; return 0
	fi
	grep '^kernel:   note: ' "$log" >&2 || true
	if [ "$CONFIG_ONLY" = 1 ]; then
		RESULT=configured SECS=$(( $(date +%s) - t0 )); exec 9>&-; return 0
	fi

	say "building $arch $ver ($RELEASE, key $key, make -j$JOBS $target), log: $log"
	if ! "${mk[@]}" -j"$JOBS" "$target" >>"$log" 2>&1; then
		fail "$(first_error "$log" "$src" "$bdir")"; return 0
	fi
	if [ ! -s "$bdir/$image" ]; then
		echo "kfarm: error: build finished but $image is missing" >>"$log"
		fail "build finished but $image is missing"; return 0
	fi
	RELEASE=$("${mk[@]}" -s kernelrelease 2>>"$log") || { fail "make kernelrelease failed"; return 0; }
	SECS=$(( $(date +%s) - t0 ))

	local tmp="$CACHE/kernels/.tmp-$arch-$ver-$key.$$"
	rm -rf "$tmp"; mkdir -p "$tmp"
	cp "$bdir/$image" "$tmp/image"
	cp "$bdir/.config" "$tmp/config"
	cp "$log" "$tmp/build.log"
	echo "$RELEASE" >"$tmp/release"
	jq -n --arg arch "$arch" --arg version "$ver" --arg key "$key" --arg release "$RELEASE" \
		--arg compiler "$gccver" --arg tarball "$tarid" --arg source "$src" \
		--argjson seconds "$SECS" --argjson nopatch "$([ "$NOPATCH" = 1 ] && echo true || echo false)" \
		--arg built "$(date -u +%FT%TZ)" \
		'{arch: $arch, version: $version, key: $key, release: $release, compiler: $compiler,
		  tarball: $tarball, source: $source, build_seconds: $seconds, nopatch: $nopatch,
		  built: $built}' >"$tmp/build.json"
	rm -rf "$out"
	mv -T "$tmp" "$out"
	rm -f "$failed" "$flog"
	[ "$NOPATCH" = 1 ] || write_default "$arch" "$ver" built "$out/image" "$RELEASE" "$key" "" "$out/build.log"
	RESULT=built
	exec 9>&-
}

# ---------------------------------------------------------------- main

targets=()
while [ $# -gt 0 ]; do
	case $1 in
	--force) FORCE=1 ;;
	--nopatch) NOPATCH=1 ;;
	--config-only) CONFIG_ONLY=1 ;;
	-h|--help) usage ;;
	-*) usage ;;
	*:*) targets+=("$1") ;;
	*) [ $# -ge 2 ] || usage; targets+=("$1:$2"); shift ;;
	esac
	shift
done
[ ${#targets[@]} -gt 0 ] || usage

summary=() nfail=0
for t in "${targets[@]}"; do
	arch=${t%%:*} ver=${t#*:}
	build_one "$arch" "$ver"
	case $RESULT in
	built)         say "$arch $ver: built $RELEASE in ${SECS}s -> kernels/$arch-$ver-$KEY/image" ;;
	cached)        say "$arch $ver: up to date (kernels/$arch-$ver-$KEY)" ;;
	configured)    say "$arch $ver: configuration OK (${SECS}s)" ;;
	failed)        say "$arch $ver: FAILED: $ERR (record: kernels/$arch-$ver-$KEY.failed.json)"; nfail=$((nfail+1)) ;;
	failed-cached) say "$arch $ver: FAILED (recorded earlier, FORCE=1 to retry): $ERR"; nfail=$((nfail+1)) ;;
	esac
	summary+=("$(printf '%-8s %-5s %-13s %5s  %-10s %s' "$arch" "$ver" "$RESULT" "$SECS" "${RELEASE:--}" "$KEY${ERR:+  $ERR}")")
done

printf '%-8s %-5s %-13s %5s  %-10s %s\n' arch ver status secs release key >&2
printf '%s\n' "${summary[@]}" >&2
[ "${STRICT:-0}" = 1 ] && [ $nfail -gt 0 ] && exit 1
exit 0
