//! `GET /`: the dashboard, one HTML page with its CSS and JS compiled into the binary
//! (`dashboard/page.{html,css,js}`). The page polls `/status`, `/sessions` and `/digests` and
//! calls the drain / enable endpoints; it loads nothing from anywhere else.
//!
//! A browser cannot send a bearer header when it navigates, so when `admin.token` is set the
//! page itself is also served for `/?token=<token>`; its script reads the token from its own
//! address and sends it as `Authorization: Bearer` on every request. Only `/` takes the token
//! as a parameter; the API endpoints still want the header.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CACHE_CONTROL, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};

/// The page: HTML, then its style and script inline.
const PAGE: &str = concat!(
    include_str!("dashboard/page.html"),
    "<style>\n",
    include_str!("dashboard/page.css"),
    "</style>\n<script>\n",
    include_str!("dashboard/page.js"),
    "</script>\n</body>\n</html>\n"
);

/// What the page may load: its own inline style and script, and requests to this origin.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Whether `query` carries `token=<token>` (compared in constant time).
pub fn query_token_ok(query: Option<&str>, token: &str) -> bool {
    query
        .and_then(|q| super::http::query_param(q, "token"))
        .is_some_and(|given| super::http::constant_time_eq(given.as_bytes(), token.as_bytes()))
}

/// The page, not cached (a token in the address stays out of caches) and sent nowhere as a
/// referrer.
pub fn page() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(PAGE.as_bytes())));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    let fixed = [
        (hyper::header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (CACHE_CONTROL, "no-store"),
        (hyper::header::REFERRER_POLICY, "no-referrer"),
        (hyper::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            HeaderName::from_static("content-security-policy"),
            CONTENT_SECURITY_POLICY,
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_whole_and_carries_the_markers_the_browser_test_reads() {
        assert!(PAGE.starts_with("<!doctype html>"));
        assert!(PAGE.trim_end().ends_with("</html>"));
        for marker in [
            "id=\"servers\"",
            "id=\"digests\"",
            "id=\"sessions\"",
            "id=\"routing\"",
            "data-server",
            "data-digest",
            "data-state",
        ] {
            assert!(PAGE.contains(marker), "{marker}");
        }
        // Nothing is loaded from elsewhere.
        for loads in ["src=", "href=", "@import", "url("] {
            assert!(!PAGE.contains(loads), "{loads}");
        }
    }

    #[test]
    fn the_token_parameter() {
        assert!(query_token_ok(Some("token=s3cret"), "s3cret"));
        assert!(query_token_ok(Some("a=1&token=s%33cret"), "s3cret"));
        assert!(!query_token_ok(Some("token=s3cre"), "s3cret"));
        assert!(!query_token_ok(Some("tokens=s3cret"), "s3cret"));
        assert!(!query_token_ok(None, "s3cret"));
    }
}
