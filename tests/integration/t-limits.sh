#!/bin/bash
# t-limits: kfarm under hostile conditions on this machine.
# - open files: 60 jobs at --jobs 2 under `ulimit -n 48` all complete, and
#   kfarm's open descriptors stay bounded by the concurrency (console logs
#   are closed when an attempt ends, not when the run does);
# - hash what you boot: the kernel image is replaced (renamed over) again and
#   again while a run plans and boots; every job's recorded sha256 is the
#   image that booted (the guest reports which one it got);
# - libvirt URIs that turn host-key checking off are refused up front.
# The guest here is a stand-in (a fake qemu-system built below that reports
# the release written in the "kernel" file it was given), plus real x86_64
# kernels for the swap test when `make images` has built 6.1 and 6.12.
. "$(dirname "$0")/lib.sh"
echo "t-limits: open files, booted bytes = hashed bytes, host-key URIs"

# --- the stand-in guest ---
mkdir -p "$T/arches" "$T/sb"
cat >"$T/sb/standin.c" <<'C'
/* Stand-in for qemu-system-*: reads the file given as -kernel as a real QEMU
 * would at boot, reports the release written in it, one KTAP result, then
 * waits to be killed. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
	const char *kernel = "";
	char line[256] = "", rel[64] = "unreadable";
	if (argc == 2 && !strcmp(argv[1], "--version")) { puts("QEMU emulator version 0.0 (t-limits stand-in)"); return 0; }
	for (int i = 1; i + 1 < argc; i++) if (!strcmp(argv[i], "-kernel")) kernel = argv[i + 1];
	FILE *f = fopen(kernel, "r");
	if (f && fgets(line, sizeof(line), f)) sscanf(line, "KFARM stand-in kernel %63s", rel);
	if (f) fclose(f);
	printf("KTAP version 1\n# kfarm-init: uname Linux %s #1 standin\n1..1\nok 1 t1\n", rel);
	fflush(stdout);
	for (;;) pause();
}
C
gcc -O2 -o "$T/sb/qemu-system-standin" "$T/sb/standin.c" || { bad "cannot build the stand-in"; finish; exit 1; }
cat >"$T/arches/standin.json" <<J
{ "arch": "standin", "console": "ttyS0",
  "image_magic": [ { "offset": 0, "hex": "4b4641524d" } ],
  "qemu": { "binary": "$T/sb/qemu-system-standin", "machine": "none", "memory_mb": 64 } }
J
: >"$T/initrd"
printf 'KFARM stand-in kernel A\n' >"$T/A"
printf 'KFARM stand-in kernel B\n' >"$T/B"
cp "$T/A" "$T/image"
REAL_CACHE=$KFARM_CACHE
export KFARM_CACHE=$T/cache	# pinned copies go here, not into the shared cache
standin() { KFARM_ARCHES=$T/arches "$KFARM" run --initramfs "standin=$T/initrd" --tests t1 --confirm 0 "$@"; }

# --- open files under ulimit -n 48 ---
kargs=(); for i in $(seq 60); do kargs+=(--kernel "standin=$T/image:j$i"); done
( ulimit -n 48; KFARM_ARCHES=$T/arches exec "$KFARM" run --db "$T/fd.db" --jobs 2 \
	--initramfs "standin=$T/initrd" --tests t1 --confirm 0 "${kargs[@]}" ) >/dev/null 2>"$T/fd.err" &
pid=$!
maxfd=0
while kill -0 $pid 2>/dev/null; do
	n=$(ls /proc/$pid/fd 2>/dev/null | wc -l)
	[ "$n" -gt "$maxfd" ] && maxfd=$n
	sleep 0.02
done
wait $pid; rc=$?
complete=$(sql "$T/fd.db" "SELECT count(*) FROM jobs WHERE outcome = 'COMPLETE'")
echo "    ulimit -n 48, 60 jobs at --jobs 2: $complete COMPLETE, at most $maxfd descriptors open (rc=$rc)"
check "ulimit -n 48: all 60 jobs COMPLETE, exit 0 (got $complete, rc=$rc)" test "$complete" = 60 -a $rc = 0
absent() { ! grep -q "$@"; }
check "no 'Too many open files'" absent "Too many open files" "$T/fd.err"
# stdio, the database (db, -wal, -shm), the run's lock, epoll, signalfd,
# and per running job its console pipe, stderr pipe, pidfd and log: about 20,
# a few more for a moment while a job starts (its pipes before the fork).
# It must not grow with the jobs finished (main reached the 48 limit).
check "open descriptors bounded by the concurrency (at most $maxfd, bound 32)" test "$maxfd" -le 32

# --- hash what you boot: the image replaced while the run plans and boots ---
old=$KFARM_CACHE/pinned/$(printf '%064d' 0) young=$KFARM_CACHE/pinned/$(printf '%064d' 1)
echo old >"$old"; echo young >"$young"; echo part >"$KFARM_CACHE/pinned/.part-1-1"
touch -d '40 days ago' "$old"; touch -d '2 days ago' "$KFARM_CACHE/pinned/.part-1-1"; touch -d '20 days ago' "$young"
( while :; do
	cp "$T/A" "$T/image.new"; mv -f "$T/image.new" "$T/image"
	cp "$T/B" "$T/image.new"; mv -f "$T/image.new" "$T/image"
done ) &
swapper=$!
kargs=(); for i in $(seq 40); do kargs+=(--kernel "standin=$T/image:s$i"); done
standin --db "$T/swap.db" --jobs 2 "${kargs[@]}" >/dev/null 2>"$T/swap.err"; rc=$?
kill $swapper; wait $swapper 2>/dev/null
shaA=$(sha256sum <"$T/A" | cut -c1-64) shaB=$(sha256sum <"$T/B" | cut -c1-64)
q="SELECT j.release || ' ' || c.image_sha256 FROM jobs j JOIN candidates c ON c.id = j.candidate_id"
sql "$T/swap.db" "$q" >"$T/swap.pairs"
nA=$(grep -c "^A $shaA$" "$T/swap.pairs") nB=$(grep -c "^B $shaB$" "$T/swap.pairs")
echo "    40 jobs while the image is swapped: booted A and recorded A: $nA, B and B: $nB, of $(wc -l <"$T/swap.pairs")"
check "every job recorded the sha256 of the image it booted ($nA + $nB of 40; rc=$rc)" \
	test $((nA + nB)) = 40 -a "$(wc -l <"$T/swap.pairs")" = 40
sql "$T/swap.db" "SELECT qemu_cmdline FROM jobs" >"$T/swap.cmd"
check "QEMU was given the pinned, content-addressed copy (every job)" \
	test "$(grep -cE -- "-kernel $KFARM_CACHE/pinned/[0-9a-f]{64} " "$T/swap.cmd")" = 40
check "a pinned copy unused for 40 days and a stale temporary are pruned, one used 20 days ago kept" \
	test ! -e "$old" -a ! -e "$KFARM_CACHE/pinned/.part-1-1" -a -e "$young"
rm -f "$young"
pinned=$(ls "$KFARM_CACHE/pinned")
pinned_ok() {
	local f
	[ -n "$pinned" ] || return 1
	for f in $pinned; do
		[ "$(sha256sum <"$KFARM_CACHE/pinned/$f" | cut -c1-64)" = "$f" ] || return 1
		[ "$(stat -c %a "$KFARM_CACHE/pinned/$f")" = 444 ] || return 1
	done
}
check "pinned copies: named by their hash, read-only" pinned_ok
check "no temporary pinning leftovers" test -z "$(find "$KFARM_CACHE/pinned" -name '.part-*' 2>/dev/null)"

# the same with real kernels: 6.1 and 6.12 swapped under one path
img61=$(KFARM_CACHE=$REAL_CACHE default_image x86_64 6.1)
img612=$(KFARM_CACHE=$REAL_CACHE default_image x86_64 6.12)
if [ -n "$img61" ] && [ -n "$img612" ] && [ -f "$REAL_CACHE/initramfs/x86_64.json" ]; then
	cp "$img61" "$T/k61"; cp "$img612" "$T/k612"; cp "$T/k61" "$T/bz"
	( while :; do
		cp "$T/k61" "$T/bz.new"; mv -f "$T/bz.new" "$T/bz"; sleep 0.3
		cp "$T/k612" "$T/bz.new"; mv -f "$T/bz.new" "$T/bz"; sleep 0.3
	done ) &
	swapper=$!
	kargs=(); for i in $(seq 6); do kargs+=(--kernel "x86_64=$T/bz:r$i"); done
	nice -n 10 "$KFARM" run --db "$T/real.db" --jobs 2 --tests sysinfo --confirm 0 \
		--initramfs "x86_64=$(KFARM_CACHE=$REAL_CACHE default_initrd x86_64)" \
		--append "$TOKEN" "${kargs[@]}" >/dev/null 2>"$T/real.err"; rc=$?
	kill $swapper; wait $swapper 2>/dev/null
	s61=$(sha256sum <"$T/k61" | cut -c1-64) s612=$(sha256sum <"$T/k612" | cut -c1-64)
	sql "$T/real.db" "$q" >"$T/real.pairs"
	n61=$(grep -c "^6\.1\.[0-9]* $s61$" "$T/real.pairs") n612=$(grep -c "^6\.12\.[0-9]* $s612$" "$T/real.pairs")
	echo "    real x86_64 kernels swapped: 6.1 booted and recorded: $n61, 6.12: $n612, of $(wc -l <"$T/real.pairs")"
	check "real kernels: each job's recorded sha256 is the kernel whose release the guest reported (rc=$rc)" \
		test $((n61 + n612)) = 6 -a "$(wc -l <"$T/real.pairs")" = 6
else
	echo "    (real-kernel swap skipped: x86_64 6.1, 6.12 and the initramfs are not all built yet)"
fi

# --- guest side: a cache path with spaces; host-mode /init's command line ---
sp="$T/with space/ca che"
KFARM_CACHE=$sp nice -n 10 make -s -C "$TOP" initramfs ARCH=x86_64 >"$T/mk.out" 2>&1; rc=$?
irf=$(jq -r .path "$sp/initramfs/x86_64.json" 2>/dev/null)
check "make initramfs into '$sp': built (rc=$rc)" test $rc = 0 -a -s "$irf"
if [ -n "$img61" ] && [ -s "$irf" ]; then
	nice -n 10 "$KFARM" run --db "$T/sp.db" --kernel "x86_64=$img61:space" --initramfs "x86_64=$irf" \
		--tests sysinfo --confirm 0 --append "$TOKEN" --json >"$T/sp.json" 2>"$T/sp.err"
	jcheck "that initramfs boots the x86_64 6.1 kernel: COMPLETE, sysinfo PASS" \
		'.jobs[0].outcome == "COMPLETE" and .jobs[0].pass == 1' "$T/sp.json"
else
	echo "    (boot of it skipped: no x86_64 6.1 kernel or no initramfs)"
fi
# mkcpio -0 keeps any byte but NUL in a field: spaces, a newline
src="$T/a source"$'\n'"file"; echo hello >"$src"
gcc -O2 -o "$T/mkcpio" "$TOP/images/guest/mkcpio.c"
printf '%s\0' dir "/a dir" 0755 file "/a dir/f g" "$src" 0644 | "$T/mkcpio" -0 >"$T/l.cpio"
check "mkcpio -0: names with spaces and a source path with a newline packed as given" \
	test "$(cpio -it --quiet <"$T/l.cpio" | tr '\n' '|')" = "a dir|a dir/f g|" -a \
	"$(cd "$T" && mkdir -p x && cd x && cpio -id --quiet <"$T/l.cpio" && cat "a dir/f g")" = hello
printf '%s\0' file /x "$src" | "$T/mkcpio" -0 >/dev/null 2>"$T/mkcpio.err"; rc=$?
check "mkcpio -0: a cut-off entry is refused with the reason (rc=$rc)" \
	test $rc = 1 -a -n "$(grep "entry 1: list ends inside an entry" "$T/mkcpio.err")"

# host mode (/init not PID 1): a command line over /init's 8 KiB buffer
gcc -O1 -g -std=gnu11 -fsanitize=address,undefined -o "$T/init-asan" "$TOP"/images/guest/{init,kt,prog}.c \
	"$TOP"/images/guest/tests/*.c
long=$(head -c 8200 /dev/zero | tr '\0' x)
"$T/init-asan" kfarm.tests=sysinfo "$long" kfarm.opt=y >"$T/host.out" 2>"$T/host.err"; rc=$?
check "host-mode /init, 8 KiB argument: no overflow (ASan quiet), rc=$rc" \
	test $rc = 0 -a -z "$(grep AddressSanitizer "$T/host.err")"
check "the arguments that did not fit are dropped whole, and said so; the first still applies" \
	test -n "$(grep -x "# kfarm-init: command line over 8191 bytes: argument 2 and the 1 after it ignored" "$T/host.out")" \
	-a -n "$(grep -x "ok 1 sysinfo" "$T/host.out")" -a -z "$(grep "opt y" "$T/host.out")"
"$T/init-asan" kfarm.tests=sysinfo kfarm.opt=y >"$T/host2.out" 2>&1
check "arguments that fit are all kept" grep -q "^# kfarm-init: opt y" "$T/host2.out"

# --- libvirt URIs that would skip the host-key check: refused up front ---
for u in "qemu+libssh://root@192.0.2.1/system?known_hosts_verify=ignore" \
	 "qemu+ssh://root@192.0.2.1/system?no_verify=1"; do
	standin --db "$T/uri.db" --backend libvirt --libvirt-uri "$u" --kernel "standin=$T/A" \
		>/dev/null 2>"$T/uri.err"; rc=$?
	check "refused with exit 2, the URI and the parameter named: $u (rc=$rc)" \
		test $rc = 2 -a -n "$(grep "would let libvirt accept host keys" "$T/uri.err" | grep -F "$u")"
done
check "nothing written for the refused URIs" test ! -e "$T/uri.db"
finish
