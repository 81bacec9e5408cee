#!/bin/bash
# Runs every tests/integration/t-*.sh (or those named) and summarises.
cd "$(dirname "$0")/integration" || exit 1
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(t-*.sh)
failed=()
for t in "${tests[@]}"; do
	start=$(date +%s)
	if bash "$t"; then r=PASS; else r=FAIL; failed+=("$t"); fi
	echo "== $r $t ($(( $(date +%s) - start ))s)"
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "integration: ${#failed[@]} failed: ${failed[*]}"
	exit 1
fi
echo "integration: all ${#tests[@]} passed"
