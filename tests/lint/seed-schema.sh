#!/bin/bash
# fuzz_db's seed (also t-serve-cache's database) must be at kfarm's current
# schema: kfarm serve refuses an older one, and fuzzing an old layout tests
# code paths kfarm no longer takes. MKSEED writes a fresh seed to compare.
set -eu
MKSEED=$1 SEED=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$MKSEED" "$tmp/fresh.sqlite" >/dev/null
want=$(sqlite3 "$tmp/fresh.sqlite" 'PRAGMA user_version')
have=$(sqlite3 "$SEED" 'PRAGMA user_version')
if [ "$have" != "$want" ]; then
	echo "lint: $SEED is at schema $have, kfarm's is $want: run make fuzz-seed" >&2
	exit 1
fi
