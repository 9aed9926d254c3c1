#!/usr/bin/env bash
# Install the Debian packages that the build, tests, demo and benchmarks need.
# Idempotent: a package already installed is skipped, so a second run costs a
# dpkg query and nothing else.  Groups are installed separately because some
# server packages conflict or pull in init scripts (see NOTES-netns-bench.md).
set -euo pipefail

BUILD="clang llvm libclang-rt-dev libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make gcc libcmocka-dev libsqlite3-dev sqlite3 clang-format"
NET="iproute2 iputils-ping socat netcat-openbsd tcpdump nftables ethtool netsniff-ng"
TOOLS="python3 systemd curl"
DHCP="udhcpc isc-dhcp-client kea-dhcp4-server kea-admin"
TFTP="tftp-hpa atftp atftpd"
# tftpd-hpa conflicts with atftpd: the benchmarks unpack its in.tftpd with
# apt-get download (bench/bench-tftp.sh) instead of installing it.
# Real peers and engines for the operator-level tests: SIP calls through the
# gateway (sipp), a real systemd as PID 1 (nspawn), the shared lease authority
# and failover (PostgreSQL, keepalived, Kea's PostgreSQL backend).
SITE="sip-tester systemd-container"
HA="postgresql postgresql-client libpq-dev keepalived kea-admin"

missing() {
	local p out=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || out+=("$p")
	done
	echo "${out[@]:-}"
}

all=""
for group in BUILD NET TOOLS DHCP TFTP SITE HA; do all="$all ${!group}"; done
# shellcheck disable=SC2086
if [ -z "$(missing $all)" ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: $(missing $all)" >&2
	echo "deps: run as root to install them (sudo make deps)" >&2
	exit 1
fi

# Servers from the tool groups must not start on port 67/69 when installed.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
fi

updated=0
for group in BUILD NET TOOLS DHCP TFTP SITE HA; do
	# shellcheck disable=SC2086
	need=$(missing ${!group})
	[ -n "$need" ] || continue
	if [ $updated -eq 0 ]; then
		apt-get update -qq
		updated=1
	fi
	echo "deps: installing $group: $need"
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
done
echo "deps: all packages present"
