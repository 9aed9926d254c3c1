#!/usr/bin/env bash
# The demo: a gateway between two simulated phones and an internet host,
# all in network namespaces made here and removed at the end (even on
# Ctrl-C).  Attaches the data plane with the loader, leases two phones
# with `nappt phone add`, sends real traffic both ways and shows what the
# internet host saw and what the data plane counted.
set -u
BUILD=$(realpath "${1:-build}")
MODE=${MODE:-native}
cd "$(dirname "$0")/.." || exit 1
. tests/lib/netns.sh
. tests/e2e/topo.sh
need_root
T=$(mktemp -d)
trap 'ns_cleanup; rm -rf "$T"; echo "demo: namespaces removed"' EXIT
bpffs_setup
NAPPT_BIN=$BUILD/nappt
NAPPT="$NAPPT_BIN --pin-dir $BPFFS/nappt"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Topology: phones pa (100.64.0.10) and pb (100.64.0.11) -- gateway -- internet host 198.51.100.7"
topo_up "$MODE" || { echo "demo: setup failed"; exit 1; }
nsx gw $NAPPT status
say "Leases (what the provisioner will write): each phone owns a port range on 203.0.113.1"
nsx gw $NAPPT phone list

INET=$(ns_name inet)
PA=$(ns_name pa)
PB=$(ns_name pb)

say "Outbound: phone A sends SIP from port 2100, RTP from 2990, TCP from 2200; phone B from 3500"
cap_start inet gw0 "udp or tcp[tcpflags] & tcp-syn != 0" || exit 1
ip netns exec "$INET" timeout 5 socat -u TCP-LISTEN:8080,reuseaddr OPEN:/dev/null &
sleep 0.3
echo "REGISTER sip:demo SIP/2.0" | ip netns exec "$PA" socat -u - UDP:198.51.100.7:5060,sourceport=2100
echo "rtp" | ip netns exec "$PA" socat -u - UDP:198.51.100.7:16384,sourceport=2990
echo "hello" | ip netns exec "$PA" timeout 3 socat -u - TCP:198.51.100.7:8080,sourceport=2200
echo "REGISTER sip:demo SIP/2.0" | ip netns exec "$PB" socat -u - UDP:198.51.100.7:5060,sourceport=3500
say "...and phone A tries port 5000, outside its range 2048-3071 (must not leave)"
echo "spoof" | ip netns exec "$PA" socat -u - UDP:198.51.100.7:5060,sourceport=5000
say "What the internet host saw (tcpdump on its interface):"
cap_stop inet | sed 's/^/  /'
echo "  -> public source 203.0.113.1, every source port unchanged, nothing from port 5000"

say "Inbound: the internet host sends to (203.0.113.1, 2101) and (203.0.113.1, 3100)"
ip netns exec "$PA" timeout 3 socat -u UDP-RECVFROM:2101 SYSTEM:'echo "  phone A got \"$(cat)\" from $SOCAT_PEERADDR:$SOCAT_PEERPORT on 100.64.0.10:2101"' &
ip netns exec "$PB" timeout 3 socat -u UDP-RECVFROM:3100 SYSTEM:'echo "  phone B got \"$(cat)\" from $SOCAT_PEERADDR:$SOCAT_PEERPORT on 100.64.0.11:3100"' &
sleep 0.3
echo "INVITE A" | ip netns exec "$INET" socat -u - UDP:203.0.113.1:2101,bind=198.51.100.7
echo "INVITE B" | ip netns exec "$INET" socat -u - UDP:203.0.113.1:3100,bind=198.51.100.7
sleep 0.5
say "Ping from phone A (echo identifier 2500, inside its range)"
ip netns exec "$PA" ping -n -c 2 -i 0.2 -e 2500 198.51.100.7 | sed 's/^/  /'

say "Data-plane counters (nappt stats, non-zero)"
nsx gw $NAPPT stats | awk '$2 > 0' | sed 's/^/  /'
say "bpftool view of phone A's lease"
nsx gw bpftool map lookup pinned "$BPFFS/nappt/phones" key 10 0 0 0 | sed 's/^/  /'
say "Detaching"
nsx gw $NAPPT detach
