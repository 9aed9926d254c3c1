# shellcheck shell=bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Namespace and bookkeeping helpers for the tftpd tests and bench.
#
# Namespaces are called tft-<PID>-<name>, so concurrent runs never collide;
# tft_cleanup (installed with trap EXIT before anything is created) kills
# every process started through tft_bg and deletes every namespace.
# Addresses: 198.18.69.0/24 only, no default route.

TFT_NS=()
TFT_PIDS=()
TFT_TMP=""

tft_ns() { echo "tft-$$-$1"; }

tft_ns_add() {
	local ns
	ns=$(tft_ns "$1")
	ip netns add "$ns" || return 1
	TFT_NS+=("$ns")
	ip -n "$ns" link set lo up
}

# tft_link SRV_NS CLI_NS: veth between them, server .1, client .2
tft_link() {
	local s c
	s=$(tft_ns "$1")
	c=$(tft_ns "$2")
	ip link add tfs0 netns "$s" type veth peer name tfc0 netns "$c" || return 1
	ip -n "$s" addr add 198.18.69.1/24 dev tfs0
	ip -n "$c" addr add 198.18.69.2/24 dev tfc0
	ip -n "$s" link set tfs0 up
	ip -n "$c" link set tfc0 up
}

# tft_x NS CMD...: run CMD in namespace NS (short name)
tft_x() {
	local ns
	ns=$(tft_ns "$1")
	shift
	ip netns exec "$ns" "$@"
}

tft_track() { TFT_PIDS+=("$1"); }

tft_cleanup() {
	local p ns
	for p in "${TFT_PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	sleep 0.2
	for p in "${TFT_PIDS[@]:-}"; do
		[ -n "$p" ] && kill -9 "$p" 2>/dev/null
	done
	for ns in "${TFT_NS[@]:-}"; do
		[ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
	done
	TFT_NS=()
	TFT_PIDS=()
	if [ -n "$TFT_TMP" ]; then
		rm -rf "$TFT_TMP"
	fi
}

# check NAME CMD...: run CMD, count it, show its output on failure
T_PASS=0
T_FAIL=0
check() {
	local name=$1 out
	shift
	out=$("$@" 2>&1)
	if [ $? -eq 0 ]; then
		T_PASS=$((T_PASS + 1))
		echo "ok   - $name"
	else
		T_FAIL=$((T_FAIL + 1))
		echo "FAIL - $name"
		printf '%s\n' "$out" | tail -n 15 | sed 's/^/       /'
	fi
}

summary() { echo "$T_PASS passed, $T_FAIL failed"; }
