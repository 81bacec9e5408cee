#!/bin/bash
# images/control.sh - test-only kernels: a default kernel plus one extra patch
# series, images/control/NAME/VER/*.patch, on top of images/patches/VER/,
# and/or an extra config fragment, images/control/NAME/config, appended to
# every arch's fragment (e.g. the KUnit variant, images/control/kunit).
# Built by images/kernel.sh itself (unchanged) from a shadow tree whose
# images/patches/VER holds both series, into a cache of its own,
# $KFARM_CACHE/control/NAME/: its own source and kernel keys (the extra
# patches are in them), its own defaults/, so the default kernels are never
# touched. Prints one line per kernel: "ARCH VER IMAGE" (IMAGE "-" if the
# build failed; the record says why).
#
# usage: images/control.sh NAME ARCH:VER...
#   e.g. images/control.sh alpha-no-migrate-shootdown alpha:6.12
set -euo pipefail

die() { echo "control: $*" >&2; exit 2; }
[ $# -ge 2 ] || die "usage: images/control.sh NAME ARCH:VER..."
name=$1; shift
case $name in *[!a-z0-9-]*|'') die "bad control name '$name' ([a-z0-9-])" ;; esac
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=$(realpath -m -- "${KFARM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kfarm}")
series=$ROOT/images/control/$name
[ -d "$series" ] || die "no patch series $series"
out=$CACHE/control/$name
shadow=$out/root

# ccache: the default kernels' own (kernel.sh puts it at \$KFARM_CACHE/ccache).
# The layout under both caches is the same (build/ARCH-VER beside
# src/linux-VER, paths relative to the cache; kernel.sh names a tree by
# its version alone for this), so a control kernel's sources that
# preprocess as the default's are cache hits. Measured: kunit-crash x86_64
# 6.12 after the default, 348 of 1042 compiles hits (33 %): KUnit's options
# change the preprocessed text of about half the default's files.
mkdir -p "$out" "$CACHE/ccache"
[ -e "$out/ccache" ] || ln -sfn "$CACHE/ccache" "$out/ccache"

# the shadow tree: everything kernel.sh reads, by symlink, but the patches
# (and, with a config fragment, the arch fragments: copies with it appended)
mkdir -p "$shadow/images"
ln -sfn "$ROOT/images/kernel.sh" "$shadow/images/kernel.sh"
if [ -f "$series/config" ]; then
	rm -rf "$shadow/arches"; mkdir -p "$shadow/arches"
	for f in "$ROOT/arches/"*; do
		case $f in
		*/common.config) ln -s "$f" "$shadow/arches/" ;;
		*.config) cat "$f" "$series/config" >"$shadow/arches/$(basename "$f")" ;;
		*) ln -s "$f" "$shadow/arches/" ;;
		esac
	done
else
	rm -rf "$shadow/arches"
	ln -sfn "$ROOT/arches" "$shadow/arches"
fi
for av in "$@"; do
	ver=${av#*:}
	case $ver in *[!0-9.]*|'') die "bad version in '$av'" ;; esac
	[ -d "$series/$ver" ] || [ -f "$series/config" ] || die "$series has no patches for $ver"
	rm -rf "$shadow/images/patches/$ver"
	mkdir -p "$shadow/images/patches/$ver"
	shopt -s nullglob
	for p in "$ROOT/images/patches/$ver/"*.patch "$series/$ver/"*.patch; do	# (none: fine)
		ln -s "$p" "$shadow/images/patches/$ver/$(basename "$p")"
	done
	shopt -u nullglob
done
KFARM_CACHE=$out "$shadow/images/kernel.sh" "$@" >&2
for av in "$@"; do
	arch=${av%%:*} ver=${av#*:}
	rec=$out/defaults/$arch-$ver.json
	[ -f "$rec" ] || die "no record $rec"
	echo "$arch $ver $(jq -r 'if .status == "built" then .image else "-" end' "$rec")"
done
