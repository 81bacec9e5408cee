#!/bin/bash
# No dependency circle between runner/'s modules. Two graphs, each sorted
# with tsort (which names the loop when there is one):
# - includes: a module is a file stem (X.c + X.h, and X_int.h, X's private
#   header); X -> Y when X.c or X.h includes "Y.h";
# - links (given the directory of the built objects): X -> Y when X.o uses a
#   symbol Y.o defines; files that include X_int.h are module X. This sees
#   what includes hide: a header declaring a function another module
#   defines (hosts.h once declared the libvirt backend's probe).
# A function pointer in a table (struct backend) is no edge: that is the
# way for a lower module to call a higher one.
# usage: include-cycles.sh [SRC_DIR [OBJ_DIR]]   (default: runner)
set -u
src=${1:-runner}
obj=${2:-}
rc=0

stem() { local b=${1##*/}; b=${b%.*}; echo "${b%_int}"; }

# the module of a .c file for the link graph
link_module() {
	local f=$1 p
	p=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([A-Za-z0-9_]*\)_int\.h".*/\1/p' "$f" | head -n 1)
	[ -n "$p" ] && echo "$p" || stem "$f"
}

check() {	# check NAME: edges "A B" on stdin
	local name=$1 edges out
	edges=$(sort -u)
	if out=$(printf '%s\n' "$edges" | tsort 2>&1 >/dev/null) && [ -z "$out" ]; then
		echo "$name graph: $(printf '%s\n' "$edges" | tr ' ' '\n' | sort -u | wc -l) modules," \
			"$(printf '%s\n' "$edges" | awk '$1 != $2' | grep -c .) edges, no circle"
	else
		echo "$name graph: circle:"
		printf '%s\n' "$out" | sed -n 's/^tsort: \(-: \)\{0,1\}//p' | sed 's/^/  /'
		rc=1
	fi
}

include_edges() {
	for f in "$src"/*.[ch]; do
		m=$(stem "$f")
		echo "$m $m"	# every module, also one without edges
		sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([A-Za-z0-9_]*\)\.h".*/\1/p' "$f" |
			while read -r h; do
				d=$(stem "$h")
				[ "$d" != "$m" ] && [ -e "$src/$h.h" ] && echo "$m $d"
			done
	done
}
check include < <(include_edges)

if [ -n "$obj" ]; then
	defs=$(mktemp) uses=$(mktemp)
	trap 'rm -f "$defs" "$uses"' EXIT
	for f in "$src"/*.c; do
		o=$obj/$(basename "${f%.c}").o
		[ -e "$o" ] || { echo "include-cycles: no $o (build first)"; exit 1; }
		m=$(link_module "$f")
		nm -P --defined-only "$o" | awk -v m="$m" '$2 ~ /^[TDBRVW]$/ { print $1, m }' >>"$defs"
		nm -P -u "$o" | awk -v m="$m" '{ print $1, m }' >>"$uses"
	done
	# edge user -> definer, for each symbol used in one module, defined in another
	check link < <(awk 'NR == FNR { def[$1] = $2; next }
		($1 in def) { print $2, def[$1]; print $2, $2 }' "$defs" "$uses")
fi
exit $rc
