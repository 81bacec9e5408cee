#!/bin/bash
# images/boot.sh - boot one kfarm kernel by hand under QEMU, serial on stdio.
#
# usage: images/boot.sh ARCH VER|IMAGE [INITRAMFS|-] [extra kernel cmdline...]
#   ARCH       an arches/ARCH.json profile (x86_64 arm64 riscv64 sparc64 alpha)
#   VER        a version built by `make kernels` (boots defaults/ARCH-VER.json's
#              image), or IMAGE, the path of a kernel image
#   INITRAMFS  a cpio(.gz); default (or "-"): the path in
#              $KFARM_CACHE/initramfs/ARCH.json when that exists, else none
#   the rest   appended to "console=CONSOLE panic=-1"
# Prints the exact QEMU command on stderr, then execs it.  The VM ends when
# the guest reboots or panics (-no-reboot, panic=-1); Ctrl-C ends QEMU.
# QEMU_EXTRA (environment, split on spaces) is appended to QEMU's argv.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${KFARM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kfarm}

die() { printf 'boot: error: %s\n' "$*" >&2; exit 2; }
usage() { sed -n '/^# usage:/,/^# QEMU_EXTRA/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 2 ] || usage
arch=$1 what=$2; shift 2
initrd=${1:--}; [ $# -gt 0 ] && shift
command -v jq >/dev/null || die "jq is not installed (apt-get install jq)"

profile="$ROOT/arches/$arch.json"
[ -f "$profile" ] || die "no arch profile $profile"

if [ -f "$what" ]; then
	image=$what
else
	def="$CACHE/defaults/$arch-$what.json"
	[ -f "$def" ] || die "no $def (run: make kernel-$arch-$what) and no file '$what'"
	status=$(jq -r .status "$def")
	[ "$status" = built ] || die "$arch $what kernel is '$status': $(jq -r '.error // ""' "$def")"
	image=$(jq -r .image "$def")
fi
[ -f "$image" ] || die "no kernel image $image"

if [ "$initrd" = - ]; then
	initrd=
	if [ -f "$CACHE/initramfs/$arch.json" ]; then
		initrd=$(jq -r '.path // ""' "$CACHE/initramfs/$arch.json")
	fi
	[ -n "$initrd" ] || echo "boot: note: no initramfs given and none in $CACHE/initramfs/$arch.json: booting without one" >&2
fi
[ -z "$initrd" ] || [ -f "$initrd" ] || die "no initramfs $initrd"

mapfile -t firmware < <(jq -r '.qemu.firmware // [] | .[]' "$profile")
mapfile -t args < <(jq -r '.qemu.args // [] | .[]' "$profile")
binary=$(jq -er .qemu.binary "$profile")
machine=$(jq -er .qemu.machine "$profile")
cpu=$(jq -r '.qemu.cpu // ""' "$profile")
mem=$(jq -r '.qemu.memory_mb // 512' "$profile")
console=$(jq -er .console "$profile")

cmdline="console=$console panic=-1${*:+ $*}"
cmd=("$binary" -M "$machine")
[ -z "$cpu" ] || cmd+=(-cpu "$cpu")
cmd+=(-m "$mem" -smp 1 "${firmware[@]}" "${args[@]}"
      -display none -serial stdio -monitor none -no-reboot
      -kernel "$image")
[ -z "$initrd" ] || cmd+=(-initrd "$initrd")
cmd+=(-append "$cmdline")
# shellcheck disable=SC2206
[ -z "${QEMU_EXTRA:-}" ] || cmd+=($QEMU_EXTRA)

printf '%q ' "${cmd[@]}" | sed 's/ $//' >&2
echo >&2
exec "${cmd[@]}"
