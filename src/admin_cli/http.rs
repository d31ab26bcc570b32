//! The admin commands' HTTP/1.1 client: one request per connection (`Connection: close`) over a
//! `std::net::TcpStream`, with the bearer token when one is given, and the answer's status and
//! body. A blocking socket and a few lines of parsing are all one request from a command line
//! needs; the admin API answers with a `Content-Length` (chunked bodies are decoded as well).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::time::Duration;

use super::CliError;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the answer may take (a reload reads and checks the file).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// An answer: its status code and body.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// Sends `method path` to the admin API at `admin` (`host:port`).
pub fn request(
    admin: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> Result<Answer, CliError> {
    let mut stream = connect(admin)?;
    let io = |e: std::io::Error| CliError::Io {
        admin: admin.to_string(),
        source: e,
    };
    stream.set_read_timeout(Some(ANSWER_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(ANSWER_TIMEOUT)).map_err(io)?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {admin}\r\n{auth}Accept: application/json\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io)?;
    parse(&raw).ok_or_else(|| CliError::BadAnswer {
        admin: admin.to_string(),
        what: "not an HTTP/1.1 answer".to_string(),
    })
}

/// Connects to the first address `admin` resolves to that answers.
fn connect(admin: &str) -> Result<TcpStream, CliError> {
    let refused = |source| CliError::Connect {
        admin: admin.to_string(),
        source,
    };
    let addrs: Vec<SocketAddr> = admin.to_socket_addrs().map_err(refused)?.collect();
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(refused(last))
}

/// Splits an answer into status and body; `None` when it is not HTTP/1.x.
fn parse(raw: &[u8]) -> Option<Answer> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let rest = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    if !status_line.starts_with("HTTP/1.") {
        return None;
    }
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().ok()?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
    }
    let body = if chunked {
        dechunk(rest)?
    } else {
        match length {
            Some(n) => rest.get(..n)?.to_vec(),
            None => rest.to_vec(),
        }
    };
    Some(Answer { status, body })
}

/// Decodes a chunked body; `None` when it is malformed or cut short.
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// Escapes what a path segment cannot hold as it is (a server address, `[::1]:3306`).
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_with_a_length_chunked_or_neither() {
        let a = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").expect("parses");
        assert_eq!((a.status, a.body.as_slice()), (200, &b"{}"[..]));
        let a = parse(b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n1;x=y\r\nd\r\n0\r\n\r\n")
            .expect("parses");
        assert_eq!((a.status, a.body.as_slice()), (404, &b"abcd"[..]));
        let a = parse(b"HTTP/1.0 401 Unauthorized\r\n\r\nrest").expect("parses");
        assert_eq!((a.status, a.body.as_slice()), (401, &b"rest"[..]));
        assert!(parse(b"SSH-2.0-OpenSSH\r\n\r\n").is_none());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_none());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_none());
        assert!(parse(b"HTTP/1.1 200 OK").is_none());
    }

    #[test]
    fn addresses_in_paths() {
        assert_eq!(path_segment("10.0.0.2:3306"), "10.0.0.2:3306");
        assert_eq!(path_segment("[::1]:3306"), "%5B::1%5D:3306");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }
}
