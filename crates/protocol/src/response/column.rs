//! Result set metadata: the column-count packet, column definitions, and the
//! LOCAL INFILE request that can stand in place of a result set.

use bitflags::bitflags;
use bytes::{BufMut, BytesMut};

use super::LOCAL_INFILE_HEADER;
use crate::error::{Error, Result};
use crate::flags::CapabilityFlags;
use crate::value::ColumnType;
use crate::wire::{Reader, WriteExt};

bitflags! {
    /// Column flags in a column definition.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct ColumnFlags: u16 {
        /// NOT NULL.
        const NOT_NULL = 1;
        /// Part of the primary key.
        const PRI_KEY = 1 << 1;
        /// Part of a unique key.
        const UNIQUE_KEY = 1 << 2;
        /// Part of a non-unique key.
        const MULTIPLE_KEY = 1 << 3;
        /// A BLOB or TEXT column.
        const BLOB = 1 << 4;
        /// UNSIGNED.
        const UNSIGNED = 1 << 5;
        /// ZEROFILL.
        const ZEROFILL = 1 << 6;
        /// Binary collation.
        const BINARY = 1 << 7;
        /// ENUM.
        const ENUM = 1 << 8;
        /// AUTO_INCREMENT.
        const AUTO_INCREMENT = 1 << 9;
        /// TIMESTAMP.
        const TIMESTAMP = 1 << 10;
        /// SET.
        const SET = 1 << 11;
        /// No default value.
        const NO_DEFAULT_VALUE = 1 << 12;
        /// ON UPDATE NOW().
        const ON_UPDATE_NOW = 1 << 13;
        /// A numeric column.
        const NUM = 1 << 15;
    }
}

/// Decodes the column count at the start of a column-count packet (the first
/// packet of a result set); a "metadata follows" byte after it, present with
/// CLIENT_OPTIONAL_RESULTSET_METADATA or MARIADB_CLIENT_CACHE_METADATA, is left alone.
pub fn decode_column_count(payload: &[u8]) -> Result<u64> {
    Reader::new(payload).lenenc_int()
}

/// Column Definition 41.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ColumnDefinition {
    /// Schema name.
    pub schema: Vec<u8>,
    /// Table alias.
    pub table: Vec<u8>,
    /// Physical table name.
    pub org_table: Vec<u8>,
    /// Column alias: the name a client sees.
    pub name: Vec<u8>,
    /// Physical column name.
    pub org_name: Vec<u8>,
    /// MariaDB extended type info (MARIADB_CLIENT_EXTENDED_TYPE_INFO), raw.
    pub extended_type_info: Option<Vec<u8>>,
    /// Collation id of the values.
    pub charset: u16,
    /// Maximum display length.
    pub column_length: u32,
    /// Column type.
    pub column_type: ColumnType,
    /// Column flags.
    pub flags: ColumnFlags,
    /// Decimals for numeric and temporal types.
    pub decimals: u8,
    /// The default value, present only in COM_FIELD_LIST responses: `None`
    /// when absent, `Some(None)` for a NULL default (sent as 0xFB).
    pub default_values: Option<Option<Vec<u8>>>,
}

impl ColumnDefinition {
    /// A VARCHAR column called `name` with the given collation, as the proxy
    /// uses for result sets it builds.
    pub fn varchar(name: &str, charset: u16, column_length: u32) -> Self {
        Self {
            name: name.as_bytes().to_vec(),
            charset,
            column_length,
            column_type: ColumnType::VarString,
            ..Self::default()
        }
    }

    /// Decodes a column definition payload.
    pub fn decode(payload: &[u8], caps: CapabilityFlags) -> Result<Self> {
        let mut r = Reader::new(payload);
        let _catalog = r.lenenc_bytes()?;
        let schema = r.lenenc_bytes()?.to_vec();
        let table = r.lenenc_bytes()?.to_vec();
        let org_table = r.lenenc_bytes()?.to_vec();
        let name = r.lenenc_bytes()?.to_vec();
        let org_name = r.lenenc_bytes()?.to_vec();
        let extended_type_info =
            if caps.contains(CapabilityFlags::MARIADB_CLIENT_EXTENDED_TYPE_INFO) {
                Some(r.lenenc_bytes()?.to_vec())
            } else {
                None
            };
        let fixed = r.lenenc_len()?;
        let mut f = Reader::new(r.bytes(fixed)?);
        let charset = f.u16()?;
        let column_length = f.u32()?;
        let column_type = ColumnType::from_u8(f.u8()?);
        let flags = ColumnFlags::from_bits_retain(f.u16()?);
        let decimals = f.u8()?;
        let default_values = if r.is_empty() {
            None
        } else {
            Some(r.lenenc_bytes_or_null()?.map(<[u8]>::to_vec))
        };
        Ok(Self {
            schema,
            table,
            org_table,
            name,
            org_name,
            extended_type_info,
            charset,
            column_length,
            column_type,
            flags,
            decimals,
            default_values,
        })
    }

    /// Appends the payload to `dst`.
    pub fn encode(&self, caps: CapabilityFlags, dst: &mut BytesMut) {
        dst.put_lenenc_bytes(b"def");
        dst.put_lenenc_bytes(&self.schema);
        dst.put_lenenc_bytes(&self.table);
        dst.put_lenenc_bytes(&self.org_table);
        dst.put_lenenc_bytes(&self.name);
        dst.put_lenenc_bytes(&self.org_name);
        if caps.contains(CapabilityFlags::MARIADB_CLIENT_EXTENDED_TYPE_INFO) {
            dst.put_lenenc_bytes(self.extended_type_info.as_deref().unwrap_or_default());
        }
        dst.put_u8(0x0C);
        dst.put_u16_le(self.charset);
        dst.put_u32_le(self.column_length);
        dst.put_u8(self.column_type.as_u8());
        dst.put_u16_le(self.flags.bits());
        dst.put_u8(self.decimals);
        dst.put_u16_le(0);
        match &self.default_values {
            Some(Some(d)) => dst.put_lenenc_bytes(d),
            Some(None) => dst.put_u8(0xFB),
            None => {}
        }
    }
}

/// The server asks the client to send a file (`LOAD DATA LOCAL INFILE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalInfileRequest {
    /// The file name the statement named.
    pub filename: Vec<u8>,
}

impl LocalInfileRequest {
    /// Decodes the payload (first byte 0xFB).
    pub fn decode(payload: &[u8]) -> Result<Self> {
        match payload.split_first() {
            Some((&LOCAL_INFILE_HEADER, name)) => Ok(Self {
                filename: name.to_vec(),
            }),
            Some((&byte, _)) => Err(Error::UnexpectedHeader {
                what: "LOCAL INFILE request",
                byte,
            }),
            None => Err(Error::Truncated { need: 1, have: 0 }),
        }
    }

    /// Appends the payload to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_u8(LOCAL_INFILE_HEADER);
        dst.put_slice(&self.filename);
    }
}
