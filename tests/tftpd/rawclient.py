#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""A tiny TFTP client that shows what the server put on the wire.

  rawclient.py rrq HOST NAME [--out F] [--mode M] [--opt K V]...
      prints "ERROR <code> <msg>" or "OK <bytes> <data packets>"
  rawclient.py wrq HOST NAME        prints "ERROR <code> <msg>" or "NOERROR"
  rawclient.py stray HOST NAME --out F
      after the first DATA block, ACKs from a second socket (another TID);
      prints "STRAY <code>" then "OK ..." when the real transfer finishes
  rawclient.py dupack HOST NAME --out F
      ACKs every block twice; with a lossless path the server must send
      each block exactly once (no Sorcerer's Apprentice): prints "OK ..."
  rawclient.py strayerr HOST NAME
      like stray, but the second socket sends an ERROR: prints "STRAY none"
      when nothing answers it (an ERROR is never answered)
  rawclient.py send HOST HEX          one datagram of raw bytes to the port;
      prints "REPLY <opcode> <code>" or "NOREPLY" (after --wait s)
  rawclient.py flood HOST N           N malformed requests from one socket;
      prints "REPLIES <count>" (error replies are rate-limited)
  rawclient.py storm HOST NAME N      N RRQs from N sockets, never ACKed;
      prints "SENT N"
  rawclient.py count HOST NAME        one option-less RRQ, never ACKed:
      prints "DATA1 <copies>" after --wait s
  rawclient.py watchopen HOST NAME --watch PATH
      the RRQ with an inotify watch on PATH: prints the reply, then
      "OPENED" or "NOTOPENED"
  rawclient.py stormcount HOST NAME N   N RRQs from N sockets (one
      address) over 1 s, never ACKed; prints "DATA <packets>" received
      by all of them until --wait s after the last
  rawclient.py slow HOST NAME       ACKs each new block after --wait s
      (steady progress, never a stall) until an ERROR or 30 s: prints
      "ERROR <code> <msg> AFTER <s>" or "NOERROR"
  --bind ADDR binds the client socket; --broadcast allows a broadcast
  destination; --src prints "FROM <ip>" for the first reply; with
  windowsize granted in an OACK the client ACKs once per window (RFC 7440)
  and after the final block waits --wait s: "EXTRA <n>" counts DATA past it.
"""
import ctypes
import os
import select
import time
import argparse
import socket
import struct
import sys


def request(op, name, mode, opts):
    b = struct.pack("!H", op) + name + b"\0" + mode.encode() + b"\0"
    for k, v in opts:
        b += k.encode() + b"\0" + v.encode() + b"\0"
    return b


def ack(s, addr, blk):
    s.sendto(struct.pack("!HH", 4, blk & 0xFFFF), addr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd")
    ap.add_argument("host")
    ap.add_argument("name")
    ap.add_argument("--out")
    ap.add_argument("--mode", default="octet")
    ap.add_argument("--opt", nargs=2, action="append", default=[])
    ap.add_argument("--port", type=int, default=69)
    ap.add_argument("--bind")
    ap.add_argument("--broadcast", action="store_true")
    ap.add_argument("--src", action="store_true")
    ap.add_argument("--wait", type=float, default=1.5)
    ap.add_argument("--watch")
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()
    if a.cmd == "send":
        return cmd_send(a)
    if a.cmd == "flood":
        return cmd_flood(a)
    if a.cmd == "storm":
        return cmd_storm(a)
    if a.cmd == "count":
        return cmd_count(a)
    if a.cmd == "slow":
        return cmd_slow(a)
    if a.cmd == "stormcount":
        return cmd_stormcount(a)
    watch = None
    if a.cmd == "watchopen":
        watch = inotify_open_watch(a.watch)
    # names may carry escapes such as \0 for NUL tricks
    name = a.name.encode().decode("unicode_escape").encode("latin-1")

    s = sock(a)
    s.settimeout(3)
    op = 2 if a.cmd == "wrq" else 1
    s.sendto(request(op, name, a.mode, a.opt), (a.host, a.port))
    blksize = 512
    for k, v in a.opt:
        if k == "blksize":
            blksize = int(v)
    data = bytearray()
    expect = 1
    packets = 0
    server = None
    stray = None
    window = 1
    inwin = 0
    while True:
        try:
            pkt, addr = s.recvfrom(70000)
        except socket.timeout:
            print("TIMEOUT")
            return 1
        if server is None:
            server = addr
            if a.src:
                print("FROM %s" % addr[0])
        elif addr != server:
            continue
        code = struct.unpack("!H", pkt[:2])[0]
        if code == 5:
            ecode = struct.unpack("!H", pkt[2:4])[0]
            print("ERROR %d %s" % (ecode, pkt[4:].rstrip(b"\0").decode(errors="replace")))
            if watch is not None:
                print(inotify_report(watch))
            return 0
        if a.cmd == "wrq":
            print("NOERROR")
            return 1
        if code == 6:  # OACK: take the blksize we were granted
            f = pkt[2:].split(b"\0")
            got = []
            for i in range(0, len(f) - 1, 2):
                got.append("%s=%s" % (f[i].decode(), f[i + 1].decode()))
                if f[i].lower() == b"blksize":
                    blksize = int(f[i + 1])
                if f[i].lower() == b"windowsize":
                    window = int(f[i + 1])
            print("OACK " + " ".join(got))
            ack(s, server, 0)
            continue
        if code != 3:
            print("UNEXPECTED opcode %d" % code)
            return 1
        blk = struct.unpack("!H", pkt[2:4])[0]
        packets += 1
        if blk == expect & 0xFFFF:
            data += pkt[4:]
            expect += 1
        final = blk == (expect - 1) & 0xFFFF and len(pkt) - 4 < blksize
        inwin += 1
        if window == 1 or final or inwin >= window or blk != (expect - 1) & 0xFFFF:
            ack(s, server, (expect - 1) & 0xFFFF)
            inwin = 0
        if a.cmd == "dupack":
            ack(s, server, blk)
        if a.cmd in ("stray", "strayerr") and stray is None:
            stray = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            stray.settimeout(1.5)
            if a.cmd == "strayerr":
                stray.sendto(struct.pack("!HH", 5, 0) + b"x\0", server)
            else:
                ack(stray, server, blk)
            try:
                epkt, _ = stray.recvfrom(1000)
                print("STRAY %d" % struct.unpack("!HH", epkt[:4])[1])
            except (socket.timeout, ConnectionRefusedError):
                print("STRAY none")
        if final:
            break
    if window > 1:
        # RFC 7440: nothing may follow the final block once it is ACKed
        extra = 0
        s.settimeout(0.2)
        end = time.time() + a.wait
        while time.time() < end:
            try:
                pkt, addr = s.recvfrom(70000)
            except socket.timeout:
                continue
            if addr == server and pkt[:2] == b"\0\3":
                extra += 1
        print("EXTRA %d" % extra)
    if a.out:
        with open(a.out, "wb") as f:
            f.write(data)
    print("OK %d %d" % (len(data), packets))
    return 0


def sock(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if a.broadcast:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    if a.bind:
        s.bind((a.bind, 0))
    return s


def replies(s, wait):
    """Datagrams received until wait seconds pass."""
    got = []
    end = time.time() + wait
    while True:
        left = end - time.time()
        if left <= 0:
            return got
        r, _, _ = select.select([s], [], [], left)
        if r:
            try:
                got.append(s.recvfrom(70000))
            except OSError:
                pass


def cmd_send(a):
    s = sock(a)
    s.sendto(bytes.fromhex(a.name), (a.host, a.port))
    got = replies(s, a.wait)
    if not got:
        print("NOREPLY")
    else:
        pkt = got[0][0]
        print("REPLY %d %d" % struct.unpack("!HH", (pkt + b"\0" * 4)[:4]))
    return 0


def cmd_flood(a):
    s = sock(a)
    for _ in range(int(a.name)):
        s.sendto(b"\0\1junk-without-mode", (a.host, a.port))
    print("REPLIES %d" % len(replies(s, a.wait)))
    return 0


def cmd_storm(a):
    n = int(a.extra[0])
    socks = []
    for _ in range(n):
        s = sock(a)
        s.sendto(request(1, a.name.encode(), "octet", []), (a.host, a.port))
        socks.append(s)
    time.sleep(a.wait)
    print("SENT %d" % n)
    return 0


def cmd_count(a):
    s = sock(a)
    s.sendto(request(1, a.name.encode(), "octet", []), (a.host, a.port))
    got = replies(s, a.wait)
    n = sum(1 for p, _ in got if p[:4] == b"\0\3\0\1")
    print("DATA1 %d" % n)
    return 0


def cmd_stormcount(a):
    n = int(a.extra[0])
    socks = []
    for _ in range(n):
        s = sock(a)
        s.setblocking(False)
        s.sendto(request(1, a.name.encode(), "octet", []), (a.host, a.port))
        socks.append(s)
        time.sleep(1.0 / n)
    data = 0
    end = time.time() + a.wait
    while time.time() < end:
        r, _, _ = select.select(socks, [], [], max(0, end - time.time()))
        for s in r:
            try:
                pkt = s.recv(70000)
            except OSError:
                continue
            if pkt[:2] == b"\0\3":
                data += 1
    print("DATA %d" % data)
    return 0


def cmd_slow(a):
    s = sock(a)
    s.settimeout(0.2)
    s.sendto(request(1, a.name.encode(), "octet", []), (a.host, a.port))
    t0 = time.time()
    acked = 0
    while time.time() < t0 + 30:
        try:
            pkt, addr = s.recvfrom(70000)
        except socket.timeout:
            continue
        op, arg = struct.unpack("!HH", (pkt + b"\0" * 4)[:4])
        if op == 5:
            msg = pkt[4:].split(b"\0")[0].decode("latin-1")
            print("ERROR %d %s AFTER %.1f" % (arg, msg, time.time() - t0))
            return 0
        if op == 3 and arg == acked + 1:
            time.sleep(a.wait)
            acked = arg
            ack(s, addr, arg)
    print("NOERROR")
    return 0


IN_OPEN = 0x20


def inotify_open_watch(path):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK)
    if fd < 0 or libc.inotify_add_watch(fd, path.encode(), IN_OPEN) < 0:
        print("INOTIFY failed")
        sys.exit(1)
    return fd


def inotify_report(fd):
    time.sleep(0.3)
    try:
        data = os.read(fd, 4096)
    except BlockingIOError:
        data = b""
    return "OPENED" if data else "NOTOPENED"


sys.exit(main())
