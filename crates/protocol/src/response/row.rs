//! Result rows, kept as `Bytes` and decoded only on demand.

use bytes::{BufMut, Bytes, BytesMut};

use super::ColumnDefinition;
use super::column::ColumnFlags;
use crate::error::{Error, Result};
use crate::value::{Value, is_null, null_bitmap};
use crate::wire::{Reader, WriteExt};

/// A text-protocol row (COM_QUERY): a sequence of length-encoded strings,
/// 0xFB for NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRow {
    /// The undecoded payload.
    pub payload: Bytes,
}

impl TextRow {
    /// Wraps a row payload; nothing is decoded yet.
    pub fn new(payload: Bytes) -> Self {
        Self { payload }
    }

    /// Iterates over the values: `Some(bytes)` or `None` for NULL.
    pub fn values(&self) -> TextValues<'_> {
        TextValues {
            r: Reader::new(&self.payload),
            failed: false,
        }
    }

    /// Decodes all values.
    pub fn decode_all(&self) -> Result<Vec<Option<&[u8]>>> {
        self.values().collect()
    }

    /// Appends a text row built from `values` to `dst`.
    pub fn encode<'v>(values: impl IntoIterator<Item = Option<&'v [u8]>>, dst: &mut BytesMut) {
        for v in values {
            match v {
                Some(b) => dst.put_lenenc_bytes(b),
                None => dst.put_u8(0xFB),
            }
        }
    }
}

/// Iterator over the values of a [`TextRow`]; stops after the first error.
#[derive(Debug)]
pub struct TextValues<'a> {
    r: Reader<'a>,
    failed: bool,
}

impl<'a> Iterator for TextValues<'a> {
    type Item = Result<Option<&'a [u8]>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.r.is_empty() {
            return None;
        }
        let v = self.r.lenenc_bytes_or_null();
        self.failed = v.is_err();
        Some(v)
    }
}

/// A binary-protocol row (COM_STMT_EXECUTE / COM_STMT_FETCH): header 0x00, a
/// null bitmap with a 2-bit offset, then the non-NULL values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryRow {
    /// The undecoded payload.
    pub payload: Bytes,
}

impl BinaryRow {
    /// Wraps a row payload; nothing is decoded yet.
    pub fn new(payload: Bytes) -> Self {
        Self { payload }
    }

    /// Decodes all values; the column definitions give their types.
    pub fn decode_all(&self, columns: &[ColumnDefinition]) -> Result<Vec<Value<'_>>> {
        let mut r = Reader::new(&self.payload);
        let h = r.u8()?;
        if h != 0 {
            return Err(Error::UnexpectedHeader {
                what: "binary row",
                byte: h,
            });
        }
        let bitmap = null_bitmap(&mut r, columns.len(), 2)?;
        let mut out = Vec::with_capacity(columns.len());
        for (i, c) in columns.iter().enumerate() {
            if is_null(bitmap, i, 2) {
                out.push(Value::Null);
            } else {
                let unsigned = c.flags.contains(ColumnFlags::UNSIGNED);
                out.push(Value::read(&mut r, c.column_type, unsigned)?);
            }
        }
        Ok(out)
    }

    /// Appends a binary row to `dst`; each value is written in the encoding of
    /// its own [`Value::column_type`], so the columns must be declared with
    /// those types.
    pub fn encode(values: &[Value<'_>], dst: &mut BytesMut) {
        dst.put_u8(0);
        let mut bitmap = vec![0u8; (values.len() + 2).div_ceil(8)];
        for (i, v) in values.iter().enumerate() {
            if *v == Value::Null
                && let Some(b) = bitmap.get_mut((i + 2) / 8)
            {
                *b |= 1 << ((i + 2) % 8);
            }
        }
        dst.put_slice(&bitmap);
        for v in values {
            v.write(dst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_row_values() {
        let row = TextRow::new(Bytes::from_static(b"\x011\xfb\x03abc"));
        assert_eq!(
            row.decode_all().unwrap(),
            [Some(&b"1"[..]), None, Some(&b"abc"[..])]
        );
        let bad = TextRow::new(Bytes::from_static(b"\x05ab"));
        assert!(bad.decode_all().is_err());
    }
}
