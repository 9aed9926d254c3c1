# shellcheck shell=bash
# Namespace helpers for the tests, demo and benchmarks.
#
# Every namespace made through ns_add is deleted by ns_cleanup, which the
# caller installs with `trap ns_cleanup EXIT` before creating anything, so
# nothing is left behind even when a test fails half-way.  Names carry the
# caller's PID so concurrent runs never collide.
#
# Addresses used by the project's tests (see DEVELOPERS.md): phones'
# LAN 100.64.0.0/10, public pool 203.0.113.0/24, far hosts and transit
# 198.51.100.0/24 and 198.18.0.0/15.  No default route is ever added.

NS_LIST=()
NS_PIDS=()

ns_name() { echo "np$$-$1"; }

ns_add() {
	local ns
	ns=$(ns_name "$1")
	ip netns add "$ns" || return 1
	NS_LIST+=("$ns")
	ip -n "$ns" link set lo up
	echo "$ns"
}

# Remember a background process to kill at cleanup.
ns_track() { NS_PIDS+=("$1"); }

# A bpffs the whole test shares.  `ip netns exec` mounts a fresh /sys for
# every command, and a bpffs mounted there dies with that command, taking
# its pins (and so the attachments) with it; a bpffs on a path outside
# /sys survives between commands.  Sets BPFFS; pass --pin-dir "$BPFFS/nappt".
BPFFS=""
bpffs_setup() {
	BPFFS=/run/nappt-test.$$
	mkdir -p "$BPFFS" && mount -t bpf bpf "$BPFFS"
}

ns_cleanup() {
	local p ns
	for p in "${NS_PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	# What did not leave on TERM (a server stuck in a transfer) is
	# killed: the namespaces must go.
	if [ -n "${NS_PIDS[*]:-}" ]; then
		sleep 0.2
		for p in "${NS_PIDS[@]}"; do
			[ -n "$p" ] && kill -9 "$p" 2>/dev/null
		done
	fi
	for ns in "${NS_LIST[@]:-}"; do
		[ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
	done
	NS_LIST=()
	NS_PIDS=()
	if [ -n "$BPFFS" ]; then
		umount "$BPFFS" 2>/dev/null
		rmdir "$BPFFS" 2>/dev/null
		BPFFS=""
	fi
}

# ns_exec NS CMD...: run in namespace NS (short name).
ns_exec() {
	local ns
	ns=$(ns_name "$1")
	shift
	ip netns exec "$ns" "$@"
}

# nsx NS CMD...: run in namespace NS (short name) with bpffs mounted, as
# `ip netns exec` gives the command a fresh /sys.
nsx() {
	local ns
	ns=$(ns_name "$1")
	shift
	ip netns exec "$ns" sh -c 'mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf; exec "$@"' sh "$@"
}

# veth A:IF_A B:IF_B: a veth pair between namespaces A and B.
veth() {
	local a=${1%%:*} ia=${1#*:} b=${2%%:*} ib=${2#*:}
	ip link add "$ia" netns "$(ns_name "$a")" type veth peer name "$ib" netns "$(ns_name "$b")" || return 1
	ip -n "$(ns_name "$a")" link set "$ia" up
	ip -n "$(ns_name "$b")" link set "$ib" up
}

# lan_wan_ns NS: lan0/wan0 veths with the fixed MACs the BPF unit tests
# and bench-xdp expect (02:00:00:00:01:01 and 02:00:00:00:02:01), up, and
# forwarding on (the FIB helper refuses to route otherwise).  Addresses,
# routes and neighbours are the caller's.
lan_wan_ns() {
	local ns=$1 i
	ip -n "$ns" link add lan0 address 02:00:00:00:01:01 type veth peer name lanp &&
		ip -n "$ns" link add wan0 address 02:00:00:00:02:01 type veth peer name wanp || return 1
	for i in lan0 lanp wan0 wanp; do ip -n "$ns" link set "$i" up; done
	ip netns exec "$ns" sysctl -qw net.ipv4.conf.lan0.forwarding=1 net.ipv4.conf.wan0.forwarding=1
}

# Test bookkeeping for shell runners: check NAME CMD... runs CMD and
# counts it; summary prints the closing line the CI reads.
T_PASS=0
T_FAIL=0
T_FAILED=()
check() {
	local name=$1
	shift
	if "$@" >/tmp/np-check.$$ 2>&1; then
		T_PASS=$((T_PASS + 1))
		echo "ok   - $name"
		# CHECK_VERBOSE=1: what passing checks printed, too.
		[ -n "${CHECK_VERBOSE:-}" ] && sed 's/^/       /' /tmp/np-check.$$ | tail -20
	else
		T_FAIL=$((T_FAIL + 1))
		T_FAILED+=("$name")
		echo "FAIL - $name"
		sed 's/^/       /' /tmp/np-check.$$ | tail -20
	fi
	rm -f /tmp/np-check.$$
}
check_summary() {
	local f
	for f in "${T_FAILED[@]:-}"; do [ -n "$f" ] && echo "failed: $f"; done
	echo "$T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
}

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "$0: needs root (network namespaces, BPF)" >&2
		exit 1
	fi
}
