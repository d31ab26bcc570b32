//! The crate's one error type.
//!
//! Every decoder of untrusted bytes returns [`Error`] instead of panicking; each
//! variant carries the data needed to say what was wrong.

/// Everything that can go wrong while framing, decoding or authenticating.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The payload ended before a field was complete.
    #[error("truncated packet: need {need} more bytes, have {have}")]
    Truncated {
        /// Bytes the field needed.
        need: usize,
        /// Bytes that were left.
        have: usize,
    },
    /// A packet (after reassembly) is larger than the configured maximum.
    #[error("packet of {len} bytes exceeds the maximum of {max}")]
    PacketTooLarge {
        /// Length of the packet (or of the part seen so far).
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A packet arrived with an unexpected sequence id.
    #[error("packet sequence mismatch: expected {expected}, got {got}")]
    SequenceMismatch {
        /// The sequence id the codec expected.
        expected: u8,
        /// The sequence id on the wire.
        got: u8,
    },
    /// A packet started with a byte that is not valid for the packet type.
    #[error("unexpected header byte {byte:#04x} for {what}")]
    UnexpectedHeader {
        /// The packet being decoded.
        what: &'static str,
        /// The byte found.
        byte: u8,
    },
    /// A NUL-terminated string had no terminator.
    #[error("missing NUL terminator in {what}")]
    MissingNul {
        /// The field being decoded.
        what: &'static str,
    },
    /// A length-encoded integer started with 0xFF (or 0xFB where NULL is not allowed).
    #[error("invalid length-encoded integer prefix {0:#04x}")]
    InvalidLenEnc(u8),
    /// A length does not fit in memory on this platform.
    #[error("length {0} does not fit in usize")]
    LengthOverflow(u64),
    /// The handshake announced a protocol version other than 10.
    #[error("unsupported protocol version {0}")]
    UnsupportedProtocolVersion(u8),
    /// A field held a value outside its domain.
    #[error("invalid {what}: {value}")]
    InvalidValue {
        /// The field being decoded.
        what: &'static str,
        /// The offending value.
        value: u64,
    },
    /// Bytes were left over after a packet that must be consumed entirely.
    #[error("{len} trailing bytes after {what}")]
    TrailingBytes {
        /// The packet being decoded.
        what: &'static str,
        /// Number of bytes left over.
        len: usize,
    },
    /// The response state machine saw a packet that cannot appear in its state.
    #[error("unexpected packet {byte:#04x} while {state}")]
    UnexpectedPacket {
        /// What the state machine was waiting for.
        state: &'static str,
        /// The packet's first byte.
        byte: u8,
    },
    /// The peer asked for an authentication plugin this crate cannot speak.
    #[error("unsupported authentication plugin {name:?}")]
    UnsupportedAuthPlugin {
        /// The plugin name as sent.
        name: String,
    },
    /// A public/private key or an RSA operation failed during authentication.
    #[error("{op} failed: {reason}")]
    Crypto {
        /// The operation (e.g. "RSA-OAEP encrypt").
        op: &'static str,
        /// The underlying library's message.
        reason: String,
    },
}

/// Shorthand used by every module of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
