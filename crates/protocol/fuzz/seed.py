#!/usr/bin/env python3
"""Writes seed inputs for every fuzz target from the MariaDB captures in ../tests/data/.

Each target reads its own input layout (see the header of each fuzz_targets/*.rs); this script
turns the captured packets into that layout, one file per input, named by its SHA-1 like libFuzzer
does. Usage: seed.py OUT_DIR (writes OUT_DIR/<target>/...). scripts/fuzz.sh `seed` runs it and then
minimizes into corpus/ with -merge=1, so the corpus kept in the repo stays small.
"""

import hashlib
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data")


def packets(raw):
    """Splits raw wire bytes into (seq, payload) packets; a partial tail is dropped."""
    out, at = [], 0
    while at + 4 <= len(raw):
        n = raw[at] | raw[at + 1] << 8 | raw[at + 2] << 16
        if at + 4 + n > len(raw):
            break
        out.append((raw[at + 3], raw[at + 4 : at + 4 + n]))
        at += 4 + n
    return out


def load(path):
    """The capture's raw bytes per direction and its packets in wire order as (dir, seq, payload)."""
    raw = {"S": bytearray(), "C": bytearray()}
    done = {"S": 0, "C": 0}
    order = []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or " " not in line:
                continue
            tag, hexed = line.split(" ", 1)
            raw[tag] += bytes.fromhex(hexed.strip())
            # Packets complete in the order their chunks arrive.
            ps = packets(bytes(raw[tag]))
            for seq, p in ps[done[tag] :]:
                order.append((tag, seq, p))
            done[tag] = len(ps)
    return raw, order


def client_caps(order):
    """Capabilities from the client's handshake response (MariaDB's extension in the high half)."""
    for tag, seq, p in order:
        if tag == "C" and seq == 1 and len(p) >= 32:
            low = struct.unpack_from("<I", p, 0)[0]
            ext = struct.unpack_from("<I", p, 28)[0]
            return low | ext << 32
    return 0x200 | 0x8000  # PROTOCOL_41 | SECURE_CONNECTION


def conversations(order):
    """Client commands (seq 0 after the handshake) with the packets that answer them."""
    convs, cur = [], None
    for i, (tag, seq, p) in enumerate(order):
        if tag == "C" and seq == 0 and i > 0:
            cur = (p, [])
            convs.append(cur)
        elif cur is not None:
            cur[1].append((tag, p))
    return convs


def tracker_input(command, caps, answer):
    """Layout of fuzz_targets/tracker.rs: command byte, caps, then length-prefixed packets."""
    b = bytearray([command[0] if command else 3]) + struct.pack("<Q", caps)
    for tag, p in answer:
        if tag == "C":
            b += bytes([0xFF]) + p[:127].ljust(127, b"\0")
        else:
            p = p[:126]
            # Even lengths go to feed(), odd ones to feed_frame(): keep both paths seeded.
            b += bytes([len(p)]) + p
    return bytes(b)


def main():
    out = sys.argv[1]
    seeds = {t: set() for t in ("framing", "handshake", "command", "response", "tracker", "auth")}
    for name in sorted(os.listdir(DATA)):
        if not name.endswith(".txt") or name.startswith("openssl"):
            continue
        raw, order = load(os.path.join(DATA, name))
        caps = client_caps(order)
        for tag in ("S", "C"):
            wire = bytes(raw[tag])
            for knobs in (0x0C, 0x8C):
                seeds["framing"].add(bytes([knobs]) + wire[:4096])
        for tag, seq, p in order:
            if seq <= 3 and len(p) < 1024:
                seeds["handshake"].add(p)
                seeds["handshake"].add(struct.pack("<I", caps & 0xFFFFFFFF) + p)
        for command, answer in conversations(order):
            for n in (0, 2):
                seeds["command"].add(struct.pack("<Q", caps) + bytes([n]) + command)
            for tag, p in answer:
                if tag == "S":
                    seeds["response"].add(struct.pack("<Q", caps) + p[:1024])
            seeds["tracker"].add(tracker_input(command, caps, answer))
        # Auth: the plugin name, then the peer's packets, separated by 0xAA.
        hs = [p for tag, seq, p in order if seq <= 4]
        for plugin in (b"mysql_native_password", b"caching_sha2_password", b"client_ed25519"):
            seeds["auth"].add(b"\xaa".join([plugin] + [p[:512] for p in hs]))
    for target, inputs in seeds.items():
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for data in inputs:
            with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
                f.write(data)
        print(f"{target}: {len(inputs)} seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
