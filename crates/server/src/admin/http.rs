//! Small HTTP helpers of the admin API: bearer-token checks and query-string decoding.

/// Whether `header` (the `Authorization` value) carries `Bearer <token>`. The token comparison
/// takes the same time wherever the first difference is.
pub fn token_ok(header: Option<&[u8]>, token: &str) -> bool {
    let Some(header) = header else {
        return false;
    };
    let Some(given) = header.strip_prefix(b"Bearer ") else {
        return false;
    };
    constant_time_eq(given, token.as_bytes())
}

/// Compares two byte strings without stopping at the first difference (only their lengths
/// leak).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The value of `name` in a query string (`a=1&sql=SELECT+1`), percent-decoded, with `+` as a
/// space. `None` when the parameter is absent; invalid UTF-8 is replaced.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

/// Decodes `%XX` escapes and `+`; a `%` not followed by two hex digits stays as it is.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        assert!(token_ok(Some(b"Bearer s3cret"), "s3cret"));
        assert!(!token_ok(Some(b"Bearer s3creT"), "s3cret"));
        assert!(!token_ok(Some(b"Bearer s3cret "), "s3cret"));
        assert!(!token_ok(Some(b"Bearer "), "s3cret"));
        assert!(!token_ok(Some(b"Basic s3cret"), "s3cret"));
        assert!(!token_ok(Some(b"s3cret"), "s3cret"));
        assert!(!token_ok(None, "s3cret"));
    }

    #[test]
    fn query_strings_are_decoded() {
        assert_eq!(
            query_param("sql=SELECT+*+FROM+t%20WHERE+a%3D1", "sql").as_deref(),
            Some("SELECT * FROM t WHERE a=1")
        );
        assert_eq!(
            query_param("x=1&sql=%27%C3%A9%27", "sql").as_deref(),
            Some("'é'")
        );
        assert_eq!(query_param("sql=", "sql").as_deref(), Some(""));
        assert_eq!(query_param("sql", "sql").as_deref(), Some(""));
        assert_eq!(query_param("other=1", "sql"), None);
        assert_eq!(query_param("", "sql"), None);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("a%2Bb"), "a+b");
    }
}
