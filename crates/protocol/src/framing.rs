//! Packet framing: the 4-byte header (3-byte little-endian length, 1-byte
//! sequence id), splitting of payloads of 16 MiB − 1 and more into 0xFFFFFF
//! chunks, their reassembly, the maximum packet size and sequence-id checks.
//!
//! [`PacketCodec`] knows nothing about payloads; the types in `handshake`,
//! `command` and `response` sit on top of it.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};

/// Size of the packet header: 3 bytes of length and 1 byte of sequence id.
pub const HEADER_LEN: usize = 4;

/// The largest payload one frame can carry (16 MiB − 1). A payload of exactly
/// this length is followed by another frame, empty if nothing is left.
pub const MAX_FRAME_PAYLOAD: usize = 0xFF_FFFF;

/// Default for [`PacketCodec::max_packet_size`]: 64 MiB, MariaDB's default
/// `max_allowed_packet` since 10.2.
pub const DEFAULT_MAX_PACKET_SIZE: usize = 64 * 1024 * 1024;

/// Largest single `reserve` [`PacketCodec::decode`] makes for an incomplete frame.
const RESERVE_LIMIT: usize = 64 * 1024;

/// One logical packet: the payload after reassembly and the sequence id of its
/// first frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Sequence id of the first frame of this packet.
    pub seq: u8,
    /// The reassembled payload (zero-copy when the packet was a single frame).
    pub payload: Bytes,
}

/// One physical frame borrowed from a read buffer, for relays that forward
/// bytes as they came ([`PacketCodec::next_frame`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The frame's sequence id.
    pub seq: u8,
    /// The frame's payload (at most [`MAX_FRAME_PAYLOAD`] bytes; a payload of
    /// exactly that length continues in the next frame).
    pub payload: &'a [u8],
}

impl Frame<'_> {
    /// Header plus payload: how many bytes of the buffer this frame covers.
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }
}

/// Frames and unframes packets on one connection.
///
/// The sequence id is shared by both directions, as on the wire: a command
/// starts at 0 (call [`PacketCodec::reset_seq`]), and each packet read or
/// written advances it.
#[derive(Debug, Clone)]
pub struct PacketCodec {
    /// Largest reassembled payload accepted or produced; MySQL's `max_allowed_packet`.
    pub max_packet_size: usize,
    /// When false, sequence ids on input are not checked (useful for a relay
    /// that trusts one side), but are still tracked.
    pub check_seq: bool,
    seq: u8,
    /// Frames of a payload ≥ 16 MiB − 1 gathered until its last frame arrives.
    partial: BytesMut,
    /// Sequence id of the first frame of `partial`.
    partial_seq: u8,
    /// True while a 0xFFFFFF frame has been seen and its continuation has not.
    in_multi: bool,
    /// Bytes of the packet [`PacketCodec::next_frame`] is in the middle of.
    frame_total: usize,
}

impl Default for PacketCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PACKET_SIZE)
    }
}

impl PacketCodec {
    /// A codec with sequence checking on, starting at sequence id 0.
    pub fn new(max_packet_size: usize) -> Self {
        Self {
            max_packet_size,
            check_seq: true,
            seq: 0,
            partial: BytesMut::new(),
            partial_seq: 0,
            in_multi: false,
            frame_total: 0,
        }
    }

    /// The sequence id the next packet read or written will carry.
    pub fn seq(&self) -> u8 {
        self.seq
    }

    /// Sets the next sequence id (e.g. 1 when writing a response).
    pub fn set_seq(&mut self, seq: u8) {
        self.seq = seq;
    }

    /// Starts a new command: the next packet carries sequence id 0.
    pub fn reset_seq(&mut self) {
        self.seq = 0;
    }

    /// Reads the header at the front of `src`, checking sequence id and size.
    fn header(&self, src: &[u8], so_far: usize) -> Result<Option<(usize, u8)>> {
        let Some(header) = src.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let len =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        let seq = header[3];
        if self.check_seq && seq != self.seq {
            return Err(Error::SequenceMismatch {
                expected: self.seq,
                got: seq,
            });
        }
        if so_far + len > self.max_packet_size {
            return Err(Error::PacketTooLarge {
                len: so_far + len,
                max: self.max_packet_size,
            });
        }
        Ok(Some((len, seq)))
    }

    /// Returns the first whole frame in `src` without copying or consuming
    /// it, and advances the sequence id; `Ok(None)` means more bytes are
    /// needed. The caller forwards `frame.wire_len()` bytes and drops them
    /// from its buffer. This is the relay's zero-copy path; pair it with
    /// [`crate::ResponseTracker::feed_frame`].
    #[inline]
    pub fn next_frame<'a>(&mut self, src: &'a [u8]) -> Result<Option<Frame<'a>>> {
        let Some((len, seq)) = self.header(src, self.frame_total)? else {
            return Ok(None);
        };
        let Some(payload) = src.get(HEADER_LEN..HEADER_LEN + len) else {
            return Ok(None);
        };
        self.seq = seq.wrapping_add(1);
        self.frame_total = if len == MAX_FRAME_PAYLOAD {
            self.frame_total + len
        } else {
            0
        };
        Ok(Some(Frame { seq, payload }))
    }

    /// Takes one packet off the front of `src`.
    ///
    /// Returns `Ok(None)` when `src` does not yet hold a whole packet; the bytes
    /// already there stay in `src` (frames of a multi-frame packet are moved
    /// into the codec as they complete).
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Packet>> {
        loop {
            let Some((len, seq)) = self.header(src, self.partial.len())? else {
                return Ok(None);
            };
            if src.len() < HEADER_LEN + len {
                // Make room for the rest of the frame, but never more than
                // RESERVE_LIMIT on the word of a header alone: a peer that
                // announces 16 MiB must send it before it costs 16 MiB.
                src.reserve((HEADER_LEN + len - src.len()).min(RESERVE_LIMIT));
                return Ok(None);
            }
            src.advance(HEADER_LEN);
            let chunk = src.split_to(len);
            self.seq = seq.wrapping_add(1);
            if !self.in_multi {
                self.partial_seq = seq;
            }
            if len == MAX_FRAME_PAYLOAD {
                self.in_multi = true;
                self.partial.unsplit(chunk);
                continue;
            }
            self.in_multi = false;
            let payload = if self.partial.is_empty() {
                chunk.freeze()
            } else {
                self.partial.unsplit(chunk);
                self.partial.split().freeze()
            };
            return Ok(Some(Packet {
                seq: self.partial_seq,
                payload,
            }));
        }
    }

    /// Appends `payload` to `dst` as one or more frames, advancing the sequence id.
    pub fn encode(&mut self, payload: &[u8], dst: &mut BytesMut) -> Result<()> {
        if payload.len() > self.max_packet_size {
            return Err(Error::PacketTooLarge {
                len: payload.len(),
                max: self.max_packet_size,
            });
        }
        dst.reserve(payload.len() + HEADER_LEN * (1 + payload.len() / MAX_FRAME_PAYLOAD));
        let mut chunks = payload.chunks(MAX_FRAME_PAYLOAD);
        let mut last_len = 0;
        for chunk in chunks.by_ref() {
            self.put_frame(chunk, dst);
            last_len = chunk.len();
        }
        // An empty payload, or one that ends on a full frame, needs an
        // empty frame so the reader knows it is complete.
        if payload.is_empty() || last_len == MAX_FRAME_PAYLOAD {
            self.put_frame(&[], dst);
        }
        Ok(())
    }

    /// Builds a payload directly in `dst` with `build` and frames it, without
    /// a temporary buffer when it fits one frame (the common case).
    pub fn encode_with(
        &mut self,
        dst: &mut BytesMut,
        build: impl FnOnce(&mut BytesMut),
    ) -> Result<()> {
        let start = dst.len();
        dst.put_bytes(0, HEADER_LEN);
        build(dst);
        let len = dst.len() - start - HEADER_LEN;
        if len > self.max_packet_size {
            dst.truncate(start);
            return Err(Error::PacketTooLarge {
                len,
                max: self.max_packet_size,
            });
        }
        if len >= MAX_FRAME_PAYLOAD {
            let payload = dst.split_off(start + HEADER_LEN);
            dst.truncate(start);
            return self.encode(&payload, dst);
        }
        let header = (len as u32).to_le_bytes();
        if let Some(h) = dst.get_mut(start..start + HEADER_LEN) {
            h.copy_from_slice(&[header[0], header[1], header[2], self.seq]);
        }
        self.seq = self.seq.wrapping_add(1);
        Ok(())
    }

    fn put_frame(&mut self, chunk: &[u8], dst: &mut BytesMut) {
        dst.put_uint_le(chunk.len() as u64, 3);
        dst.put_u8(self.seq);
        dst.put_slice(chunk);
        self.seq = self.seq.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(len: usize) -> (usize, Packet) {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut w = PacketCodec::new(usize::MAX);
        let mut buf = BytesMut::new();
        w.encode(&payload, &mut buf).unwrap();
        let wire_len = buf.len();
        let mut r = PacketCodec::new(usize::MAX);
        let p = r.decode(&mut buf).unwrap().unwrap();
        assert!(buf.is_empty());
        assert_eq!(p.payload, payload);
        assert_eq!(r.seq(), w.seq());
        (wire_len, p)
    }

    #[test]
    fn small_packet_bytes() {
        let mut c = PacketCodec::default();
        let mut buf = BytesMut::new();
        c.encode(b"\x0e", &mut buf).unwrap();
        assert_eq!(&buf[..], b"\x01\x00\x00\x00\x0e");
        assert_eq!(c.seq(), 1);
    }

    #[test]
    fn empty_payload_is_one_empty_frame() {
        let (wire, p) = round_trip(0);
        assert_eq!(wire, 4);
        assert_eq!(p.seq, 0);
    }

    #[test]
    fn boundary_below_16mib() {
        let (wire, _) = round_trip(MAX_FRAME_PAYLOAD - 1);
        assert_eq!(wire, MAX_FRAME_PAYLOAD - 1 + 4);
    }

    #[test]
    fn boundary_exactly_16mib_minus_1_gets_empty_trailer() {
        let (wire, _) = round_trip(MAX_FRAME_PAYLOAD);
        assert_eq!(wire, MAX_FRAME_PAYLOAD + 8);
    }

    #[test]
    fn boundary_16mib() {
        let (wire, _) = round_trip(MAX_FRAME_PAYLOAD + 1);
        assert_eq!(wire, MAX_FRAME_PAYLOAD + 1 + 8);
    }

    #[test]
    fn boundary_exact_multiple_gets_empty_trailer() {
        let (wire, p) = round_trip(2 * MAX_FRAME_PAYLOAD);
        assert_eq!(wire, 2 * MAX_FRAME_PAYLOAD + 12);
        assert_eq!(p.seq, 0);
    }

    #[test]
    fn partial_input_needs_more() {
        let mut c = PacketCodec::default();
        let mut buf = BytesMut::from(&b"\x03\x00\x00\x00ab"[..]);
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"c");
        let p = c.decode(&mut buf).unwrap().unwrap();
        assert_eq!(&p.payload[..], b"abc");
    }

    #[test]
    fn sequence_mismatch_is_typed() {
        let mut c = PacketCodec::default();
        let mut buf = BytesMut::from(&b"\x01\x00\x00\x05x"[..]);
        assert_eq!(
            c.decode(&mut buf),
            Err(Error::SequenceMismatch {
                expected: 0,
                got: 5
            })
        );
    }

    #[test]
    fn too_large_is_rejected_from_header() {
        let mut c = PacketCodec::new(10);
        let mut buf = BytesMut::from(&b"\x0b\x00\x00\x00"[..]);
        assert_eq!(
            c.decode(&mut buf),
            Err(Error::PacketTooLarge { len: 11, max: 10 })
        );
        let mut out = BytesMut::new();
        assert!(c.encode(&[0; 11], &mut out).is_err());
    }

    #[test]
    fn next_frame_borrows_and_checks() {
        let mut c = PacketCodec::new(10);
        let buf = b"\x01\x00\x00\x00a\x02\x00\x00\x01bc\x01\x00";
        let f = c.next_frame(buf).unwrap().unwrap();
        assert_eq!((f.seq, f.payload, f.wire_len()), (0, &b"a"[..], 5));
        let f = c.next_frame(&buf[5..]).unwrap().unwrap();
        assert_eq!(f.payload, b"bc");
        assert_eq!(c.next_frame(&buf[11..]).unwrap(), None);
        assert!(c.next_frame(b"\x0b\x00\x00\x02").is_err());
    }

    #[test]
    fn encode_with_matches_encode() {
        for len in [
            0,
            5,
            MAX_FRAME_PAYLOAD - 1,
            MAX_FRAME_PAYLOAD,
            MAX_FRAME_PAYLOAD + 3,
        ] {
            let payload = vec![7u8; len];
            let (mut a, mut b) = (PacketCodec::default(), PacketCodec::default());
            let (mut x, mut y) = (
                BytesMut::from(&b"prefix"[..]),
                BytesMut::from(&b"prefix"[..]),
            );
            a.encode(&payload, &mut x).unwrap();
            b.encode_with(&mut y, |d| d.put_slice(&payload)).unwrap();
            assert!(x == y, "len {len}");
            assert_eq!(a.seq(), b.seq());
        }
        let mut c = PacketCodec::new(3);
        let mut d = BytesMut::from(&b"ab"[..]);
        assert!(c.encode_with(&mut d, |d| d.put_slice(b"long")).is_err());
        assert_eq!(&d[..], b"ab");
    }

    #[test]
    fn sequence_wraps() {
        let mut c = PacketCodec::default();
        c.set_seq(255);
        let mut buf = BytesMut::new();
        c.encode(b"a", &mut buf).unwrap();
        assert_eq!(c.seq(), 0);
    }
}
