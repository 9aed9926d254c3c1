#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""One side of a call's media for the demo, started by a sipp scenario.

    rtp.py BIND_IP BIND_PORT PEER_IP PEER_PORT COUNT OUTFILE

Binds (BIND_IP, BIND_PORT) -- a port of the phone's range on a phone, the
SDP's port on the internet host -- and sends COUNT RTP packets (PCMU, 20 ms
apart, RFC 3550 header) to the peer the other side's SDP named, while it
counts the RTP packets that arrive and from where.  Writes one line to
OUTFILE: "sent=N recv=M from=IP:PORT:COUNT,...".  Bounded in time: it gives
up 2 s after its own last packet.
"""
import os
import random
import select
import socket
import struct
import sys
import time

PTIME = 0.020
START_DELAY = 0.5  # the peer's side is started a moment later


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    bind_ip, bind_port, peer_ip, peer_port, count, out = sys.argv[1:]
    bind_port, peer_port, count = int(bind_port), int(peer_port), int(count)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((bind_ip, bind_port))
    s.setblocking(False)
    ssrc = random.getrandbits(32)
    seq = random.getrandbits(16)
    ts = random.getrandbits(32)
    payload = bytes([0xFF]) * 160  # PCMU silence
    sent = recv = 0
    srcs = {}
    now = time.monotonic()
    next_send = now + START_DELAY
    end = next_send + count * PTIME + 2.0
    while now < end:
        if sent < count and now >= next_send:
            hdr = struct.pack("!BBHII", 0x80, 0, (seq + sent) & 0xFFFF,
                              (ts + 160 * sent) & 0xFFFFFFFF, ssrc)
            try:
                s.sendto(hdr + payload, (peer_ip, peer_port))
            except OSError:
                pass  # an ICMP error from a peer not yet bound
            sent += 1
            next_send += PTIME
            if sent == count:
                end = min(end, now + 2.0)
        if sent == count and recv >= count:
            break
        wait = max(0.0, min(next_send if sent < count else end, end) - now)
        r, _, _ = select.select([s], [], [], wait)
        while r:
            try:
                data, addr = s.recvfrom(2048)
            except (BlockingIOError, ConnectionRefusedError):
                break
            # Only RTP version 2 counts (RFC 3550 5.1).
            if len(data) >= 12 and data[0] >> 6 == 2:
                recv += 1
                key = "%s:%d" % addr
                srcs[key] = srcs.get(key, 0) + 1
        now = time.monotonic()
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write("sent=%d recv=%d from=%s\n" % (
            sent, recv, ",".join("%s:%d" % kv for kv in srcs.items()) or "-"))
    os.rename(tmp, out)


if __name__ == "__main__":
    main()
