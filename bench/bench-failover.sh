#!/usr/bin/env bash
# make bench-failover: gateway A dies under FO_PHONES phones streaming
# FO_PPS numbered UDP datagrams per second each; keepalived (VRRPv3,
# advert_int FO_ADVERT) moves the addresses to B, which loads A's leases
# from the store into its maps.  The run is tests/failover/test-failover.sh
# (every check included), ROUNDS times; the last line is
#   RESULT failover phones= gap_ms= lost_packets= phones_kept= ...
# with the worst round's gap and loss (and each round's figures above it).
# Then one round with BULK (default 2000) more leases in A's part, taken
# before the streaming phones' so that B's takeover maps theirs last: how
# the gap grows with the leases B must load (takeover_ms).
# Not a test: never fails on a number.
set -u
BUILD=$(realpath "${1:-build}")
SRC=$(realpath "$(dirname "$0")/..")
ROUNDS=${ROUNDS:-3}
BULK=${BULK:-2000}
worst=""
gaps=()
for r in $(seq "$ROUNDS"); do
	out=$(bash "$SRC/tests/failover/test-failover.sh" "$BUILD" --bench 2>&1)
	res=$(grep '^RESULT failover' <<<"$out")
	grep -E '^(ok|FAIL|     (phone|B became))' <<<"$out" | sed "s/^/round $r: /"
	[ -n "$res" ] || { echo "round $r: no result"; tail -20 <<<"$out"; continue; }
	echo "round $r: $res"
	g=$(sed -n 's/.*gap_ms=\([0-9.]*\).*/\1/p' <<<"$res")
	gaps+=("$g")
	if [ -z "$worst" ] || awk -v a="$g" -v b="$(sed -n 's/.*gap_ms=\([0-9.]*\).*/\1/p' <<<"$worst")" \
		'BEGIN { exit !(a > b) }'; then
		worst=$res
	fi
done
[ -n "$worst" ] || { echo "RESULT failover phones=0 gap_ms= lost_packets= phones_kept=0"; exit 1; }
if [ "$BULK" -gt 0 ]; then
	out=$(FO_BULK=$BULK FO_SLOT_SIZE=128 bash "$SRC/tests/failover/test-failover.sh" "$BUILD" --bench 2>&1)
	grep -E '^(FAIL|     B)' <<<"$out" | sed "s/^/bulk round: /"
	echo "bulk round: $(grep '^RESULT failover' <<<"$out" || echo 'no result')"
fi
median=$(printf '%s\n' "${gaps[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "gaps (ms) per round: ${gaps[*]}; median $median; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$worst rounds=${#gaps[@]} gap_ms_median=$median"
