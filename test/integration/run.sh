#!/bin/bash
# Runs the integration tests (all tNNNN-*.sh here, or those named) and
# prints one summary line: "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")"
passed=0 failed=0 skipped=0 failures=""
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(t[0-9][0-9][0-9][0-9]-*.sh)
for t in "${tests[@]}"; do
	t=$(basename "$t")
	echo "*** $t"
	bash "./$t"
	rc=$?
	case $rc in
	0) passed=$((passed + 1)) ;;
	77) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)); failures="$failures $t" ;;
	esac
done
[ -z "$failures" ] || echo "failed scripts:$failures"
echo "integration: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
