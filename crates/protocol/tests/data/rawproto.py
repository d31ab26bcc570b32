# Shared by rawclient.py and rawclient_commands.py: just enough of the
# protocol to log in with mysql_native_password and send commands.
import socket, hashlib, struct

class Conn:
    def __init__(self, port, caps, user=b"app", password=b"apppw", db=b"test"):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.settimeout(0.7)
        p = self.recv_all()[4:]
        ver_end = p.index(0, 1)
        nonce = p[ver_end+5:ver_end+13] + p[ver_end+13+1+2+1+2+2+1+10:][:12]
        resp = (struct.pack("<IIB", caps, 16*1024*1024, 45) + b"\0"*23 + user + b"\0"
                + bytes([20]) + native(password, nonce) + db + b"\0"
                + b"mysql_native_password\0")
        self.send(1, resp)
        self.recv_all()

    def recv_all(self):
        """Everything the server sends until it is quiet for 0.7 s."""
        buf = b""
        while True:
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return buf
            if not d:
                return buf
            buf += d

    def send(self, seq, payload):
        self.s.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload)

def native(pw, nonce):
    s1 = hashlib.sha1(pw).digest(); s2 = hashlib.sha1(s1).digest()
    s3 = hashlib.sha1(nonce + s2).digest()
    return bytes(a ^ b for a, b in zip(s1, s3))

# LONG_PASSWORD | CONNECT_WITH_DB | PROTOCOL_41 | TRANSACTIONS | SECURE_CONNECTION
# | MULTI_STATEMENTS | MULTI_RESULTS | PS_MULTI_RESULTS | PLUGIN_AUTH
BASE_CAPS = 1|8|0x200|0x2000|0x8000|0x10000|0x20000|0x40000|0x80000
SESSION_TRACK, DEPRECATE_EOF = 0x800000, 0x1000000
