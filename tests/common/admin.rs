//! The admin HTTP client: one HTTP/1.1 request per connection (`Connection: close`) to a
//! proxy's admin API, and its answer.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// An answer: status code, headers (lower-case names) and body.
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The header block, lower-cased.
    pub headers: String,
    /// The body.
    pub body: String,
}

impl Answer {
    /// The body as JSON, panicking when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends `method path` to the admin API, with `Authorization: Bearer token` when given.
pub fn request(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> Answer {
    let mut stream = TcpStream::connect(addr)
        .unwrap_or_else(|e| panic!("connecting to the admin API on {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap_or_else(|e| panic!("setting a read timeout: {e}"));
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap_or_else(|e| panic!("sending {method} {path}: {e}"));
    let mut raw = String::new();
    stream
        .read_to_string(&mut raw)
        .unwrap_or_else(|e| panic!("reading the answer to {method} {path}: {e}"));
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header block in the answer to {method} {path}: {raw}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    Answer {
        status,
        headers: head.to_lowercase(),
        body: body.to_string(),
    }
}

/// `GET path` without a token.
pub fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path, None)
}

/// The value of an unlabelled counter in the `/metrics` of the admin API at `addr`.
pub fn counter(addr: SocketAddr, name: &str) -> u64 {
    let text = get(addr, "/metrics").body;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}
