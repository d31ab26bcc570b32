//! A MySQL packet stream over any async byte stream: the read buffer, the write buffer and the
//! framing codec, owned together. Both client and backend connections are one of these.
use std::io;

use bytes::{Buf, BytesMut};
use splitrail_protocol::framing::{HEADER_LEN, MAX_FRAME_PAYLOAD};
use splitrail_protocol::{Packet, PacketCodec};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How much a read buffer starts with; it grows for big packets and is allocated on first read,
/// so an idle connection costs little.
const READ_CHUNK: usize = 8 * 1024;

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
}

impl<S: AsyncRead + AsyncWrite + Unpin> PacketIo<S> {
    /// Wraps a stream; `max_packet` bounds one logical packet.
    pub fn new(stream: S, max_packet: usize) -> Self {
        PacketIo {
            stream,
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            codec: PacketCodec::new(max_packet),
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
        if self.rbuf.capacity() - self.rbuf.len() < 1024 {
            self.rbuf.reserve(READ_CHUNK);
        }
        self.stream.read_buf(&mut self.rbuf).await
    }

    /// Queues one payload as packet(s) with the codec's next sequence id.
    pub fn queue(&mut self, payload: &[u8]) -> Result<(), splitrail_protocol::Error> {
        self.codec.encode(payload, &mut self.wbuf)
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
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
        if self.rbuf.is_empty() && self.rbuf.capacity() > 4 * READ_CHUNK {
            self.rbuf = BytesMut::new();
        }
        if self.wbuf.is_empty() && self.wbuf.capacity() > 4 * READ_CHUNK {
            self.wbuf = BytesMut::new();
        }
    }
}

/// The length of the first complete frame in `buf` (header included), or `None` if it is not all
/// there yet.
pub fn complete_frame(buf: &[u8]) -> Option<usize> {
    let header = buf.get(..HEADER_LEN)?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    let total = HEADER_LEN + len;
    (buf.len() >= total).then_some(total)
}

/// The payload length declared by the frame header at the start of `buf`, if a header is there.
pub fn declared_len(buf: &[u8]) -> Option<usize> {
    let header = buf.get(..HEADER_LEN)?;
    Some(usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16)
}

/// Whether a frame of `len` payload bytes is followed by a continuation frame.
pub fn continues(len: usize) -> bool {
    len == MAX_FRAME_PAYLOAD
}

/// Moves `n` bytes from the front of `from` to the stream `to` without copying them twice.
pub async fn forward<W: AsyncWrite + Unpin>(
    from: &mut BytesMut,
    n: usize,
    to: &mut W,
) -> io::Result<()> {
    if n > 0 {
        to.write_all(&from[..n]).await?;
        from.advance(n);
    }
    Ok(())
}
