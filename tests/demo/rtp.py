#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""One side of a call's media for the demo, started by a sipp scenario.

    rtp.py BIND_IP BIND_PORT PEER_IP PEER_PORT COUNT OUTFILE lead|answer

Binds (BIND_IP, BIND_PORT) -- a port of the phone's range on a phone, the
SDP's port on the internet host -- and sends COUNT RTP packets (PCMU, 20 ms
apart, RFC 3550 header) to the peer the other side's SDP named, while it
counts the PCMU packets that arrive and from where.  Writes one line to
OUTFILE: "sent=N recv=M from=IP:PORT:COUNT,...".

Each side is started by its sipp when the INVITE or the answer arrives,
and how long a Python takes to start on a loaded machine varies, so the
counted streams begin only once both sockets are bound: the caller
("lead") sends comfort-noise packets (payload type 13, not counted) until
the callee's first packet arrives; the callee ("answer") starts its stream
on the caller's first packet.  Bounded in time: 5 s of waiting at most,
and 2 s after its own last packet.
"""
import os
import select
import socket
import struct
import sys
import time
import random

PTIME = 0.020
WAIT = 5.0
PT_PCMU, PT_CN = 0, 13


def main():
    if len(sys.argv) != 8 or sys.argv[7] not in ("lead", "answer"):
        sys.exit(__doc__)
    # sipp's exec hands its sockets down: close them, or the phone's SIP
    # port stays bound after sipp exits.
    os.closerange(3, 1024)
    bind_ip, bind_port, peer_ip, peer_port, count, out, role = sys.argv[1:]
    bind_port, peer_port, count = int(bind_port), int(peer_port), int(count)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((bind_ip, bind_port))
    s.setblocking(False)
    ssrc = random.getrandbits(32)
    seq = random.getrandbits(16)
    ts = random.getrandbits(32)
    pcmu = bytes([0xFF]) * 160  # silence
    sent = recv = nsent = 0
    srcs = {}
    started = False  # the counted stream
    heard = False  # anything from the peer
    now = time.monotonic()
    next_send = now
    end = now + WAIT

    def send(pt, payload):
        nonlocal nsent
        hdr = struct.pack("!BBHII", 0x80, pt, (seq + nsent) & 0xFFFF,
                          (ts + 160 * nsent) & 0xFFFFFFFF, ssrc)
        try:
            s.sendto(hdr + payload, (peer_ip, peer_port))
        except OSError:
            pass  # an ICMP error for an earlier probe
        nsent += 1

    while now < end:
        if not started and heard:
            started = True
            next_send = now
            end = now + count * PTIME + 2.0
        if now >= next_send:
            if started and sent < count:
                send(PT_PCMU, pcmu)
                sent += 1
                if sent == count:
                    end = min(end, now + 2.0)
            elif not started and role == "lead":
                send(PT_CN, b"\x40")  # RFC 3389 noise level
            next_send += PTIME
        if started and sent == count and recv >= count:
            break
        r, _, _ = select.select([s], [], [], max(0.0, min(next_send, end) - now))
        while r:
            try:
                data, addr = s.recvfrom(2048)
            except (BlockingIOError, ConnectionRefusedError):
                break
            if len(data) < 12 or data[0] >> 6 != 2:
                continue  # not RTP version 2 (RFC 3550 5.1)
            heard = True
            if data[1] & 0x7F == PT_PCMU:
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
