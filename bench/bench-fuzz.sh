#!/usr/bin/env bash
# make bench-fuzz: every libFuzzer target of the tree, for long (the
# tests run each for 15-20 s).  Targets: the DHCP parser, the config
# parser, the whole DHCP server core (replies must parse, mappings never
# overlap), the TFTP request parser.  Not a test: a crash is reported in
# the RESULT line (and its reproducer kept under build/), never a failure
# of make.  Knob: SECONDS_EACH (default 120).
set -u
BUILD=${1:-build}
SECS=${SECONDS_EACH:-120}
MAKE=${MAKE:-make}
total_runs=0
crashes=0
n=0
for t in fuzz-prov-msg:fuzz_dhcp_msg fuzz-prov-conf:fuzz_conf fuzz-prov-server:fuzz_server; do
	target=${t%%:*}
	log=$BUILD/${t#*:}.log
	n=$((n + 1))
	$MAKE -s --no-print-directory "$target" PROV_FUZZ_SECONDS="$SECS" >/dev/null 2>&1 || crashes=$((crashes + 1))
	runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
	echo "  $target: ${runs:-0} runs in ${SECS} s$(grep -q 'ERROR: libFuzzer\|SUMMARY: .*Sanitizer' "$log" && echo ', CRASH (see '"$log"')')"
	total_runs=$((total_runs + ${runs:-0}))
done
n=$((n + 1))
out=$($MAKE -s --no-print-directory fuzz-tftpd FUZZ_SECONDS="$SECS" 2>&1) || crashes=$((crashes + 1))
runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)/\1/p' <<<"$out" | tail -1)
echo "  fuzz-tftpd: ${runs:-0} runs in ${SECS} s"
total_runs=$((total_runs + ${runs:-0}))
echo "RESULT fuzz targets=$n seconds_each=$SECS runs=$total_runs crashes=$crashes"
