//! Primitive wire encodings: fixed-width little-endian integers, length-encoded
//! integers and strings, NUL-terminated strings.
//!
//! [`Reader`] is the only way decoders in this crate read untrusted bytes: every
//! read is checked and returns [`Error::Truncated`] instead of panicking. The
//! extraction itself is done with `nom`'s complete-input parsers.

use bytes::BufMut;
use nom::IResult;

use crate::error::{Error, Result};

type NomErr<'a> = nom::error::Error<&'a [u8]>;

/// A checked cursor over a borrowed payload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

fn run<'a, T>(
    r: &mut Reader<'a>,
    need: usize,
    parser: impl FnOnce(&'a [u8]) -> IResult<&'a [u8], T, NomErr<'a>>,
) -> Result<T> {
    match parser(r.buf) {
        Ok((rest, v)) => {
            r.buf = rest;
            Ok(v)
        }
        Err(_) => Err(Error::Truncated {
            need,
            have: r.buf.len(),
        }),
    }
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// True when everything has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next byte without consuming it.
    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        run(self, 1, nom::number::complete::le_u8)
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        run(self, 2, nom::number::complete::le_u16)
    }

    pub(crate) fn u24(&mut self) -> Result<u32> {
        run(self, 3, nom::number::complete::le_u24)
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        run(self, 4, nom::number::complete::le_u32)
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        run(self, 8, nom::number::complete::le_u64)
    }

    /// Exactly `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        run(self, n, nom::bytes::complete::take(n))
    }

    /// Everything that is left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// A length-encoded integer (0xFB, NULL, is rejected here).
    pub(crate) fn lenenc_int(&mut self) -> Result<u64> {
        match self.lenenc_int_or_null()? {
            Some(v) => Ok(v),
            None => Err(Error::InvalidLenEnc(0xFB)),
        }
    }

    /// A length-encoded integer where 0xFB means SQL NULL (text rows).
    pub(crate) fn lenenc_int_or_null(&mut self) -> Result<Option<u64>> {
        let first = self.u8()?;
        Ok(Some(match first {
            0..=0xFA => u64::from(first),
            0xFB => return Ok(None),
            0xFC => u64::from(self.u16()?),
            0xFD => u64::from(self.u24()?),
            0xFE => self.u64()?,
            0xFF => return Err(Error::InvalidLenEnc(first)),
        }))
    }

    /// A length as `usize`, checked against what is left so that a huge
    /// announced length fails as `Truncated` rather than allocating.
    pub(crate) fn lenenc_len(&mut self) -> Result<usize> {
        let n = self.lenenc_int()?;
        usize::try_from(n).map_err(|_| Error::LengthOverflow(n))
    }

    /// A length-encoded string.
    pub(crate) fn lenenc_bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.lenenc_len()?;
        self.bytes(n)
    }

    /// A length-encoded string or NULL (0xFB).
    pub(crate) fn lenenc_bytes_or_null(&mut self) -> Result<Option<&'a [u8]>> {
        match self.lenenc_int_or_null()? {
            None => Ok(None),
            Some(n) => {
                let n = usize::try_from(n).map_err(|_| Error::LengthOverflow(n))?;
                self.bytes(n).map(Some)
            }
        }
    }

    /// A NUL-terminated string; the NUL is consumed but not returned.
    pub(crate) fn nul_bytes(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let found: IResult<&'a [u8], &'a [u8], NomErr<'a>> =
            nom::bytes::complete::take_until(&b"\0"[..])(self.buf);
        match found {
            Ok((rest, s)) => {
                self.buf = rest.get(1..).unwrap_or_default();
                Ok(s)
            }
            Err(_) => Err(Error::MissingNul { what }),
        }
    }

    /// A NUL-terminated string whose terminator may be missing at the end of
    /// the packet (some servers omit it after the auth plugin name).
    pub(crate) fn nul_bytes_or_rest(&mut self) -> &'a [u8] {
        match self.nul_bytes("") {
            Ok(s) => s,
            Err(_) => self.rest(),
        }
    }
}

/// Writing helpers for the wire encodings; writing into `BytesMut` grows the
/// buffer, so none of these can fail.
pub(crate) trait WriteExt: BufMut {
    /// A length-encoded integer.
    fn put_lenenc_int(&mut self, v: u64) {
        if v < 0xFB {
            self.put_u8(v as u8);
        } else if v <= 0xFFFF {
            self.put_u8(0xFC);
            self.put_u16_le(v as u16);
        } else if v <= 0xFF_FFFF {
            self.put_u8(0xFD);
            self.put_uint_le(v, 3);
        } else {
            self.put_u8(0xFE);
            self.put_u64_le(v);
        }
    }

    /// A length-encoded string.
    fn put_lenenc_bytes(&mut self, b: &[u8]) {
        self.put_lenenc_int(b.len() as u64);
        self.put_slice(b);
    }

    /// A NUL-terminated string.
    fn put_nul_bytes(&mut self, b: &[u8]) {
        self.put_slice(b);
        self.put_u8(0);
    }
}

impl<T: BufMut + ?Sized> WriteExt for T {}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn lenenc_boundaries_round_trip() {
        for v in [
            0,
            0xFA,
            0xFB,
            0xFFFF,
            0x1_0000,
            0xFF_FFFF,
            0x100_0000,
            u64::MAX,
        ] {
            let mut b = BytesMut::new();
            b.put_lenenc_int(v);
            let mut r = Reader::new(&b);
            assert_eq!(r.lenenc_int().unwrap(), v);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn truncated_reads_are_errors() {
        let mut r = Reader::new(&[0xFC, 1]);
        assert_eq!(r.lenenc_int(), Err(Error::Truncated { need: 2, have: 1 }));
        let mut r = Reader::new(&[5, b'a']);
        assert_eq!(r.lenenc_bytes(), Err(Error::Truncated { need: 5, have: 1 }));
        let mut r = Reader::new(b"abc");
        assert_eq!(r.nul_bytes("x"), Err(Error::MissingNul { what: "x" }));
        assert_eq!(
            Reader::new(&[0xFF]).lenenc_int(),
            Err(Error::InvalidLenEnc(0xFF))
        );
    }
}
