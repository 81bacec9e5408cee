#!/bin/bash
# images/kernel.sh's unpacked trees, in seconds: a STAND-IN kernel tarball
# (a Makefile with kbuild's targets that "builds" bzImage from its *.c;
# never used outside this test) through the real kernel.sh from a shadow
# root (as images/control.sh makes one) whose images/patches/9.1 changes:
#   - the tree is src/linux-9.1 (no series key in its name: a control
#     cache's tree then has the default's relative path, for ccache), its
#     series in .kfarm-pkey;
#   - its O= tree is inside it (.kfarm-o-ARCH-VER);
#   - another series replaces it and its O= tree (a replaced tree's files
#     keep the tarball's mtimes: a kept O= tree would link stale objects);
#   - a replacement waits while a build holds the tree (lock shared);
#   - an older cache's src/linux-9.1-PKEY is used as it is.
. "$(dirname "$0")/lib.sh"
echo "t-src-tree: kernel.sh's source trees (stand-in tarball)"
export KFARM_CACHE=$T/cache KFARM_LINUX_SOURCES=$T/sources
mkdir -p "$T/sources" "$T/pkg/linux-source-9.1" "$T/root/images/patches/9.1"
P=$T/pkg/linux-source-9.1
standin_tree "$P" 9 1
echo "base" >"$P/a.c"
tar -cJf "$T/sources/linux-source-9.1.tar.xz" -C "$T/pkg" linux-source-9.1
ln -s "$TOP/images/kernel.sh" "$T/root/images/kernel.sh"
ln -s "$TOP/arches" "$T/root/arches"
series() { # N: the series is one patch making a.c say "seriesN"
	rm -f "$T/root/images/patches/9.1/"*
	cat >"$T/root/images/patches/9.1/0001-series.patch" <<EOF
--- a/a.c
+++ b/a.c
@@ -1 +1 @@
-base
+series$1
EOF
}
build() { "$T/root/images/kernel.sh" x86_64:9.1 >"$T/build.log" 2>&1; }
image() { jq -r '.image // empty' "$KFARM_CACHE/defaults/x86_64-9.1.json" 2>/dev/null; }
S=$KFARM_CACHE/src

series 1
build
check "series 1: built (exit 0)" test $? = 0
check "series 1: the tree is src/linux-9.1" test -d "$S/linux-9.1"
check "series 1: no tree named by its key" test -z "$(ls -d "$S"/linux-9.1-* 2>/dev/null)"
K1=$(cat "$S/linux-9.1/.kfarm-pkey" 2>/dev/null)
check "series 1: .kfarm-pkey names the series" test -n "$K1"
check "series 1: the image is series 1's" grep -qx series1 "$(image)"
O1=$S/linux-9.1/.kfarm-o-x86_64-9.1
check "series 1: its O= tree is a subdirectory of the tree (kbuild's paths relative)" test -d "$O1"
check "series 1: lock and log beside it in build/" test -f "$KFARM_CACHE/build/x86_64-9.1.lock" -a -f "$KFARM_CACHE/build/x86_64-9.1.log"
: >"$O1/stale.o"

series 2
build
check "series 2: built (exit 0)" test $? = 0
K2=$(cat "$S/linux-9.1/.kfarm-pkey" 2>/dev/null)
check "series 2: the tree was replaced (another .kfarm-pkey)" test -n "$K2" -a "$K2" != "$K1"
check "series 2: the image is series 2's" grep -qx series2 "$(image)"
check "series 2: the O= tree started afresh (series 1's objects gone)" \
	test -d "$O1" -a ! -e "$O1/stale.o"
check "series 2: no temporary tree left" test -z "$(ls -d "$S"/.tmp-* 2>/dev/null)"

# a build holding the tree: series 3 waits for it
# (a process of its own: a descriptor the build inherited would keep it)
flock -s "$S/.lock-linux-9.1" sh -c "while [ ! -e '$T/release' ]; do sleep 0.1; done" &
H=$!
sleep 0.5
series 3
build &
B=$!
sleep 2
check "series 3 while a build holds the tree: not replaced yet" \
	test "$(cat "$S/linux-9.1/.kfarm-pkey")" = "$K2"
: >"$T/release"
wait $H
wait $B
check "series 3 once the build let go: built (exit $?)" grep -qx series3 "$(image)"
# an O= tree where an older kernel.sh kept it (build/ARCH-VER/) goes once
# the kernel is found cached: nothing reads it any more
mkdir -p "$KFARM_CACHE/build/x86_64-9.1/init" && : >"$KFARM_CACHE/build/x86_64-9.1/init/main.o"
build
check "cached: exit $?, the old O= tree beside the source removed" test ! -e "$KFARM_CACHE/build/x86_64-9.1"
check "cached: its lock and log stay" test -f "$KFARM_CACHE/build/x86_64-9.1.lock" -a -f "$KFARM_CACHE/build/x86_64-9.1.log"

# an older cache's tree, named by its key, is used as it is
K3=$(cat "$S/linux-9.1/.kfarm-pkey")
mv "$S/linux-9.1" "$S/linux-9.1-$K3"
rm -rf "$KFARM_CACHE/kernels" "$KFARM_CACHE/defaults"
build
check "older layout: built (exit $?)" grep -qx series3 "$(image)"
check "older layout: no new tree unpacked" test ! -e "$S/linux-9.1"
grep -q unpacking "$T/build.log" && bad "older layout: kernel.sh said it unpacked" ||
	ok "older layout: kernel.sh did not unpack"

# --config defconfig: the profile's defconfig target is in the key (another
# target, another kernel); kfarm's own recipe does not read it, nor its key
D=$T/dtree
standin_tree "$D" 9 1
printf 'x86_64_defconfig i386_defconfig:\n\tcp $(O)/kfarm.fragment $(O)/.config\n' >>"$D/Makefile"
mkdir -p "$T/root2/images"
ln -s "$TOP/images/kernel.sh" "$T/root2/images/kernel.sh"
cp -r "$TOP/arches" "$T/root2/arches"
jq '.defconfig = "i386_defconfig"' "$TOP/arches/x86_64.json" >"$T/root2/arches/x86_64.json"
dkey() { # ROOT CONFIG: the key kernel.sh --config-only reports
	rm -f "$T/dk.json"
	"$1/images/kernel.sh" --config-only --src "$D" --id dir:standin --bdir dk \
		--result "$T/dk.json" --config "$2" x86_64 >>"$T/dk.log" 2>&1 && jq -r .key "$T/dk.json"
}
k1=$(dkey "$T/root" defconfig) k2=$(dkey "$T/root2" defconfig)
k3=$(dkey "$T/root" kfarm) k4=$(dkey "$T/root2" kfarm)
check "--config defconfig: x86_64_defconfig and i386_defconfig are two keys ($k1, $k2)" \
	test -n "$k1" -a -n "$k2" -a "$k1" != "$k2"
check "kfarm's recipe: the profile's defconfig target leaves its key alone ($k3)" \
	test -n "$k3" -a "$k3" = "$k4" -a "$k3" != "$k1"
finish
