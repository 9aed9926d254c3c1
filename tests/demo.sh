#!/usr/bin/env bash
# The demo: the whole gateway in network namespaces made here and removed
# at the end (even on Ctrl-C).  Simulated phones boot: DHCP validates them
# (MAC, then vendor class) and leases each a private address and a port
# range on a shared public address; they fetch their config over TFTP;
# their traffic crosses the XDP data plane translated both ways.
set -u
BUILD=$(realpath "${1:-build}")
SRC=$(realpath "$(dirname "$0")/..")
. "$SRC/tests/lib/netns.sh"
need_root
T=$(mktemp -d)
trap 'ns_cleanup; rm -rf "$T"; echo "demo: namespaces and processes removed"' EXIT
trap 'exit 130' INT TERM
bpffs_setup
. "$SRC/tests/lib/gateway.sh"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Gateway: lan0 100.64.0.1 (phones) -- XDP NAPPT -- wan0 198.18.0.1; public pool 203.0.113.0/28"
gateway_up || { echo "demo: setup failed"; exit 1; }
nsx gw $N status | sed 's/^/  /'

say "Services: nappt-tftpd on 100.64.0.1:69 (per-phone files gated), nappt-provisioner (DHCP)"
# Shared software images in the TFTP root; the provisioner's per-phone
# files in their own directory ($T/tftp here, /run/nappt/phones on a real
# box), served first (--phones).
mkdir -p "$T/images"
head -c 200000 /dev/urandom >"$T/images/P0030801SR02.loads" # a firmware image
# Not through in_ns: $! must be the server itself for the cleanup to kill it.
ip netns exec "$(ns_name gw)" "$BUILD/nappt-tftpd" -q -l 100.64.0.1:69 --phones "$T/tftp" --gate "$T/images" 2>"$T/tftpd.log" &
ns_track $!
start_prov || exit 1
sed 's/^/  /' "$T/prov.log"

say "Phone A boots: Cisco 7940, MAC 00:1b:54:aa:bb:0c, vendor class with its trailing NUL"
dhcp pa a -V "" -x "0x3c:$CISCO_HEX" && sed 's/^/  /' "$T/a.env"
echo "  (opt159 = RFC 7618 offset/PSID-len/PSID of its port range; opt150 = TFTP server)"
say "Phone B boots: Polycom, MAC 00:04:f2:01:02:03, vendor class Polycom-SPIP650"
dhcp pb b -V "Polycom-SPIP650" && sed 's/^/  /' "$T/b.env"
say "Phone E boots: Yealink, MAC 80:5e:c0:11:22:33, vendor class yealink SIP-T46S"
dhcp pe e -V "yealink SIP-T46S 66.86.0.15" && sed 's/^/  /' "$T/e.env"
say "Phone C (MAC not allowed) and phone D (allowed OUI, vendor class 'MSFT 5.0') get nothing"
dhcp pc c -V "Polycom-SPIP650" || echo "  phone C: no lease"
dhcp pd d -V "MSFT 5.0" || echo "  phone D: no lease"
grep reject "$T/prov.log" | sed 's/^/  /'

say "The data plane's mappings, written by the provisioner after each lease was on disk"
nsx gw $N phone list | tee "$T/list" | sed 's/^/  /'

say "Phone A fetches its config over TFTP: its port range is in it (real phones ignore option 159)"
ns_exec pa tftp 100.64.0.1 -m binary -c get SEP001B54AABB0C.cnf.xml "$T/a.cnf.xml" &&
	grep -E "MediaPort|voipControlPort|loadInformation" "$T/a.cnf.xml" | sed 's/^ */  /'
ns_exec pa tftp 100.64.0.1 -m binary -c get P0030801SR02.loads "$T/a.loads" &&
	cmp -s "$T/a.loads" "$T/images/P0030801SR02.loads" && echo "  firmware image: 200000 bytes, identical"
say "Phone B asks for phone A's config: refused (gated to A's address)"
ns_exec pb tftp 100.64.0.1 -m binary -c get SEP001B54AABB0C.cnf.xml "$T/stolen" 2>&1 | sed 's/^/  /'

A_FIRST=$(awk '/00:1b:54:aa:bb:0c/ {split($4, r, "-"); print r[1]}' "$T/list")
A_PUB=$(awk '/00:1b:54:aa:bb:0c/ {print $3}' "$T/list")
say "Phone E's config (Yealink): SIP port and RTP range from its lease"
ns_exec pe tftp 100.64.0.1 -m binary -c get 805ec0112233.cfg "$T/e.cfg" &&
	grep -E "sip_server|listen_port|rtpport" "$T/e.cfg" | sed 's/^/  /'

say "Phone A registers (SIP from its port $A_FIRST) and the internet host answers to ($A_PUB, $A_FIRST)"
ip netns exec "$(ns_name inet)" timeout 5 tcpdump -i gw0 -n -U --immediate-mode -c 2 -w "$T/cap.pcap" udp 2>/dev/null &
CAP=$!
ip netns exec "$(ns_name pa)" timeout 4 socat -u UDP-RECVFROM:$A_FIRST,reuseaddr SYSTEM:'echo "  phone A got \"$(cat)\" from $SOCAT_PEERADDR:$SOCAT_PEERPORT"' &
sleep 1
echo "REGISTER sip:demo SIP/2.0" | ns_exec pa socat -u - UDP:198.51.100.7:5060,sourceport=$A_FIRST,reuseaddr
echo "SIP/2.0 200 OK" | ns_exec inet socat -u - UDP:$A_PUB:$A_FIRST,bind=198.51.100.7:5060
wait $CAP
echo "  what the internet host saw:"
tcpdump -n -r "$T/cap.pcap" 2>/dev/null | sed 's/^/    /'
sleep 0.5

say "Data-plane counters (nappt stats, non-zero)"
nsx gw $N stats | awk '$2 > 0' | sed 's/^/  /'
say "Attribution log (provisioner)"
grep "lease " "$T/prov.log" | sed 's/^/  /'
