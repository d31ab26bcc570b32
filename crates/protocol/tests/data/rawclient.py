# Minimal protocol client for the captures the CLI cannot make (binary
# protocol, CLIENT_DEPRECATE_EOF). Talks through relay.py, which logs bytes.
# argv: relay port.
import struct, sys, time
from rawproto import Conn, BASE_CAPS, SESSION_TRACK, DEPRECATE_EOF

c = Conn(int(sys.argv[1]), BASE_CAPS | SESSION_TRACK | DEPRECATE_EOF)
c.send(0, b"\x16SELECT id, name, d FROM t WHERE id >= ?"); r = c.recv_all()
stmt_id = struct.unpack("<I", r[5:9])[0]
c.send(0, b"\x17" + struct.pack("<IBI", stmt_id, 0, 1) + b"\x00\x01\x08\x00" + struct.pack("<q", 1)); c.recv_all()
c.send(0, b"\x03SELECT 1 AS x; SELECT 'y' AS y"); c.recv_all()
c.send(0, b"\x19" + struct.pack("<I", stmt_id))
c.send(0, b"\x01")
time.sleep(0.3); c.s.close()
