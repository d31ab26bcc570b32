//! Builders for whole responses the proxy writes itself.

use bytes::BytesMut;

use super::{ColumnDefinition, EofPacket, OkPacket, TextRow};
use crate::collation::UTF8MB4_GENERAL_CI;
use crate::error::Result;
use crate::flags::{CapabilityFlags, StatusFlags};
use crate::framing::PacketCodec;
use crate::wire::WriteExt;

/// A text result set built from column names and rows of optional strings,
/// e.g. for `SELECT @@version_comment` or an admin command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextResultSet {
    /// Column definitions.
    pub columns: Vec<ColumnDefinition>,
    /// Rows; `None` is SQL NULL.
    pub rows: Vec<Vec<Option<String>>>,
}

impl TextResultSet {
    /// VARCHAR utf8mb4 columns named `names`, holding `rows`.
    pub fn new(names: &[&str], rows: Vec<Vec<Option<String>>>) -> Self {
        let columns = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let widest = rows
                    .iter()
                    .filter_map(|r| r.get(i).and_then(|v| v.as_ref()).map(String::len))
                    .max()
                    .unwrap_or(0);
                let len = u32::try_from(widest.max(1) * 4).unwrap_or(u32::MAX);
                ColumnDefinition::varchar(n, UTF8MB4_GENERAL_CI, len)
            })
            .collect();
        Self { columns, rows }
    }

    /// Writes the whole result set as framed packets to `dst`, ending with
    /// `status`: column count, definitions, EOF (unless CLIENT_DEPRECATE_EOF),
    /// rows, then EOF or an OK with header 0xFE.
    ///
    /// The codec's sequence id must already be that of the first response
    /// packet (1 after a command).
    pub fn write(
        &self,
        caps: CapabilityFlags,
        status: StatusFlags,
        codec: &mut PacketCodec,
        dst: &mut BytesMut,
    ) -> Result<()> {
        let deprecate_eof = caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF);
        let eof = EofPacket {
            warnings: 0,
            status,
        };
        codec.encode_with(dst, |p| p.put_lenenc_int(self.columns.len() as u64))?;
        for c in &self.columns {
            codec.encode_with(dst, |p| c.encode(caps, p))?;
        }
        if !deprecate_eof {
            codec.encode_with(dst, |p| eof.encode(caps, p))?;
        }
        for row in &self.rows {
            codec.encode_with(dst, |p| {
                TextRow::encode(row.iter().map(|v| v.as_deref().map(str::as_bytes)), p)
            })?;
        }
        codec.encode_with(dst, |p| {
            if deprecate_eof {
                OkPacket {
                    status,
                    ..OkPacket::default()
                }
                .encode_as_eof(caps, p);
            } else {
                eof.encode(caps, p);
            }
        })
    }
}
