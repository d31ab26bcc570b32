#!/usr/bin/env python3
"""Benchmark helper, not a test: opens N authenticated, idle MySQL client connections to a
server (the proxy), then prints the server process's RSS before and after, per connection.

    bench/idle_clients.py --port 6033 --pid $(pgrep -f 'splitrail --config') -n 5000

Speaks just enough of the protocol (HandshakeV10 → HandshakeResponse41 with
mysql_native_password) to log in; needs only the standard library."""
import argparse
import hashlib
import socket
import struct
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


def read_packet(sock):
    header = b""
    while len(header) < 4:
        chunk = sock.recv(4 - len(header))
        if not chunk:
            raise ConnectionError("closed")
        header += chunk
    length = header[0] | header[1] << 8 | header[2] << 16
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            raise ConnectionError("closed")
        body += chunk
    return header[3], body


def login(host, port, user, password):
    sock = socket.create_connection((host, port))
    seq, greeting = read_packet(sock)
    version_end = greeting.index(b"\0", 1)
    pos = version_end + 1 + 4
    nonce = greeting[pos:pos + 8]
    pos += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10
    nonce += greeting[pos:pos + 12]
    h1 = hashlib.sha1(password.encode()).digest()
    h2 = hashlib.sha1(h1).digest()
    h3 = hashlib.sha1(nonce + h2).digest()
    scramble = bytes(a ^ b for a, b in zip(h1, h3))
    caps = 0x00000200 | 0x00008000 | 0x00080000  # PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH
    body = struct.pack("<IIB23x", caps, 1 << 24, 45) + user.encode() + b"\0"
    body += bytes([len(scramble)]) + scramble + b"mysql_native_password\0"
    sock.sendall(struct.pack("<I", len(body))[:3] + bytes([seq + 1]) + body)
    _, reply = read_packet(sock)
    if reply[:1] != b"\0":
        raise SystemExit(f"login refused: {reply!r}")
    return sock


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6033)
    p.add_argument("--user", default="app")
    p.add_argument("--password", default="app")
    p.add_argument("--pid", type=int, required=True, help="the proxy's pid")
    p.add_argument("-n", type=int, default=5000)
    a = p.parse_args()
    before = rss_kib(a.pid)
    socks = [login(a.host, a.port, a.user, a.password) for _ in range(a.n)]
    time.sleep(1)
    after = rss_kib(a.pid)
    print(f"{a.n} idle clients: RSS {before} KiB -> {after} KiB, "
          f"{(after - before) / a.n:.2f} KiB per connection")
    for s in socks:
        s.close()


if __name__ == "__main__":
    sys.exit(main())
