# Minimal protocol client for the captures the CLI cannot make (binary
# protocol, CLIENT_DEPRECATE_EOF). Talks through relay.py, which logs bytes.
import socket, sys, hashlib, struct, time
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port)); s.settimeout(0.7)
def recv_all():
    buf = b""
    while True:
        try:
            d = s.recv(65536)
        except socket.timeout:
            return buf
        if not d: return buf
        buf += d
def send(seq, payload):
    s.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload)
hs = recv_all()
p = hs[4:]
ver_end = p.index(0, 1)
nonce = p[ver_end+5:ver_end+13]
rest = p[ver_end+13+1+2+1+2+2+1+10:]
nonce += rest[:12]
def native(pw, nonce):
    s1 = hashlib.sha1(pw).digest(); s2 = hashlib.sha1(s1).digest()
    s3 = hashlib.sha1(nonce + s2).digest()
    return bytes(a ^ b for a, b in zip(s1, s3))
caps = (1|8|0x200|0x2000|0x8000|0x10000|0x20000|0x40000|0x80000|0x800000|0x1000000)
resp = struct.pack("<IIB", caps, 16*1024*1024, 45) + b"\0"*23 + b"app\0" + bytes([20]) + native(b"apppw", nonce) + b"test\0" + b"mysql_native_password\0"
send(1, resp); recv_all()
send(0, b"\x16SELECT id, name, d FROM t WHERE id >= ?"); r = recv_all()
stmt_id = struct.unpack("<I", r[5:9])[0]
send(0, b"\x17" + struct.pack("<IBI", stmt_id, 0, 1) + b"\x00\x01\x08\x00" + struct.pack("<q", 1)); recv_all()
send(0, b"\x03SELECT 1 AS x; SELECT 'y' AS y"); recv_all()
send(0, b"\x19" + struct.pack("<I", stmt_id))
send(0, b"\x01")
time.sleep(0.3); s.close()
