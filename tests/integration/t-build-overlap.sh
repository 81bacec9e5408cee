#!/bin/bash
# Builds overlap boots, with real QEMU: kfarm run --source over x86_64 and
# riscv64, whose build step is a STAND-IN for images/kernel.sh
# (KFARM_KERNEL_SH: it takes 2 s for x86_64 and 40 s for riscv64 and hands
# back make images' real default kernel of that arch). x86_64's VM must boot
# while riscv64 still "builds": its job's start (the database's) is well
# before riscv64's build end, and both arches' results are in. Live progress
# without a terminal: plain lines for each phase. (The real build under
# kfarm, and its interruption: t-build-interrupt.sh; the overlap ratio of
# real builds: tests/bench/build-overlap.sh.)
. "$(dirname "$0")/lib.sh"
echo "t-build-overlap: an arch boots while another builds (stand-in build step, real VMs)"

X=$(default_image x86_64 6.1) R=$(default_image riscv64 6.1)
[ -n "$X" ] && [ -n "$R" ] || { bad "default 6.1 kernels of x86_64 and riscv64 (make images)"; finish; exit 1; }
IRC=$T/ir
for a in x86_64 riscv64; do
	if [ -f "$KFARM_CACHE/initramfs/$a.json" ]; then
		eval "I_$a=\$(default_initrd $a)"
	else
		make -s -C "$TOP" initramfs ARCH=$a KFARM_CACHE="$IRC" >"$T/ir.log" 2>&1 ||
			{ bad "initramfs $a"; cat "$T/ir.log"; finish; exit 1; }
		eval "I_$a=\$(jq -r .path \"$IRC/initramfs/$a.json\")"
	fi
done
mkdir -p "$T/src"
printf 'VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION =\n' >"$T/src/Makefile"
: >"$T/src/Kconfig"
cat >"$T/kernel.sh" <<S
#!/bin/bash
# STAND-IN for images/kernel.sh --src (t-build-overlap): builds nothing
while [ \$# -gt 1 ]; do case \$1 in --result) res=\$2; shift;; --src|--id|--bdir|--config) shift;; esac; shift; done
arch=\$1
echo 'kernel: phase configure' >&2
sleep 1
echo "kernel: phase compile steps 0 log $T/\$arch.log" >&2
case \$arch in x86_64) sleep 1; img=$X;; riscv64) sleep 40; img=$R;; esac
printf '{"status":"built","image":"%s","release":"6.1","key":"standin-%s","compiler":"stand-in","warnings":0}' "\$img" "\$arch" >"\$res"
S
DB=$T/o.db
KFARM_KERNEL_SH=$T/kernel.sh nice -n 10 "$KFARM" run --db "$DB" --source "$T/src" --arch x86_64,riscv64 \
	--label ov1 --initramfs "x86_64=$I_x86_64" --initramfs "riscv64=$I_riscv64" --append "$TOKEN" \
	--jobs 2 --confirm 0 --json >"$T/o.json" 2>"$T/o.err"
check "kfarm run --source: exit 0 (both built and booted)" test $? -eq 0
jcheck "both arches COMPLETE" '[.jobs[] | select(.outcome == "COMPLETE")] | length == 2' "$T/o.json"
boot=$(sql "$DB" "SELECT started FROM jobs WHERE arch = 'x86_64'")
done_x=$(sql "$DB" "SELECT finished FROM jobs WHERE arch = 'x86_64'")
built_r=$(sql "$DB" "SELECT finished FROM builds WHERE arch = 'riscv64'")
echo "    x86_64 boot $boot..$done_x, riscv64 build end $built_r"
check "x86_64's VM started while riscv64 was still building" \
	awk -v b="$boot" -v r="$built_r" 'BEGIN { exit !(b > 0 && b < r - 20) }'
check "progress lines: each arch's phases, the boot between them" \
	grep -Pzq '(?s)x86_64 ov1: configure.*x86_64 ov1: build PASS.*x86_64 ov1: booting.*x86_64 ov1: COMPLETE.*riscv64 ov1: build PASS.*riscv64 ov1: booting' "$T/o.err"
check "no VM left" no_qemu_left
[ "$FAILS" = 0 ] || tail -30 "$T/o.err"
finish
