#!/usr/bin/env bash
# Runs every test runner named on the command line (make targets), even
# when one fails, and ends with one summary line for the lot.  Each runner
# prints its own closing line (cmocka's, or "N passed, N failed").
set -u
MAKE=${MAKE:-make}
pass=0
fail=0
failed=()
for r in "$@"; do
	echo
	echo "=== $r ==="
	start=$(date +%s)
	if $MAKE -s --no-print-directory "$r"; then
		pass=$((pass + 1))
		echo "=== $r: ok ($(($(date +%s) - start)) s) ==="
	else
		fail=$((fail + 1))
		failed+=("$r")
		echo "=== $r: FAILED ($(($(date +%s) - start)) s) ==="
	fi
done
echo
for f in "${failed[@]:-}"; do [ -n "$f" ] && echo "failed runner: $f"; done
echo "runners: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
