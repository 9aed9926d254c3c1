#!/usr/bin/env python3
"""Send one forged Ethernet frame, as a hostile LAN or WAN host would.

Standard library only (AF_PACKET), so it runs where scapy is missing.

  craft.py udp IF SMAC DMAC SRC DST SPORT DPORT [--ttl N] [--len N] [--df]
  craft.py tcp IF SMAC DMAC SRC DST SPORT DPORT [--ttl N] [--flags S]
  craft.py arp IF SMAC DMAC SHA SPA TPA [--op 1|2]

Checksums are computed in full: the frame is what a wire would carry.
"""
import argparse
import socket
import struct


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def ip4(proto, src, dst, payload, ttl, df):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0x1234,
                      0x4000 if df else 0, ttl, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def pseudo(src, dst, proto, n):
    return socket.inet_aton(src) + socket.inet_aton(dst) + \
        struct.pack("!BBH", 0, proto, n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["udp", "tcp", "arp"])
    ap.add_argument("ifname")
    ap.add_argument("smac")
    ap.add_argument("dmac")
    ap.add_argument("rest", nargs="+")
    ap.add_argument("--ttl", type=int, default=64)
    ap.add_argument("--len", type=int, default=32)
    ap.add_argument("--df", action="store_true")
    ap.add_argument("--flags", default="S")
    ap.add_argument("--op", type=int, default=1)
    # 802.1Q tags after the MACs, outermost first: TCI values (0xa000 is
    # PCP 5, VID 0: a priority tag).
    ap.add_argument("--tag", type=lambda v: int(v, 0), action="append",
                    default=[])
    a = ap.parse_args()

    if a.kind == "arp":
        sha, spa, tpa = a.rest
        body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, a.op, mac(sha),
                           socket.inet_aton(spa), b"\0" * 6,
                           socket.inet_aton(tpa))
        frame = mac(a.dmac) + mac(a.smac) + b"\x08\x06" + body
    else:
        src, dst, sport, dport = a.rest
        sport, dport = int(sport), int(dport)
        if a.kind == "udp":
            data = bytes((i * 7 + 3) & 0xFF for i in range(a.len))
            u = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
            c = csum(pseudo(src, dst, 17, len(u)) + u) or 0xFFFF
            l4 = u[:6] + struct.pack("!H", c) + u[8:]
            proto = 17
        else:
            fl = {"S": 0x02, "A": 0x10, "R": 0x04}
            bits = sum(fl[f] for f in a.flags)
            t = struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, 5 << 4, bits,
                            64240, 0, 0)
            c = csum(pseudo(src, dst, 6, len(t)) + t)
            l4 = t[:16] + struct.pack("!H", c) + t[18:]
            proto = 6
        frame = mac(a.dmac) + mac(a.smac) + b"\x08\x00" + \
            ip4(proto, src, dst, l4, a.ttl, a.df)
    tags = b"".join(struct.pack("!HH", 0x8100, t) for t in a.tag)
    frame = frame[:12] + tags + frame[12:]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.ifname, 0))
    s.send(frame)


if __name__ == "__main__":
    main()
