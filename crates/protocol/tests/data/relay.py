# One-connection TCP relay that logs every chunk, direction-tagged, as hex.
import socket, sys, select
listen_port, server_port, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", listen_port)); ls.listen(1); ls.settimeout(30)
c, _ = ls.accept()
s = socket.create_connection(("127.0.0.1", server_port))
out = open(log, "w")
peers = {c: (s, "C"), s: (c, "S")}
done = False
while not done:
    r, _, _ = select.select([c, s], [], [], 30)
    if not r: break
    for sock in r:
        data = sock.recv(65536)
        other, tag = peers[sock]
        if not data:
            done = True; break
        out.write(f"{tag} {data.hex()}\n"); out.flush()
        other.sendall(data)
c.close(); s.close(); ls.close()
