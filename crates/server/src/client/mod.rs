//! The client side: what the proxy offers applications and how it lets them in.
pub mod handshake;

use crate::io::PacketIo;
use crate::tls::ClientStream;
use splitrail_protocol::CapabilityFlags;
use splitrail_protocol::flags::SUPPORTED_CAPABILITIES;

/// A client connection.
pub type ClientIo = PacketIo<ClientStream>;

/// The capabilities the proxy offers clients. Each one is either relayed as is, keyed in the
/// backend pools (FOUND_ROWS, DEPRECATE_EOF) or handled by the proxy (MULTI_STATEMENTS,
/// SESSION_TRACK). CLIENT_SSL is added when `tls.client` is configured; compression and query
/// attributes are not offered.
pub const OFFERED_CAPABILITIES: CapabilityFlags = SUPPORTED_CAPABILITIES
    .difference(CapabilityFlags::CLIENT_SSL)
    .difference(CapabilityFlags::CLIENT_QUERY_ATTRIBUTES);
