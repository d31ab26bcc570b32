//! The client side: what the proxy offers applications and how it lets them in.
pub mod handshake;

use crate::io::PacketIo;
use crate::tls::ClientStream;
use splitrail_protocol::CapabilityFlags;

/// A client connection.
pub type ClientIo = PacketIo<ClientStream>;

/// The capabilities the proxy offers clients. Each one is either relayed as is, keyed in the
/// backend pools (FOUND_ROWS, DEPRECATE_EOF) or handled by the proxy (MULTI_STATEMENTS,
/// SESSION_TRACK). CLIENT_SSL is added when `tls.client` is configured; compression and query
/// attributes are not offered.
pub const OFFERED_CAPABILITIES: CapabilityFlags = CapabilityFlags::CLIENT_LONG_PASSWORD
    .union(CapabilityFlags::CLIENT_FOUND_ROWS)
    .union(CapabilityFlags::CLIENT_LONG_FLAG)
    .union(CapabilityFlags::CLIENT_CONNECT_WITH_DB)
    .union(CapabilityFlags::CLIENT_LOCAL_FILES)
    .union(CapabilityFlags::CLIENT_IGNORE_SPACE)
    .union(CapabilityFlags::CLIENT_PROTOCOL_41)
    .union(CapabilityFlags::CLIENT_INTERACTIVE)
    .union(CapabilityFlags::CLIENT_TRANSACTIONS)
    .union(CapabilityFlags::CLIENT_SECURE_CONNECTION)
    .union(CapabilityFlags::CLIENT_MULTI_STATEMENTS)
    .union(CapabilityFlags::CLIENT_MULTI_RESULTS)
    .union(CapabilityFlags::CLIENT_PS_MULTI_RESULTS)
    .union(CapabilityFlags::CLIENT_PLUGIN_AUTH)
    .union(CapabilityFlags::CLIENT_CONNECT_ATTRS)
    .union(CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)
    .union(CapabilityFlags::CLIENT_SESSION_TRACK)
    .union(CapabilityFlags::CLIENT_DEPRECATE_EOF);
