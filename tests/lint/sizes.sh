#!/bin/bash
# Size limits in runner/ (issue 11's newcomer test: a file read in one
# sitting, a function on one screen): no .c or .h over MAX_FILE lines, no
# function over MAX_FN. Kernel style makes functions easy to find: the body
# opens with "{" and closes with "}" in column 0 (initialisers end their
# line with "{" and are not counted).
# usage: sizes.sh [SRC_DIR]   (limits: MAX_FILE=600 MAX_FN=85 in the environment)
set -u
src=${1:-runner}
max_file=${MAX_FILE:-600}
max_fn=${MAX_FN:-85}
rc=0
for f in "$src"/*.[ch]; do
	n=$(wc -l <"$f")
	if [ "$n" -gt "$max_file" ]; then
		echo "sizes: $f: $n lines (limit $max_file)"
		rc=1
	fi
done
long=$(awk -v lim="$max_fn" '
	/^[a-zA-Z_].*\(/ { sig = $0 }
	/^\{/ { start = FNR; name = sig }
	/^\}/ && start { n = FNR - start + 1; if (n > lim) printf "%s:%d: %s: %d lines\n", FILENAME, start, name, n; start = 0 }
	' "$src"/*.c)
if [ -n "$long" ]; then
	echo "sizes: functions over $max_fn lines:"
	echo "$long"
	rc=1
fi
[ $rc = 0 ] && echo "sizes: $(ls "$src"/*.[ch] | wc -l) files <= $max_file lines, functions <= $max_fn lines"
exit $rc
