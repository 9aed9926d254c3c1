# Sourced by bench-xdp.sh and ab-hot.sh: the namespace BPF_PROG_TEST_RUN
# runs the programs in, with routes and permanent neighbours that make
# every FIB lookup succeed.  The phones sit behind one next hop so that 1M
# of them need no 1M neighbour entries; the lookup work per packet is the
# same.  xdp_bench_ns NS (lan0/wan0 from lan_wan_ns, tests/lib/netns.sh).
xdp_bench_ns() {
	lan_wan_ns "$1" || return 1
	ip -n "$1" addr add 198.18.2.1/24 dev lan0
	ip -n "$1" addr add 198.18.0.1/24 dev wan0
	ip -n "$1" neigh add 198.18.2.2 lladdr 02:00:00:00:00:02 dev lan0 nud permanent
	ip -n "$1" neigh add 198.18.0.2 lladdr 02:00:00:00:ff:02 dev wan0 nud permanent
	ip -n "$1" route add 100.64.0.0/10 via 198.18.2.2 dev lan0
	ip -n "$1" route add 198.51.100.0/24 via 198.18.0.2 dev wan0
}
