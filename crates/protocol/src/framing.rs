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

/// One logical packet: the payload after reassembly and the sequence id of its
/// first frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Sequence id of the first frame of this packet.
    pub seq: u8,
    /// The reassembled payload (zero-copy when the packet was a single frame).
    pub payload: Bytes,
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

    /// Takes one packet off the front of `src`.
    ///
    /// Returns `Ok(None)` when `src` does not yet hold a whole packet; the bytes
    /// already there stay in `src` (frames of a multi-frame packet are moved
    /// into the codec as they complete).
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Packet>> {
        loop {
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
            let total = self.partial.len() + len;
            if total > self.max_packet_size {
                return Err(Error::PacketTooLarge {
                    len: total,
                    max: self.max_packet_size,
                });
            }
            if src.len() < HEADER_LEN + len {
                src.reserve(HEADER_LEN + len - src.len());
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
    fn sequence_wraps() {
        let mut c = PacketCodec::default();
        c.set_seq(255);
        let mut buf = BytesMut::new();
        c.encode(b"a", &mut buf).unwrap();
        assert_eq!(c.seq(), 0);
    }
}
