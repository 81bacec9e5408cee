#!/bin/bash
# images/kernel.sh - build kfarm's default test kernels from Debian's
# linux-source-VER tarballs, one (arch, version) after another, into the cache
# layout of docs/design.md:
#
#   src/linux-VER[-nopatch]/       unpacked tarball + images/patches/VER/*.patch
#                                  (.kfarm-pkey names the series; older caches'
#                                  src/linux-VER-PKEY/ trees are still used)
#   src/linux-VER/.kfarm-o-ARCH-VER/  O= build tree (incremental, disposable;
#                                  a subdirectory, so kbuild's paths are
#                                  relative and ccache is shared by every tree)
#   build/ARCH-VER.{lock,log,steps}   its lock, last log, kbuild step count
#   kernels/ARCH-KEY/              image config build.log release build.json
#   kernels/ARCH-KEY.failed.json (+ .failed.log)   failure record
#   defaults/ARCH-VER.json         what `kfarm run` boots by default
#
# KEY = sha256(RECIPE, the source identity ID, arch profile build fields,
# arches/common.config, arches/ARCH.config, `${CROSS_COMPILE}gcc --version`).
# ID = "tar:SHA256(tarball)+patches:PHASH" for a tarball (PHASH = sha256 of
# the patches' sha256s, one a line, in series order; "none" without patches),
# the same string `kfarm build --source` computes, so a source candidate of
# Debian's tarball + images/patches/VER hits the default kernel's entry.
# A kernel (or a failure) already recorded under its KEY is not rebuilt unless
# --force.  Every output is made under a temporary name and renamed into place.
#
# usage: images/kernel.sh [--force] [--nopatch] [--config-only] ARCH:VER...
#        images/kernel.sh [options] ARCH VER
#        images/kernel.sh [--force] --src DIR --id ID --bdir NAME --result FILE
#                         [--config kfarm|defconfig|file:PATH|frag:PATH] ARCH
#   --src ...      build ARCH from the prepared source tree DIR (kfarm's source
#                  candidates): ID is its identity, build/ARCH-NAME its lock
#                  and log, DIR/.kfarm-o-ARCH-NAME its O= tree if DIR is in
#                  the cache's src/ (else build/ARCH-NAME),
#                  FILE receives the result record (JSON)
#   --config C     the configuration (--src only): kfarm = tinyconfig +
#                  common.config + ARCH.config (the default); defconfig = the
#                  arch's defconfig + common.config + ARCH.config; file:PATH =
#                  PATH as the base instead; frag:PATH = kfarm's recipe + PATH
#                  on top.  Every option the fragments set is verified in the
#                  final .config; C (and PATH's bytes) are part of KEY.
#   --force        rebuild even if a kernel or failure record exists for the key
#   --nopatch      build without images/patches/VER (separately keyed source,
#                  build tree and outputs; defaults/ is not touched) - shows the
#                  real breakage our fix-up patches hide
#   --config-only  stop after the configuration check (nothing is recorded)
# environment: KFARM_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/kfarm),
#   KFARM_KSELFTEST=T1,T2 (--src only: merge those selftests targets' own
#   config files, as make kselftest-merge does; part of the key),
#   KFARM_LINUX_SOURCES (dir with linux-source-VER.tar.xz, default /usr/src),
#   KFARM_CCACHE_DIR (default $KFARM_CACHE/ccache: another cache's, to share),
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
SRC_DIR= SRC_ID= SRC_BDIR= RESULT_FILE= CONFIG_MODE=kfarm CONFIG_PATH=
# The build recipe's version: bump it when a change to this script changes
# what a build produces (the key hashes it, not the script's bytes, so
# editing usage text or the source preparation rebuilds nothing).
RECIPE=2

# A make that calls us must not leak its flags (jobserver, V=, variables
# given on its command line) into the kernel's make.
unset MAKEFLAGS MFLAGS MAKEOVERRIDES MAKELEVEL GNUMAKEFLAGS || true
export KBUILD_BUILD_USER=kfarm KBUILD_BUILD_HOST=kfarm LC_ALL=C

say()  { printf 'kernel: %s\n' "$*" >&2; }

# SIGINT/SIGTERM (kfarm forwards them to our process group, make and the
# compilers get them too): record nothing - no image, no failure record that
# a later run would take as the result - remove what is half made, and end.
# bash runs this once the foreground make has ended.
TMPOUT=
# beside this script's own file (a control kernel's shadow ROOT links to it)
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/first-error.sh"	# compile_to_first_error, MAKEPID
interrupted() {
	trap - INT TERM
	# the compile runs in its own process group (compile_to_first_error)
	if [ -n "$MAKEPID" ]; then
		kill -"$1" -- "-$MAKEPID" 2>/dev/null || true
		wait "$MAKEPID" 2>/dev/null || true
	fi
	[ -z "$TMPOUT" ] || rm -rf "$TMPOUT"
	printf 'kernel: interrupted (%s): nothing recorded\n' "$1" >&2
	[ "$1" = INT ] && exit 130
	exit 143
}
trap 'interrupted INT' INT
trap 'interrupted TERM' TERM
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
	# kbuild names sources relative to the O= tree when it can (../ in a
	# subdirectory of the tree, ../../src/... beside it): only a path's start
	[ -z "${3:-}" ] || {
		local rel; rel=$(realpath -m --relative-to="$3" "$2")
		l=${l#"$rel/"}; l=${l//" $rel/"/" "}
	}
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
	local name dst tmp p rc=0
	# One tree per version (and one unpatched) in a cache, named without
	# the series' key: a control kernel's tree (images/control.sh: its own
	# cache, another series) then sits at the same path relative to its
	# cache as the default's, and ccache (BASEDIR = the cache) serves every
	# file whose preprocessed text the extra patches and options leave
	# alone (a third for kunit-crash x86_64 6.12, control.sh). The series is in
	# .kfarm-pkey; another one replaces the tree, never while a build reads
	# it (builds hold the lock shared, see src_lock).
	name=$(src_name "$ver" "$pkey")
	dst="$CACHE/src/$name"
	if [ -d "$CACHE/src/linux-$ver-$pkey" ]; then	# a cache from before the marker
		printf '%s\n' "$CACHE/src/linux-$ver-$pkey"
		return 0
	fi
	mkdir -p "$CACHE/src" || return 1
	exec 8>"$CACHE/src/.lock-$name" || return 1
	# shared to look (other arches' builds of this tree go on), alone to replace
	flock -s 8 || return 1
	if [ "$(cat "$dst/.kfarm-pkey" 2>/dev/null)" != "$pkey" ]; then
		flock 8 || return 1
	fi
	if [ ! -d "$dst" ] || [ "$(cat "$dst/.kfarm-pkey" 2>/dev/null)" != "$pkey" ]; then
		rm -rf "$CACHE/src/.tmp-$name".*   # left by an interrupted run
		tmp="$CACHE/src/.tmp-$name.$$"
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
		[ $rc = 0 ] && { printf '%s\n' "$pkey" >"$tmp/.kfarm-pkey" || rc=1; }
		if [ $rc = 0 ]; then
			rm -rf "$dst" && mv -T "$tmp" "$dst" || rc=1
		fi
		[ $rc = 0 ] || rm -rf "$tmp"
	fi
	exec 8>&-
	[ $rc = 0 ] && printf '%s\n' "$dst"
}

# The tree's name in src/ for VER and series key PKEY ("nopatch-..." unpatched).
src_name() {
	case $2 in nopatch-*) echo "linux-$1-nopatch" ;; *) echo "linux-$1" ;; esac
}

# Holds tree $1's lock shared on fd 7 while it is built (ensure_source takes
# it alone to replace the tree); 1 if the tree is no longer series $2's.
src_lock() {
	local src=$1 pkey=$2
	case $src in */linux-*-"$pkey") return 0 ;; esac	# named by its key: never replaced
	exec 7<"$CACHE/src/.lock-$(basename "$src")" && flock -s 7 &&
		[ "$(cat "$src/.kfarm-pkey" 2>/dev/null)" = "$pkey" ]
}

# Config symbols that exist for this arch in this tree: every Kconfig outside
# arch/, plus arch/Kconfig and arch/KARCH/.
known_symbols() {
	local src=$1 karch=$2
	# ARCH's source directory, as the kernel's top Makefile maps it (SRCARCH)
	case $karch in
	i386|x86_64) karch=x86 ;;
	sparc32|sparc64) karch=sparc ;;
	parisc64) karch=parisc ;;
	sh64) karch=sh ;;
	esac
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

# PHASH of patch files: sha256 of their sha256s, one a line ("none" if no
# patch is applied). runner/source.c computes the same.
patches_hash() {
	[ $# -gt 0 ] || { echo none; return; }
	local p
	for p in "$@"; do sha256sum <"$p" | cut -c1-64; done | sha 64
}

# Reads the arch profile into karch cross image cfrag defcfg gcc gccver (dies on a
# missing profile or compiler: an infrastructure problem).
load_profile() {
	local arch=$1 profile="$ROOT/arches/$1.json"
	[ -f "$profile" ] || die "no arch profile $profile"
	karch=$(jq -er '.kernel_arch' "$profile") || die "$profile: no kernel_arch"
	cross=$(jq -er '.cross_compile // ""' "$profile") || die "$profile: bad cross_compile"
	image=$(jq -er '.image' "$profile") || die "$profile: no image"
	cfrag="$ROOT/arches/$(jq -er '.config' "$profile")" || die "$profile: no config"
	# the make target of the arch's own defconfig, where plain `make defconfig`
	# picks another (ARCH=sparc means sparc32; ARCH=x86 follows the host)
	defcfg=$(jq -er '.defconfig // "defconfig"' "$profile") || die "$profile: bad defconfig"
	case $defcfg in *[!a-z0-9_]*|'') die "$profile: bad defconfig '$defcfg'" ;; esac
	[ -f "$cfrag" ] || die "$profile: config fragment $cfrag missing"
	[ -f "$ROOT/arches/common.config" ] || die "arches/common.config missing"
	gcc="${cross}gcc"
	gccver=$("$gcc" --version 2>/dev/null | head -n1) || die "no compiler $gcc for $arch"
	[ -n "$gccver" ] || die "no compiler $gcc for $arch"
}

# KEY of (arch, source identity $1) under this recipe
kernel_key() {
	{
		printf 'kfarm-kernel recipe %s\narch %s\n' "$RECIPE" "$arch"
		printf 'profile %s|%s|%s\n' "$karch" "$cross" "$image"
		printf 'source %s\n' "$1"
		printf 'compiler %s\n' "$gccver"
		echo "--- common.config"; cat "$ROOT/arches/common.config"
		echo "--- $(basename "$cfrag")"; cat "$cfrag"
		# only another config than kfarm's adds lines: the default keys (and
		# so make images' cache entries) stay what they were
		[ "$CONFIG_MODE" = kfarm ] || { echo "--- config $CONFIG_MODE"; cat ${CONFIG_PATH:+"$CONFIG_PATH"} </dev/null; }
		# defconfig's base is the profile's make target: another target is
		# another kernel (x86_64_defconfig vs i386_defconfig)
		[ "$CONFIG_MODE" != defconfig ] || echo "defconfig target $defcfg"
		# kselftest options, only when asked
		[ ! -s "${KS_FRAG:-}" ] || { echo "--- kselftest ${KFARM_KSELFTEST}"; cat "$KS_FRAG"; }
	} | sha 16
}

# Default mode: Debian's tarball + images/patches/VER (unless --nopatch).
# Sets RESULT (built|cached|failed|failed-cached|configured), RELEASE, KEY, ERR, SECS.
build_one() {
	local arch=$1 ver=$2
	local karch cross image cfrag tarball gcc gccver tarid patches=() pkey_in pkey id
	RESULT= RELEASE= KEY= ERR= SECS=0 ARCH=$arch VER=$ver BDIR=
	T0=$(date +%s)

	load_profile "$arch"
	tarball="$SOURCES/linux-source-$ver.tar.xz"
	[ -f "$tarball" ] || die "no $tarball (apt-get install linux-source-$ver)"

	# PKEY names the unpacked tree (kept from recipe 1, so the trees, O=
	# build dirs and ccache entries of existing caches stay valid).
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
	id="tar:$(sha256sum <"$tarball" | cut -c1-64)+patches:$(patches_hash "${patches[@]}")"
	KEY=$(kernel_key "$id")
	local bdir="$CACHE/build/$arch-$ver" src
	[ "$NOPATCH" = 1 ] && bdir+="-nopatch"
	if check_cached "$arch" "$ver"; then
		# an O= tree from before they moved into the tree: nothing reads it
		[ ! -d "$bdir" ] || { exec 9>"$bdir.lock" && flock 9 && rm -rf "$bdir"; exec 9>&-; }
		return 0
	fi
	mkdir -p "$CACHE/build" "$CACHE/kernels"
	exec 9>"$bdir.lock"
	flock 9
	LOG="$bdir.log"
	: >"$LOG"
	local sname try=0
	sname=$(src_name "$ver" "$pkey")
	[ -d "$CACHE/src/linux-$ver-$pkey" ] ||
		[ "$(cat "$CACHE/src/$sname/.kfarm-pkey" 2>/dev/null)" = "$pkey" ] ||
		say "unpacking $(basename "$tarball") (+${#patches[@]} patches) into src/$sname"
	while :; do
		if ! src=$(ensure_source "$ver" "$pkey" "$tarball" "${patches[@]}" 2>>"$LOG"); then
			fail "$(grep -m1 '^kfarm: error: ' "$LOG" | sed 's/^kfarm: error: //')"; return 0
		fi
		src_lock "$src" "$pkey" && break
		exec 7<&-	# replaced by another series meanwhile: again
		try=$((try + 1))
		[ $try -lt 3 ] || { fail "src/$sname: replaced by another patch series 3 times"; return 0; }
	done
	build_tree "$arch" "$ver" "$src" "$bdir" "tarball $tarid" "$id"
	exec 7<&-
}

# A kernel or failure already recorded under KEY? (sets RESULT etc.; with
# $2 = VER also refreshes defaults/ARCH-VER.json)
check_cached() {
	local arch=$1 ver=$2 out="$CACHE/kernels/$1-$KEY"
	[ "$CONFIG_ONLY" = 0 ] && [ "$FORCE" = 0 ] || return 1
	if [ -f "$out/image" ]; then
		RESULT=cached RELEASE=$(cat "$out/release")
		[ "$NOPATCH" = 1 ] || [ -z "$ver" ] ||
			write_default "$arch" "$ver" built "$out/image" "$RELEASE" "$KEY" "" "$out/build.log"
		return 0
	fi
	if [ -f "$out.failed.json" ]; then
		RESULT=failed-cached ERR=$(jq -r '.error' "$out.failed.json")
		RELEASE=$(jq -r '.release // ""' "$out.failed.json")
		[ "$NOPATCH" = 1 ] || [ -z "$ver" ] ||
			write_default "$arch" "$ver" failed "" "$RELEASE" "$KEY" "$ERR" "$out.failed.log"
		return 0
	fi
	return 1
}

# Records a failure ($1 = error line) under KEY. Globals from build_tree.
fail() {
	local out="$CACHE/kernels/$ARCH-$KEY" csha=
	ERR=$1 RESULT=failed
	SECS=$(( $(date +%s) - T0 ))
	[ "$CONFIG_ONLY" = 1 ] && { exec 9>&-; return 0; }
	[ -f "${BDIR:-/nonexistent}/.config" ] && csha=$(sha256sum <"$BDIR/.config" | cut -c1-64)
	cp "$LOG" "$out.failed.log.tmp.$$" && mv -f "$out.failed.log.tmp.$$" "$out.failed.log"
	jq -n --arg arch "$ARCH" --arg version "${VER:-}" --arg key "$KEY" --arg error "$ERR" \
		--arg log "$out.failed.log" --arg release "$RELEASE" --arg compiler "${gccver:-}" \
		--arg config_sha256 "$csha" --argjson seconds "$SECS" \
		--argjson warnings "$(grep -c ': warning:' "$LOG" || true)" \
		--argjson nopatch "$([ "$NOPATCH" = 1 ] && echo true || echo false)" \
		'{arch: $arch, version: $version, key: $key, error: $error, log: $log,
		  release: $release, compiler: $compiler, config_sha256: $config_sha256,
		  build_seconds: $seconds, warnings: $warnings, nopatch: $nopatch}' |
		put "$out.failed.json"
	[ "$NOPATCH" = 1 ] || [ -z "${VER:-}" ] ||
		write_default "$ARCH" "$VER" failed "" "$RELEASE" "$KEY" "$ERR" "$out.failed.log"
	exec 9>&-
}

# The recipe: tinyconfig + common.config + ARCH.config (every option
# verified), then the image, from source tree $3 in O= tree $4 (locked by
# the caller on fd 9; log in $LOG). $5 = a description of the source for
# build.json, $6 = its identity. Uses load_profile's variables and KEY.
build_tree() {
	local arch=$1 ver=$2 src=$3 bdir=$4 srcdesc=$5 id=$6 target obj
	local out="$CACHE/kernels/$arch-$KEY"
	RELEASE=$(makefile_version "$src")
	# The O= tree of a tree kfarm made (the cache's src/) is a subdirectory
	# of it, where kbuild names every path relative (srctree = ..): the
	# compiler's command lines are then the same for every tree, revision and
	# cache, and ccache serves one tree's objects to any other with the same
	# text (a git branch off Debian's tarball, a test's own cache). A user's
	# own directory is never written to: its O= tree is $bdir, as before.
	case $src in
	"$CACHE/src/"*)
		obj="$src/.kfarm-o-$(basename "$bdir")"
		[ ! -d "$bdir" ] || rm -rf "$bdir"	# its O= tree from before (lock held)
		;;
	*) obj=$bdir ;;
	esac
	ARCH=$arch VER=$ver BDIR=$obj

	# An O= tree belongs to one source tree (and series: a replaced tree's
	# files keep the tarball's old mtimes, which make would not see as
	# changes); start afresh if that changed.
	local srcid="$src$( [ -f "$src/.kfarm-pkey" ] && printf ' %s' "$(cat "$src/.kfarm-pkey")")"
	if [ -d "$obj" ] && [ "$(cat "$obj/.kfarm-srctree" 2>/dev/null)" != "$srcid" ]; then
		rm -rf "$obj"
	fi
	mkdir -p "$obj"
	echo "$srcid" >"$obj/.kfarm-srctree"

	# ccache behind the compiler: a rebuild under a new key (a script or
	# fragment change) of unchanged sources is mostly cache hits. BASEDIR
	# makes the cache independent of where the cache directory lives.
	local -a mk=(make -C "$src" O="$obj" ARCH="$karch" CROSS_COMPILE="$cross" LOCALVERSION=)
	if command -v ccache >/dev/null; then
		mk+=(CC="ccache ${cross}gcc" HOSTCC="ccache gcc")
		export CCACHE_DIR="${KFARM_CCACHE_DIR:-$CACHE/ccache}" CCACHE_BASEDIR="$CACHE" CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
	fi
	target=$(basename "$image")
	{
		echo "# kfarm kernel build: $arch ${ver:-} key $KEY"
		echo "# source $src ($RELEASE, $id), compiler: $gccver"
		echo "# $(date -u +%FT%TZ)"
	} >>"$LOG"

	# the base configuration, then the fragments merged on top of it
	local base=tinyconfig extra=()
	case $CONFIG_MODE in
	defconfig) base=$defcfg ;;
	file) base=file ;;
	frag) extra=("$CONFIG_PATH") ;;
	esac
	cat "$ROOT/arches/common.config" "$cfrag" "${extra[@]}" >"$obj/kfarm.fragment"
	echo "# config: $CONFIG_MODE${CONFIG_PATH:+ $CONFIG_PATH}, base $base" >>"$LOG"
	# kselftest options go first, so kfarm's own (verified below) win
	local -a frags=("$obj/kfarm.fragment")
	if [ -s "${KS_FRAG:-}" ]; then
		cp "$KS_FRAG" "$obj/kselftest.fragment"
		frags=("$obj/kselftest.fragment" "$obj/kfarm.fragment")
	fi
	say "phase configure"
	if ! { if [ "$base" = file ]; then cp "$CONFIG_PATH" "$obj/.config"; else "${mk[@]}" "$base"; fi &&
	       (cd "$src" && scripts/kconfig/merge_config.sh -m -O "$obj" "$obj/.config" "${frags[@]}") &&
	       "${mk[@]}" olddefconfig; } >>"$LOG" 2>&1; then
		fail "$(first_error "$LOG" "$src" "$obj")"; return 0
	fi
	local problems
	if ! problems=$(verify_config "$src" "$karch" "$obj/.config" "$obj/kfarm.fragment" "${ver:-$RELEASE}" 2>>"$LOG"); then
		printf '%s\n' "$problems" >>"$LOG"
		printf '%s\n' "$problems" | sed 's/^kfarm: error: /kernel:   /' >&2
		fail "$(head -n1 <<<"$problems" | sed 's/^kfarm: error: //')"; return 0
	fi
	grep '^kernel:   note: ' "$LOG" >&2 || true
	if [ "$CONFIG_ONLY" = 1 ]; then
		RESULT=configured SECS=$(( $(date +%s) - T0 )); exec 9>&-; return 0
	fi

	say "building $arch${ver:+ $ver} ($RELEASE, key $KEY, make -j$JOBS $target), log: $LOG"
	# progress for kfarm: kbuild's steps of the last full build of this
	# arch and config (any of its O= trees), for a rough percentage
	local steps=0 fresh=0 sf
	[ -e "$obj/$image" ] || [ -e "$obj/vmlinux" ] || fresh=1
	sf=$(ls -t "$CACHE/build/$arch"-*.steps 2>/dev/null | head -n1 || true)
	[ -z "$sf" ] || steps=$(cat "$bdir.steps" 2>/dev/null || cat "$sf")
	[ "$fresh" = 1 ] || steps=0
	local mark
	mark=$(wc -l <"$LOG")
	say "phase compile steps $steps log $LOG"
	if ! compile_to_first_error "$LOG" "${mk[@]}" -j"$JOBS" "$target"; then
		fail "$(first_error "$LOG" "$src" "$obj")"; return 0
	fi
	[ "$fresh" = 0 ] || tail -n +"$((mark + 1))" "$LOG" | grep -c '^  [A-Z]' | put "$bdir.steps" || true
	if [ ! -s "$obj/$image" ]; then
		echo "kfarm: error: build finished but $image is missing" >>"$LOG"
		fail "build finished but $image is missing"; return 0
	fi
	RELEASE=$("${mk[@]}" -s kernelrelease 2>>"$LOG") || { fail "make kernelrelease failed"; return 0; }
	SECS=$(( $(date +%s) - T0 ))

	local tmp="$CACHE/kernels/.tmp-$arch-$KEY.$$"
	TMPOUT=$tmp
	rm -rf "$tmp"; mkdir -p "$tmp"
	cp "$obj/$image" "$tmp/image"
	cp "$obj/.config" "$tmp/config"
	cp "$LOG" "$tmp/build.log"
	echo "$RELEASE" >"$tmp/release"
	jq -n --arg arch "$arch" --arg version "$ver" --arg key "$KEY" --arg release "$RELEASE" \
		--arg compiler "$gccver" --arg tarball "$srcdesc" --arg source "$src" --arg id "$id" \
		--arg config_sha256 "$(sha256sum <"$obj/.config" | cut -c1-64)" \
		--argjson warnings "$(grep -c ': warning:' "$LOG" || true)" \
		--argjson seconds "$SECS" --argjson nopatch "$([ "$NOPATCH" = 1 ] && echo true || echo false)" \
		--arg built "$(date -u +%FT%TZ)" --arg ks "$([ -s "${KS_FRAG:-}" ] && echo "$KFARM_KSELFTEST")" \
		--arg ks_unmet "$(ks_unmet "$obj")" \
		'{arch: $arch, version: $version, key: $key, release: $release, compiler: $compiler,
		  tarball: $tarball, source: $source, id: $id, config_sha256: $config_sha256,
		  warnings: $warnings, build_seconds: $seconds, nopatch: $nopatch,
		  built: $built}
		 + (if $ks == "" then {} else {kselftest_config: {targets: $ks,
		    unmet: ($ks_unmet | split("\n") | map(select(. != "")))}} end)' >"$tmp/build.json"
	[ ! -s "${KS_FRAG:-}" ] || cp "$obj/kselftest.fragment" "$tmp/kselftest.fragment"
	rm -rf "$out"
	mv -T "$tmp" "$out"
	TMPOUT=
	rm -f "$out.failed.json" "$out.failed.log"
	[ "$NOPATCH" = 1 ] || [ -z "$ver" ] ||
		write_default "$arch" "$ver" built "$out/image" "$RELEASE" "$KEY" "" "$out/build.log"
	RESULT=built
	exec 9>&-
}

# kselftest options that did not take (dependencies this arch lacks), one a line
ks_unmet() {
	[ -s "${KS_FRAG:-}" ] || return 0
	local line sym val have
	while IFS= read -r line; do
		[[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]] || continue
		sym=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]}
		have=$(grep -m1 -E "^$sym=" "$1/.config" | cut -d= -f2- || true)
		[ "$have" = "$val" ] || echo "$sym=$val (have ${have:-n})"
	done <"$KS_FRAG"
}

# --src mode: one arch from a tree kfarm prepared; the result record goes to
# RESULT_FILE: build.json or failed.json plus {"status": RESULT, "image"}.
build_src() {
	local arch=$1 karch cross image cfrag gcc gccver
	RESULT= RELEASE= KEY= ERR= SECS=0 T0=$(date +%s)
	[ -f "$SRC_DIR/Makefile" ] || die "$SRC_DIR is not a kernel source tree (no Makefile)"
	[[ $SRC_BDIR =~ ^[A-Za-z0-9._-]+$ ]] || die "--bdir wants a plain name, got '$SRC_BDIR'"
	load_profile "$arch"
	KS_FRAG=
	if [ -n "${KFARM_KSELFTEST:-}" ]; then
		KS_FRAG=$(mktemp)
		"$ROOT/images/kselftest.sh" --config-fragment "$SRC_DIR" "$KFARM_KSELFTEST" >"$KS_FRAG" ||
			die "cannot read the config files of kselftest targets $KFARM_KSELFTEST"
	fi
	KEY=$(kernel_key "$SRC_ID")
	if ! check_cached "$arch" ""; then
		local bdir="$CACHE/build/$arch-$SRC_BDIR"
		mkdir -p "$CACHE/build" "$CACHE/kernels"
		exec 9>"$bdir.lock"
		flock 9
		LOG="$bdir.log"
		: >"$LOG"
		build_tree "$arch" "" "$SRC_DIR" "$bdir" "$SRC_DIR" "$SRC_ID"
	fi
	local out="$CACHE/kernels/$arch-$KEY" rec
	case $RESULT in
	configured)	# --config-only: the configuration checked, nothing recorded
		jq -n --arg key "$KEY" --arg c "$(sha256sum <"$BDIR/.config" | cut -c1-64)" \
			'{status: "configured", key: $key, config_sha256: $c}' | put "$RESULT_FILE"
		say "$arch: configured (config $CONFIG_MODE)"; return 0 ;;
	built|cached) rec="$out/build.json" ;;
	*) rec="$out.failed.json" ;;
	esac
	jq --arg status "$RESULT" --arg image "$([ -f "$out/image" ] && echo "$out/image")" \
		--arg log "$([ -f "$out/build.log" ] && echo "$out/build.log" || echo "$out.failed.log")" \
		'. + {status: $status, image: (if $image == "" then null else $image end), log: $log}' \
		"$rec" | put "$RESULT_FILE"
	say "$arch: $RESULT${ERR:+: $ERR} (kernels/$arch-$KEY)"
	if [ -n "$KS_FRAG" ]; then
		[ ! -f "$out/build.json" ] || jq -r '.kselftest_config.unmet // [] | .[]' "$out/build.json" |
			sed 's/^/kernel:   note: kselftest option not set: /' >&2
		rm -f "$KS_FRAG"
	fi
}

# ---------------------------------------------------------------- main

targets=()
while [ $# -gt 0 ]; do
	case $1 in
	--force) FORCE=1 ;;
	--nopatch) NOPATCH=1 ;;
	--config-only) CONFIG_ONLY=1 ;;
	--src|--id|--bdir|--result|--config)
		[ $# -ge 2 ] || usage
		case $1 in
		--src) SRC_DIR=$2 ;; --id) SRC_ID=$2 ;; --bdir) SRC_BDIR=$2 ;; --result) RESULT_FILE=$2 ;;
		--config) case $2 in
			kfarm|defconfig) CONFIG_MODE=$2 ;;
			file:?*|frag:?*) CONFIG_MODE=${2%%:*} CONFIG_PATH=${2#*:}
				[ -f "$CONFIG_PATH" ] && [ -r "$CONFIG_PATH" ] ||
					die "--config: cannot read '$CONFIG_PATH'" ;;
			*) usage ;;
			esac ;;
		esac
		shift ;;
	-h|--help) usage ;;
	-*) usage ;;
	*:*) targets+=("$1") ;;
	*)	if [ -n "$SRC_DIR" ]; then [ -z "${SRC_ARCH:-}" ] || usage; SRC_ARCH=$1
		else [ $# -ge 2 ] || usage; targets+=("$1:$2"); shift; fi ;;
	esac
	shift
done
[ "$CONFIG_MODE" = kfarm ] || [ -n "$SRC_DIR" ] || die "--config goes with --src"
if [ -n "$SRC_DIR" ]; then
	[ -n "$SRC_ID" ] && [ -n "$SRC_BDIR" ] && [ -n "$RESULT_FILE" ] || usage
	[ ${#targets[@]} = 0 ] && [ -n "${SRC_ARCH:-}" ] || usage
	build_src "$SRC_ARCH"
	exit 0
fi
[ ${#targets[@]} -gt 0 ] || usage

summary=() nfail=0
for t in "${targets[@]}"; do
	arch=${t%%:*} ver=${t#*:}
	build_one "$arch" "$ver"
	case $RESULT in
	built)         say "$arch $ver: built $RELEASE in ${SECS}s -> kernels/$arch-$KEY/image" ;;
	cached)        say "$arch $ver: up to date (kernels/$arch-$KEY)" ;;
	configured)    say "$arch $ver: configuration OK (${SECS}s)" ;;
	failed)        say "$arch $ver: FAILED: $ERR (record: kernels/$arch-$KEY.failed.json)"; nfail=$((nfail+1)) ;;
	failed-cached) say "$arch $ver: FAILED (recorded earlier, FORCE=1 to retry): $ERR"; nfail=$((nfail+1)) ;;
	esac
	summary+=("$(printf '%-8s %-5s %-13s %5s  %-10s %s' "$arch" "$ver" "$RESULT" "$SECS" "${RELEASE:--}" "$KEY${ERR:+  $ERR}")")
done

printf '%-8s %-5s %-13s %5s  %-10s %s\n' arch ver status secs release key >&2
printf '%s\n' "${summary[@]}" >&2
[ "${STRICT:-0}" = 1 ] && [ $nfail -gt 0 ] && exit 1
exit 0
