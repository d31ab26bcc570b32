//! Server responses: OK, ERR, EOF, LOCAL INFILE requests, column definitions,
//! text and binary rows, the error codes a proxy answers with, and builders
//! for responses the proxy writes itself.
//!
//! Rows stay as `Bytes` with lazy accessors; the hot path that relays results
//! does not decode them at all (see [`crate::tracker`]).

mod builder;
mod codes;
mod column;
mod err;
mod ok;
mod row;

pub use builder::TextResultSet;
pub use codes::{ErrorCode, code};
pub use column::{ColumnDefinition, ColumnFlags, LocalInfileRequest, decode_column_count};
pub use err::{EofPacket, ErrPacket, is_progress_report};
pub use ok::{OkPacket, SessionStateChange};
pub use row::{BinaryRow, TextRow};

/// First byte of an OK packet.
pub const OK_HEADER: u8 = 0x00;
/// First byte of an ERR packet.
pub const ERR_HEADER: u8 = 0xFF;
/// First byte of an EOF packet, and of the OK that replaces it with CLIENT_DEPRECATE_EOF.
pub const EOF_HEADER: u8 = 0xFE;
/// First byte of a LOCAL INFILE request.
pub const LOCAL_INFILE_HEADER: u8 = 0xFB;

/// True when a packet starting with 0xFE is an EOF (or an OK in EOF's place)
/// rather than a row whose first value has a 9-byte length: a row like that
/// is at least 16 MiB − 1 long, EOF and OK packets are always shorter.
pub fn is_eof_like(first: u8, len: usize) -> bool {
    first == EOF_HEADER && len < crate::framing::MAX_FRAME_PAYLOAD
}
