# Like rawclient.py, for the other command shapes: COM_PING, COM_STATISTICS,
# COM_FIELD_LIST, a COM_QUERY that fails, and a prepared statement read
# through a cursor (COM_STMT_EXECUTE with CURSOR_TYPE_READ_ONLY, then two
# COM_STMT_FETCH). argv: relay port, 1 to negotiate CLIENT_DEPRECATE_EOF.
import struct, sys, time
from rawproto import Conn, BASE_CAPS, DEPRECATE_EOF

c = Conn(int(sys.argv[1]), BASE_CAPS | (DEPRECATE_EOF if sys.argv[2] == "1" else 0))
c.send(0, b"\x0e"); c.recv_all()
c.send(0, b"\x09"); c.recv_all()
c.send(0, b"\x04t\0"); c.recv_all()
c.send(0, b"\x03SELEC 1"); c.recv_all()
c.send(0, b"\x16SELECT id, name FROM t ORDER BY id"); r = c.recv_all()
stmt_id = struct.unpack("<I", r[5:9])[0]
c.send(0, b"\x17" + struct.pack("<IBI", stmt_id, 1, 1)); c.recv_all()
c.send(0, b"\x1c" + struct.pack("<II", stmt_id, 1)); c.recv_all()
c.send(0, b"\x1c" + struct.pack("<II", stmt_id, 10)); c.recv_all()
c.send(0, b"\x19" + struct.pack("<I", stmt_id))
c.send(0, b"\x01")
time.sleep(0.3); c.s.close()
