#!/usr/bin/env bash
# All data-plane e2e tests, in every attach mode: native XDP, generic XDP,
# TC through tcx links and TC as cls_bpf filters (kernels before 6.6).  Sums the per-script counts into one closing line.
set -u
BUILD=${1:-build}
dir=$(dirname "$0")
pass=0
fail=0
for mode in native generic tc tc-legacy; do
	for t in "$dir"/test-*.sh; do
		out=$(bash "$t" "$BUILD" "$mode" 2>&1)
		echo "$out"
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' <<<"$out" | tail -1)
		if [ -z "$line" ]; then
			fail=$((fail + 1))
			echo "FAIL - $t $mode: no summary"
			continue
		fi
		pass=$((pass + $(awk '{print $1}' <<<"$line")))
		fail=$((fail + $(awk '{print $3}' <<<"$line")))
	done
done
echo "e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
