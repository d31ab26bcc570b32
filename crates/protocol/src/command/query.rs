//! COM_QUERY and its query attributes (CLIENT_QUERY_ATTRIBUTES, MySQL 8.0.23+).

use bytes::{BufMut, BytesMut};

use crate::error::{Error, Result};
use crate::flags::CapabilityFlags;
use crate::value::{ColumnType, Value, is_null, null_bitmap};
use crate::wire::{Reader, WriteExt};

/// One query attribute: a named, typed value sent alongside the statement.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryAttribute<'a> {
    /// Attribute name.
    pub name: &'a [u8],
    /// Declared type.
    pub ty: ColumnType,
    /// Declared unsigned flag.
    pub unsigned: bool,
    /// The value ([`Value::Null`] when the null bitmap says so).
    pub value: Value<'a>,
}

/// COM_QUERY: the statement text and, when negotiated, its attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Query<'a> {
    /// Query attributes; empty when none were sent or not negotiated.
    pub attributes: Vec<QueryAttribute<'a>>,
    /// The statement text (not inspected by this crate).
    pub sql: &'a [u8],
}

impl<'a> Query<'a> {
    /// Decodes the body of COM_QUERY (after the 0x03 byte).
    pub fn decode_body(body: &'a [u8], caps: CapabilityFlags) -> Result<Self> {
        if !caps.contains(CapabilityFlags::CLIENT_QUERY_ATTRIBUTES) {
            return Ok(Self {
                attributes: Vec::new(),
                sql: body,
            });
        }
        let mut r = Reader::new(body);
        let count = r.lenenc_len()?;
        let _set_count = r.lenenc_int()?;
        let mut attributes = Vec::new();
        if count > 0 {
            // Every attribute needs at least 3 bytes of type and name; reject
            // absurd counts before allocating for them.
            if count > r.remaining() {
                return Err(Error::Truncated {
                    need: count,
                    have: r.remaining(),
                });
            }
            let bitmap = null_bitmap(&mut r, count, 0)?;
            if r.u8()? != 1 {
                return Err(Error::InvalidValue {
                    what: "query attributes without types (new_params_bind_flag)",
                    value: 0,
                });
            }
            attributes.reserve(count);
            for _ in 0..count {
                let ty = r.u8()?;
                let flags = r.u8()?;
                let name = r.lenenc_bytes()?;
                attributes.push(QueryAttribute {
                    name,
                    ty: ColumnType::from_u8(ty),
                    unsigned: flags & 0x80 != 0,
                    value: Value::Null,
                });
            }
            for (i, a) in attributes.iter_mut().enumerate() {
                if !is_null(bitmap, i, 0) {
                    a.value = Value::read(&mut r, a.ty, a.unsigned)?;
                }
            }
        }
        Ok(Self {
            attributes,
            sql: r.rest(),
        })
    }

    /// Appends the body (without the command byte) to `dst`.
    pub fn encode_body(&self, caps: CapabilityFlags, dst: &mut BytesMut) {
        if caps.contains(CapabilityFlags::CLIENT_QUERY_ATTRIBUTES) {
            let n = self.attributes.len();
            dst.put_lenenc_int(n as u64);
            dst.put_lenenc_int(1);
            if n > 0 {
                let mut bitmap = vec![0u8; n.div_ceil(8)];
                for (i, a) in self.attributes.iter().enumerate() {
                    if a.value == Value::Null
                        && let Some(b) = bitmap.get_mut(i / 8)
                    {
                        *b |= 1 << (i % 8);
                    }
                }
                dst.put_slice(&bitmap);
                dst.put_u8(1);
                for a in &self.attributes {
                    dst.put_u8(a.ty.as_u8());
                    dst.put_u8(if a.unsigned { 0x80 } else { 0 });
                    dst.put_lenenc_bytes(a.name);
                }
                for a in &self.attributes {
                    a.value.write(dst);
                }
            }
        }
        dst.put_slice(self.sql);
    }
}
