//! A MySQL packet stream over any async byte stream: the read buffer, the write buffer and the
//! framing codec, owned together. Both client and backend connections are one of these.
use std::io;

use bytes::{Buf, BytesMut};
use splitrail_protocol::{Packet, PacketCodec};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How much a backend connection reads at once: responses can be large.
pub const BACKEND_READ_CHUNK: usize = 16 * 1024;

/// How much a client connection reads at once: commands are mostly small, and an idle client's
/// buffer should cost little (it grows for big packets and shrinks back between commands).
pub const CLIENT_READ_CHUNK: usize = 1024;

/// What can go wrong reading packets.
#[derive(Debug)]
pub enum ReadError {
    /// The socket failed or closed mid-packet.
    Io(io::Error),
    /// The bytes are not valid framing (bad sequence id, packet too large).
    Protocol(splitrail_protocol::Error),
}

/// A framed MySQL connection.
#[derive(Debug)]
pub struct PacketIo<S> {
    /// The socket.
    pub stream: S,
    /// Bytes read but not consumed yet.
    pub rbuf: BytesMut,
    /// Packets queued for the next [`PacketIo::flush`].
    pub wbuf: BytesMut,
    /// Framing and sequence ids.
    pub codec: PacketCodec,
    /// How much to make room for before each read.
    chunk: usize,
    /// Bytes read from the peer so far (a client's `Bytes_received`).
    pub received: u64,
    /// Bytes written to the peer so far through this value's methods (a client's `Bytes_sent`).
    pub sent: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> PacketIo<S> {
    /// Wraps a stream; `max_packet` bounds one logical packet, `chunk` is how much room each
    /// read gets at least (buffers are allocated on first use).
    pub fn new(stream: S, max_packet: usize, chunk: usize) -> Self {
        PacketIo {
            stream,
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            codec: PacketCodec::new(max_packet),
            chunk,
            received: 0,
            sent: 0,
        }
    }

    /// Reads one whole logical packet (16 MiB continuation frames joined). `Ok(None)`: the peer
    /// closed the connection cleanly between packets.
    pub async fn read_packet(&mut self) -> Result<Option<Packet>, ReadError> {
        loop {
            if let Some(packet) = self
                .codec
                .decode(&mut self.rbuf)
                .map_err(ReadError::Protocol)?
            {
                return Ok(Some(packet));
            }
            if self.fill().await.map_err(ReadError::Io)? == 0 {
                return if self.rbuf.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()))
                };
            }
        }
    }

    /// Reads more bytes into the read buffer; returns how many (0 at end of stream).
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.rbuf.capacity() - self.rbuf.len() < self.chunk / 2 {
            self.rbuf.reserve(self.chunk);
        }
        let n = self.stream.read_buf(&mut self.rbuf).await?;
        self.received += n as u64;
        Ok(n)
    }

    /// Queues one payload as packet(s) with the codec's next sequence id.
    pub fn queue(&mut self, payload: &[u8]) -> Result<(), splitrail_protocol::Error> {
        self.codec.encode(payload, &mut self.wbuf)
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.wbuf.is_empty() {
            write_out(&mut self.stream, &self.wbuf).await?;
            self.sent += self.wbuf.len() as u64;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// Writes `bytes` (whole packets, already framed) to the peer.
    pub async fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        write_out(&mut self.stream, bytes).await?;
        self.sent += bytes.len() as u64;
        Ok(())
    }

    /// Moves `n` bytes from the front of `from` (another connection's read buffer) to the peer.
    pub async fn forward_from(&mut self, from: &mut BytesMut, n: usize) -> io::Result<()> {
        forward(from, n, &mut self.stream).await?;
        self.sent += n as u64;
        Ok(())
    }

    /// Queues and writes one payload.
    pub async fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        self.queue(payload).map_err(io::Error::other)?;
        self.flush().await
    }

    /// Starts a new command exchange: the next packet read or written has sequence id 0.
    pub fn reset_seq(&mut self) {
        self.codec.reset_seq();
    }

    /// Drops unused buffer capacity (between commands of an idle connection).
    pub fn shrink(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > 4 * self.chunk {
            self.rbuf = BytesMut::new();
        }
        if self.wbuf.is_empty() && self.wbuf.capacity() > 4 * self.chunk {
            self.wbuf = BytesMut::new();
        }
    }
}

/// Moves `n` bytes from the front of `from` to the stream `to` without copying them twice.
pub async fn forward<W: AsyncWrite + Unpin>(
    from: &mut BytesMut,
    n: usize,
    to: &mut W,
) -> io::Result<()> {
    if n > 0 {
        write_out(to, &from[..n]).await?;
        from.advance(n);
    }
    Ok(())
}

/// Writes all of `bytes` and flushes: a TLS stream may keep the end of a write in its own
/// buffer when the socket is full, and the peer must get the whole packet before it answers.
/// On plain TCP the flush returns at once, without a system call.
pub async fn write_out<W: AsyncWrite + Unpin>(to: &mut W, bytes: &[u8]) -> io::Result<()> {
    to.write_all(bytes).await?;
    to.flush().await
}
