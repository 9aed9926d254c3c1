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
"""
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
    a = ap.parse_args()
    # names may carry escapes such as \0 for NUL tricks
    name = a.name.encode().decode("unicode_escape").encode("latin-1")

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
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
    while True:
        try:
            pkt, addr = s.recvfrom(70000)
        except socket.timeout:
            print("TIMEOUT")
            return 1
        if server is None:
            server = addr
        elif addr != server:
            continue
        code = struct.unpack("!H", pkt[:2])[0]
        if code == 5:
            ecode = struct.unpack("!H", pkt[2:4])[0]
            print("ERROR %d %s" % (ecode, pkt[4:].rstrip(b"\0").decode(errors="replace")))
            return 0
        if a.cmd == "wrq":
            print("NOERROR")
            return 1
        if code == 6:  # OACK: take the blksize we were granted
            f = pkt[2:].split(b"\0")
            for i in range(0, len(f) - 1, 2):
                if f[i].lower() == b"blksize":
                    blksize = int(f[i + 1])
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
        if a.cmd == "stray" and stray is None:
            stray = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            stray.settimeout(3)
            ack(stray, server, blk)
            try:
                epkt, _ = stray.recvfrom(1000)
                print("STRAY %d" % struct.unpack("!HH", epkt[:4])[1])
            except socket.timeout:
                print("STRAY none")
        ack(s, server, blk)
        if a.cmd == "dupack":
            ack(s, server, blk)
        if blk == (expect - 1) & 0xFFFF and len(pkt) - 4 < blksize:
            break
    if a.out:
        with open(a.out, "wb") as f:
            f.write(data)
    print("OK %d %d" % (len(data), packets))
    return 0


sys.exit(main())
