#!/usr/bin/env python3
"""Lists the DHCP replies in a pcap (Ethernet, IPv4, UDP), one per line:

    TYPE CHADDR YIADDR DST_IP:DST_PORT OPT82_HEX

TYPE is the option 53 name (OFFER, ACK, NAK...), OPT82_HEX '-' when the
reply carries no relay agent information.  Standard library only."""
import socket
import struct
import sys

NAMES = {2: "OFFER", 5: "ACK", 6: "NAK"}


def options(b):
    out, i = {}, 0
    while i < len(b):
        code = b[i]
        if code == 0:
            i += 1
            continue
        if code == 255 or i + 1 >= len(b):
            break
        n = b[i + 1]
        out[code] = out.get(code, b"") + b[i + 2:i + 2 + n]
        i += 2 + n
    return out


def main(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 14 + 20 + 8 + 240 or pkt[12:14] != b"\x08\x00":
            continue
        ip = pkt[14:]
        ihl = (ip[0] & 15) * 4
        if ip[9] != 17:
            continue
        udp = ip[ihl:]
        dport = struct.unpack(">H", udp[2:4])[0]
        bootp = udp[8:]
        if bootp[0] != 2 or bootp[236:240] != b"\x63\x82\x53\x63":
            continue
        opts = options(bootp[240:])
        kind = NAMES.get(opts.get(53, b"\0")[0], "OTHER")
        mac = ":".join("%02x" % x for x in bootp[28:34])
        print(kind, mac, socket.inet_ntoa(bootp[16:20]),
              "%s:%d" % (socket.inet_ntoa(ip[16:20]), dport),
              opts[82].hex() if 82 in opts else "-")


if __name__ == "__main__":
    main(sys.argv[1])
