#!/bin/bash
# mkinitramfs.sh [--kselftest DIR] [--record FILE] ARCH [USER_TESTS_DIR]
#   - build kfarm's guest initramfs.
#
# Cross-compiles images/guest (init + harness + tests/*.c) with the arch
# profile's cross_compile, links it as the profile says (static, or dynamic
# with the profile's libs copied from its sysroot to the same paths), and
# packs a newc cpio with images/guest/mkcpio.c (so /dev/console exists
# without root):
#   /init  /dev/console  /proc /sys /tmp /kfarm/user  [libs]  [user programs]
#
# Output (docs/design.md, "Cache layout"), KEY = hash of every input:
#   $KFARM_CACHE/initramfs/ARCH-KEY.cpio.gz
#   $KFARM_CACHE/initramfs/ARCH.json       {"arch","path","tests":[...]}
# With USER_TESTS_DIR, its executables go to /kfarm/user/ (run after the
# built-in suite as user:NAME), KEY covers them too, and the record is
#   $KFARM_CACHE/initramfs/ARCH-user.json  {..., "tests" also lists the
#                                           user:NAME entries, "user_dir"}
# so the default ARCH.json is never replaced by a user build.
# With --kselftest DIR (images/kselftest.sh's tree: DIR/TARGET/ with its
# kfarm-list), DIR goes to /kfarm/kselftest/ (run as kselftest:TARGET), KEY
# covers it, and the record ("tests" also lists kselftest:TARGET, "kselftest"
# names DIR) is ARCH-kselftest-KEY.json beside the archive (one per tree: a
# run's candidates do not overwrite each other's), copied to --record FILE and
# to $KFARM_CACHE/initramfs/ARCH-kselftest.json (the latest, for --initramfs).
# Dynamically linked user and kselftest programs get their NEEDED libraries
# (recursively) from the profile's sysroot, plus libgcc_s.so.1, which glibc
# loads at run time for pthread_exit and cancellation.
# Everything is written under a temporary name and renamed into place; a
# second run with the same inputs only checks and prints "up to date".
# Needs: bash, jq, gcc (host), the profile's cross gcc, gzip, sha256sum.
set -euo pipefail

die() { echo "mkinitramfs: $*" >&2; exit 1; }

ks_dir= record_arg=
while [ $# -gt 0 ]; do
	case $1 in
	--kselftest) [ $# -ge 2 ] || die "--kselftest wants a directory"; ks_dir=$2; shift 2 ;;
	--record) [ $# -ge 2 ] || die "--record wants a file"; record_arg=$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: mkinitramfs.sh [--kselftest DIR] [--record FILE] ARCH [USER_TESTS_DIR]"
arch=$1
user_dir=${2:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
guest=$here/guest
profile=$root/arches/$arch.json
cache=${KFARM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kfarm}
hostcc=${HOSTCC:-cc}

command -v jq >/dev/null || die "jq is required (apt-get install jq)"
[ -f "$profile" ] || die "no profile $profile"
[ "$(jq -r .arch "$profile")" = "$arch" ] || die "$profile: .arch is not '$arch'"
cross=$(jq -r '.cross_compile // ""' "$profile")
sysroot=$(jq -r '.sysroot // ""' "$profile")
link=$(jq -r '.link // "static"' "$profile")
mapfile -t libs < <(jq -r '(.libs // [])[]' "$profile")
cc=${cross}gcc
command -v "$cc" >/dev/null || die "$arch: compiler $cc not found"
case $link in
static) ldflags=-static ;;
dynamic) ldflags= ; [ ${#libs[@]} -gt 0 ] || die "$arch: dynamic link but no libs in $profile" ;;
*) die "$arch: unknown link '$link'" ;;
esac
if [ -n "$user_dir" ]; then
	[ -d "$user_dir" ] || die "USER_TESTS '$user_dir' is not a directory"
	user_dir=$(cd "$user_dir" && pwd)
fi
if [ -n "$ks_dir" ]; then
	[ -d "$ks_dir" ] || die "--kselftest '$ks_dir' is not a directory"
	ks_dir=$(cd "$ks_dir" && pwd)
fi

# user programs: executable regular files, sorted by name (like /init does)
user_progs=()
if [ -n "$user_dir" ]; then
	while IFS= read -r f; do
		case $f in *[[:space:]]*) die "user program name with a space: '$f'" ;; esac
		[ -x "$user_dir/$f" ] && user_progs+=("$f")
	done < <(cd "$user_dir" && LC_ALL=C find . -maxdepth 1 -type f ! -name '.*' -printf '%f\n' | LC_ALL=C sort)
	[ ${#user_progs[@]} -gt 0 ] || die "no executable files in $user_dir"
fi

# kselftest tree: every directory and file (symlinks followed), by path
ks_dirs=() ks_files=() ks_targets=()
if [ -n "$ks_dir" ]; then
	while IFS= read -r -d '' f; do
		case $f in *[[:space:]]*) die "kselftest file name with a space: '$f'" ;; esac
		if [ -d "$ks_dir/$f" ]; then ks_dirs+=("$f"); else ks_files+=("$f"); fi
	done < <(cd "$ks_dir" && LC_ALL=C find -L . -mindepth 1 \( -type d -o -type f \) -printf '%P\0' | LC_ALL=C sort -z)
	for f in "${ks_files[@]}"; do
		case $f in */kfarm-list) [ "${f%/kfarm-list}" = "${f%%/*}" ] && ks_targets+=("${f%/kfarm-list}") ;; esac
	done
fi

# NEEDED libraries of dynamic programs, from the sysroot (alpha: static
# glibc crashes, so everything there is dynamic)
extra_libs=()
if [ -n "$sysroot" ] && { [ ${#user_progs[@]} -gt 0 ] || [ ${#ks_files[@]} -gt 0 ]; }; then
	declare -A have_lib=()
	for l in "${libs[@]}"; do have_lib[$(basename "$l")]=1; done
	find_lib() {
		local d
		for d in lib usr/lib lib64 usr/lib64; do
			[ -f "$sysroot/$d/$1" ] && { echo "$d/$1"; return 0; }
		done
		return 1
	}
	queue=()
	for f in "${user_progs[@]}"; do queue+=("$user_dir/$f"); done
	for f in "${ks_files[@]}"; do queue+=("$ks_dir/$f"); done
	while [ ${#queue[@]} -gt 0 ]; do
		f=${queue[0]}; queue=("${queue[@]:1}")
		[ "$(head -c 4 "$f" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || continue
		for n in $("${cross}readelf" -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
			[ -z "${have_lib[$n]:-}" ] || continue
			have_lib[$n]=1
			l=$(find_lib "$n") || die "$arch: $(basename "$f") needs $n, not in $sysroot"
			extra_libs+=("$l")
			queue+=("$sysroot/$l")
		done
	done
	if [ ${#extra_libs[@]} -gt 0 ] || [ "$link" = dynamic ]; then
		if [ -z "${have_lib[libgcc_s.so.1]:-}" ] && l=$(find_lib libgcc_s.so.1); then
			extra_libs+=("$l")
		fi
	fi
	libs+=("${extra_libs[@]}")
fi

srcs=("$guest/init.c" "$guest/kt.c" "$guest/prog.c")
while IFS= read -r f; do srcs+=("$f"); done < <(LC_ALL=C ls "$guest"/tests/*.c)

# ---- cache key: everything that can change the archive ----
key=$(
	{
		echo "kfarm-initramfs 1"
		(cd "$here" && LC_ALL=C find guest -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort | xargs sha256sum)
		sha256sum < "${BASH_SOURCE[0]}"
		jq -S -c . "$profile"
		"$cc" --version | head -n1
		"$cc" -dumpmachine
		for l in "${libs[@]}"; do echo "lib $l"; sha256sum < "$sysroot/$l"; done
		for f in "${user_progs[@]}"; do echo "user $f"; sha256sum < "$user_dir/$f"; done
		for f in "${ks_dirs[@]}"; do echo "ksdir $f"; done
		for f in "${ks_files[@]}"; do echo "ks $f $(stat -L -c %a "$ks_dir/$f")"; sha256sum < "$ks_dir/$f"; done
	} | sha256sum | cut -c1-16
)
outdir=$cache/initramfs
mkdir -p "$outdir"
if [ -n "$ks_dir" ]; then
	out=$outdir/$arch-kselftest-$key.cpio.gz
	record=$outdir/$arch-kselftest-$key.json
elif [ -n "$user_dir" ]; then
	out=$outdir/$arch-user-$key.cpio.gz
	record=$outdir/$arch-user.json
else
	out=$outdir/$arch-$key.cpio.gz
	record=$outdir/$arch.json
fi

# the kselftest record's copies (see the header)
copy_record() {
	[ -n "$ks_dir" ] || return 0
	cp "$record" "$outdir/.tmp-$arch-kselftest.json.$$" && mv -f "$outdir/.tmp-$arch-kselftest.json.$$" "$outdir/$arch-kselftest.json"
	[ -z "$record_arg" ] || cp "$record" "$record_arg"
}
if [ -s "$out" ] && [ -f "$record" ] && [ "$(jq -r .path "$record" 2>/dev/null)" = "$out" ]; then
	echo "initramfs $arch: up to date ($out)"
	copy_record
	exit 0
fi

tmp=$(mktemp -d "$outdir/.tmp-$arch-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cflags=(-O2 -std=gnu11 -Wall -Wextra -Werror)
"$hostcc" "${cflags[@]}" -o "$tmp/mkcpio" "$guest/mkcpio.c"
# the test list comes from a host build of the same sources: every test
# compiles on every arch, and the registry order is (order, name)
"$hostcc" "${cflags[@]}" -o "$tmp/init-host" "${srcs[@]}"
mapfile -t tests < <("$tmp/init-host" --list-default)
[ ${#tests[@]} -gt 0 ] || die "host build lists no tests"

echo "initramfs $arch: $cc ($link)"
"$cc" "${cflags[@]}" $ldflags -o "$tmp/init" "${srcs[@]}"
"${cross}strip" "$tmp/init" 2>/dev/null || true

if [ "$link" = dynamic ]; then
	# what the binary asks for must be what we ship
	interp=$("${cross}readelf" -l "$tmp/init" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
	needed=$("${cross}readelf" -d "$tmp/init" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
	printf '%s\n' "${libs[@]}" | grep -qx "${interp#/}" || die "$arch: interpreter $interp not in profile libs"
	for n in $needed; do
		printf '%s\n' "${libs[@]}" | grep -q "/$n\$" || die "$arch: needs $n, not in profile libs"
	done
fi

# NUL-terminated fields (mkcpio -0): a cache path may hold spaces
ent() { printf '%s\0' "$@"; }
{
	ent dir /dev 0755
	ent nod /dev/console 0600 c 5 1
	ent nod /dev/null 0666 c 1 3
	ent dir /proc 0555
	ent dir /sys 0555
	ent dir /tmp 1777
	ent dir /kfarm 0755
	ent dir /kfarm/user 0755
	ent file /init "$tmp/init" 0755
	declare -A dirs=()
	for l in "${libs[@]}"; do
		d=$(dirname "/$l")
		while [ "$d" != / ] && [ -z "${dirs[$d]:-}" ]; do dirs[$d]=1; d=$(dirname "$d"); done
	done
	while IFS= read -r d; do [ -z "$d" ] || ent dir "$d" 0755; done < <(printf '%s\n' "${!dirs[@]}" | LC_ALL=C sort)
	for l in "${libs[@]}"; do
		[ -f "$sysroot/$l" ] || die "$arch: $sysroot/$l missing"
		ent file "/$l" "$sysroot/$l" 0755
	done
	for f in "${user_progs[@]}"; do ent file "/kfarm/user/$f" "$user_dir/$f" 0755; done
	if [ -n "$ks_dir" ]; then
		ent dir /kfarm/kselftest 0755
		for f in "${ks_dirs[@]}"; do ent dir "/kfarm/kselftest/$f" 0755; done
		for f in "${ks_files[@]}"; do
			ent file "/kfarm/kselftest/$f" "$ks_dir/$f" "$(stat -L -c %a "$ks_dir/$f")"
		done
	fi
} > "$tmp/list"

"$tmp/mkcpio" -0 "$tmp/list" | gzip -9 -n > "$tmp/initramfs.cpio.gz"
mv -f "$tmp/initramfs.cpio.gz" "$out"

all_tests=("${tests[@]}")
for f in "${user_progs[@]}"; do all_tests+=("user:$f"); done
for t in "${ks_targets[@]}"; do all_tests+=("kselftest:$t"); done
if [ -n "$ks_dir" ]; then
	jq -n --arg arch "$arch" --arg path "$out" --arg user_dir "$user_dir" --arg ks "$ks_dir" \
		'{arch: $arch, path: $path, tests: $ARGS.positional, kselftest: $ks}
		 + (if $user_dir == "" then {} else {user_dir: $user_dir} end)' \
		--args "${all_tests[@]}" > "$tmp/record.json"
elif [ -n "$user_dir" ]; then
	jq -n --arg arch "$arch" --arg path "$out" --arg user_dir "$user_dir" \
		'{arch: $arch, path: $path, tests: $ARGS.positional, user_dir: $user_dir}' \
		--args "${all_tests[@]}" > "$tmp/record.json"
else
	jq -n --arg arch "$arch" --arg path "$out" \
		'{arch: $arch, path: $path, tests: $ARGS.positional}' \
		--args "${all_tests[@]}" > "$tmp/record.json"
fi
mv -f "$tmp/record.json" "$record"
copy_record
echo "initramfs $arch: $out ($(stat -c %s "$out") bytes, ${#all_tests[@]} tests)"
