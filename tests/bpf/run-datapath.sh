#!/usr/bin/env bash
# Runs the table-driven BPF_PROG_TEST_RUN tests inside a namespace with
# known interfaces, routes and neighbours, so the programs' FIB lookups
# give fixed answers the table can expect.
set -u
BUILD=${1:-build}
. "$(dirname "$0")/../lib/netns.sh"
need_root
trap ns_cleanup EXIT

# The phones' private addresses are derived from their leases (public
# address, first slot): the test says which they are.
read -r PHONE_A PHONE_B PHONE_C < <("$BUILD/test_datapath" --addrs) &&
	[ -n "$PHONE_C" ] || { echo "run-datapath: no phone addresses" >&2; exit 1; }

ns_add dp >/dev/null
NS=$(ns_name dp)
lan_wan_ns "$NS" || exit 1
ip -n "$NS" addr add 100.64.0.1/16 dev lan0
ip -n "$NS" addr add 198.18.0.1/24 dev wan0
ip -n "$NS" neigh add "$PHONE_A" lladdr 02:00:00:00:00:0a dev lan0 nud permanent
ip -n "$NS" neigh add "$PHONE_B" lladdr 02:00:00:00:00:0b dev lan0 nud permanent
ip -n "$NS" neigh add 198.18.0.2 lladdr 02:00:00:00:ff:02 dev wan0 nud permanent
ip -n "$NS" route add 198.51.100.0/24 via 198.18.0.2
# A locked route MTU is what both the forwarding path and the FIB helper
# honour without ip_forward_use_pmtu.
ip -n "$NS" route add 198.51.100.192/26 via 198.18.0.2 mtu lock 1000
# A phone address the LAN cannot reach, and a LAN MTU lowered after the
# programs' config was written (1500): the programs must ask, not assume.
ip -n "$NS" route add unreachable "$PHONE_C/32"
ip -n "$NS" link set lan0 mtu 1400

ip netns exec "$NS" "$BUILD/test_datapath"
