#!/bin/bash
# tests/integration/source-fixture.sh DIR: a git repository at DIR made from
# Debian's 6.1 source + images/patches/6.1, one commit (tag "base"). Made once
# (under a temporary name, renamed when complete) and reused: t-source.sh adds
# its own commits on a branch of its own each run.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
dst=$1
[ -d "$dst/.git" ] && git -C "$dst" rev-parse -q --verify base >/dev/null && exit 0
tmp=$dst.tmp.$$
rm -rf "$dst".tmp.*
mkdir -p "$tmp"
tar -xf /usr/src/linux-source-6.1.tar.xz -C "$tmp" --strip-components=1
for p in "$TOP"/images/patches/6.1/*.patch; do patch -d "$tmp" -p1 --batch --forward -s <"$p"; done
export GIT_AUTHOR_NAME=kfarm GIT_AUTHOR_EMAIL=kfarm@localhost GIT_COMMITTER_NAME=kfarm \
	GIT_COMMITTER_EMAIL=kfarm@localhost GIT_AUTHOR_DATE=2026-01-01T00:00:00Z \
	GIT_COMMITTER_DATE=2026-01-01T00:00:00Z
git -C "$tmp" init -q -b main
git -C "$tmp" add -A -f   # Debian's .gitignore ignores the top level
git -C "$tmp" commit -q -m "linux 6.1.192 (Debian) + kfarm's fix-ups"
git -C "$tmp" tag base
rm -rf "$dst"
mv -T "$tmp" "$dst"
