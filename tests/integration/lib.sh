# Shared helpers for integration tests: real kernels, real QEMU, real SQLite,
# real HTTP. Each test is a bash script sourcing this file.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KFARM=${KFARM_BIN:-$TOP/bin/kfarm}
: "${KFARM_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/kfarm}"
export KFARM_CACHE
T=$(mktemp -d /tmp/kfarm-it.XXXXXX)
# every QEMU a test starts carries this token on its command line, so leaks are
# found by name even with other VMs on the machine
TOKEN=kfarm.itest=$$.$RANDOM
FAILS=0
CHECKS=0

cleanup() {
	pkill -9 -f "$TOKEN" 2>/dev/null
	[ -n "${SERVE_PID:-}" ] && kill "$SERVE_PID" 2>/dev/null
	if [ -n "${KFARM_KEEP:-}" ]; then echo "  (kept $T)"; else rm -rf "$T"; fi
}
trap cleanup EXIT

ok() { CHECKS=$((CHECKS + 1)); echo "  ok: $*"; }
bad() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "  FAIL: $*"; }
check() { # check DESCRIPTION COMMAND...
	local what=$1; shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
finish() {
	echo "  $CHECKS checks, $FAILS failed"
	[ "$FAILS" -eq 0 ]
}

# Default kernel image for ARCH VER, from make images' record (or "").
default_image() {
	local f=$KFARM_CACHE/defaults/$1-$2.json
	[ -f "$f" ] && jq -r 'select(.status == "built") | .image' "$f"
}
default_initrd() { jq -r .path "$KFARM_CACHE/initramfs/$1.json"; }

# jcheck DESCRIPTION FILTER FILE: the file holds JSON and FILTER is true on it
jcheck() {
	if [ -s "$3" ] && jq -e "$2" "$3" >/dev/null 2>&1; then ok "$1"; else bad "$1"; fi
}

# Peak anonymous memory (RssAnon, KiB: heap and stacks, what input can grow;
# shared library text excluded) of PID, sampled until it exits.
peak_anon() {
	local pid=$1 peak=0 v
	while kill -0 "$pid" 2>/dev/null; do
		v=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null)
		[ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
		sleep 0.2
	done
	echo "$peak"
}

no_qemu_left() { ! pgrep -f "$TOKEN" >/dev/null; }

sql() { sqlite3 -batch "$1" "$2"; }

# free TCP port on loopback
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts kfarm serve on DB in the background; sets SERVE_PID and URL.
start_serve() {
	local port; port=$(free_port)
	URL=http://127.0.0.1:$port
	"$KFARM" serve --db "$1" --listen "127.0.0.1:$port" 2>"$T/serve.err" &
	SERVE_PID=$!
	for _ in $(seq 50); do curl -s -o /dev/null "$URL/api/runs" && return 0; sleep 0.1; done
	return 1
}
stop_serve() { kill "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=; }

# Builds a host-native (x86_64) static init from C source on stdin into an
# initramfs at $1: a guest that misbehaves on purpose (hangs, floods...).
make_initrd() {
	local out=$1 dir; dir=$(mktemp -d "$T/initrd.XXXX")
	cat > "$dir/init.c"
	gcc -static -O2 -o "$dir/init" "$dir/init.c" || return 1
	(cd "$dir" && echo init | cpio -o -H newc --quiet | gzip -1 > "$out")
}

# standin_tree DIR VERSION PATCHLEVEL [RECIPE...]: a STAND-IN kernel tree
# (never used outside the tests that name it): a Makefile with the kbuild
# targets images/kernel.sh calls, whose bzImage is the tree's *.c
# concatenated after the RECIPE lines (make recipe lines, without the tab).
standin_tree() {
	local dir=$1 v=$2 p=$3 line
	shift 3
	mkdir -p "$dir/scripts/kconfig"
	{
		printf 'VERSION = %s\nPATCHLEVEL = %s\nSUBLEVEL = 0\nEXTRAVERSION =\nNAME = stand-in\n' "$v" "$p"
		printf 'tinyconfig:\n\tcp $(O)/kfarm.fragment $(O)/.config\nolddefconfig:\n\t@true\nbzImage:\n'
		for line in "$@"; do printf '\t%s\n' "$line"; done
		printf '\tmkdir -p $(O)/arch/x86/boot && cat $(CURDIR)/*.c >$(O)/arch/x86/boot/bzImage\n'
		printf 'kernelrelease:\n\t@echo %s.%s.0-standin\n' "$v" "$p"
	} >"$dir/Makefile"
	printf '#!/bin/sh\nexit 0\n' >"$dir/scripts/kconfig/merge_config.sh"
	chmod +x "$dir/scripts/kconfig/merge_config.sh"
}
