//! The admin HTTP API: an HTTP/1.1 listener on `admin.listen`, on its own thread, answering
//! `GET /` (the dashboard page, `dashboard`), `GET /live`, `/ready` (probes, without the
//! token: see [`probes`]), `/status`, `/sessions`, `/explain?sql=…`, `/digests?limit=N` and
//! `/metrics` (Prometheus text), and `POST /digests/reset`, `/reload`,
//! `/servers/{address}/drain` and `/servers/{address}/enable`. When `admin.token` is set every
//! other request must carry `Authorization: Bearer <token>` (the dashboard page also takes it
//! as `?token=`).
//!
//! It reads what the workers publish: [`Stats`](crate::metrics::Stats) (relaxed atomics written on the statement path
//! and by the pools), the digests, the session registry and the topology; its changes go
//! through [`crate::reload`] and the servers' admission flags. The same runtime polls the
//! configuration file for changes. `docs/operations.md` lists the endpoints and metrics.
pub mod api;
mod dashboard;
pub mod http;
mod metrics;
mod probes;
mod views;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::watch;
use tracing::{debug, warn};

pub use metrics::render_metrics;
pub use views::{explain, listed};

use crate::worker::Shared;

/// What the admin API tells about the running proxy besides the shared state.
#[derive(Debug, Clone)]
pub struct ProxyInfo {
    /// When the proxy started.
    pub started: Instant,
    /// Where MySQL clients connect.
    pub listen: SocketAddr,
    /// Where the admin API listens.
    pub admin: SocketAddr,
}

/// The shutdown signals the admin API follows.
#[derive(Debug, Clone)]
pub struct Signals {
    /// `true` once the proxy drains (stops accepting): `GET /ready` answers 503.
    pub draining: watch::Receiver<bool>,
    /// `true` when the workers are done: the admin API ends.
    pub stop: watch::Receiver<bool>,
}

/// The admin API's state.
#[derive(Debug)]
pub struct Admin {
    shared: Arc<Shared>,
    info: ProxyInfo,
    draining: watch::Receiver<bool>,
}

/// Runs the admin listener on the current thread until the stop signal says `true` (it keeps
/// answering while the proxy drains).
pub fn run(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    info: ProxyInfo,
    signals: Signals,
) {
    let Some(runtime) = crate::worker::thread_runtime("admin API") else {
        return;
    };
    let mut shutdown = signals.stop;
    let admin = Arc::new(Admin {
        shared,
        info,
        draining: signals.draining,
    });
    runtime.block_on(async move {
        tokio::spawn(crate::reload::watch_file(
            admin.shared.clone(),
            shutdown.clone(),
        ));
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                warn!(error = %e, "cannot register the admin listener");
                return;
            }
        };
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let admin = admin.clone();
                        tokio::spawn(async move {
                            let service = hyper::service::service_fn(move |req| {
                                let admin = admin.clone();
                                async move { Ok::<_, Infallible>(admin.handle(&req)) }
                            });
                            if let Err(e) = hyper::server::conn::http1::Builder::new()
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                .await
                            {
                                debug!(error = %e, "admin connection failed");
                            }
                        });
                    }
                    Err(e) => {
                        warn!(error = %e, "admin accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                },
                _ = shutdown.changed() => break,
            }
        }
    });
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json_reply(status: StatusCode, value: &impl serde::Serialize) -> Reply {
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
    body.push(b'\n');
    reply(status, "application/json", body)
}

fn error(status: StatusCode, message: &str) -> Reply {
    json_reply(
        status,
        &api::ErrorReply {
            error: message.to_string(),
            problems: Vec::new(),
        },
    )
}

/// 405 with the methods `path` answers in `Allow`.
fn not_allowed(path: &str, what: &str, allow: &'static str) -> Reply {
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("{path} answers {what}"),
    );
    r.headers_mut()
        .insert(hyper::header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// Shapes `/digests` lists without a `limit`.
const DEFAULT_DIGESTS: usize = 100;

/// The largest `limit` `/digests` takes.
const MAX_DIGESTS_SHOWN: usize = 100_000;

impl Admin {
    /// Answers one request.
    pub fn handle(&self, req: &Request<Incoming>) -> Reply {
        let header = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
        self.answer(req.method(), req.uri().path(), req.uri().query(), header)
    }

    fn answer(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        authorization: Option<&[u8]>,
    ) -> Reply {
        if let Some(reply) = self.answer_probe(method, path) {
            return reply;
        }
        let config = self.shared.config();
        if let Some(token) = &config.admin.token
            && !http::token_ok(authorization, token.expose())
            && !(path == "/" && dashboard::query_token_ok(query, token.expose()))
        {
            let message = if path == "/" {
                "missing or wrong token: open the dashboard as /?token=<admin.token>"
            } else {
                "missing or wrong bearer token (Authorization: Bearer <admin.token>)"
            };
            let mut r = error(StatusCode::UNAUTHORIZED, message);
            r.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
            return r;
        }
        if path == "/" {
            if method != Method::GET && method != Method::HEAD {
                return not_allowed(path, "GET only", "GET, HEAD");
            }
            return dashboard::page();
        }
        if path == "/digests/reset" {
            if method != Method::POST {
                return not_allowed(path, "POST only", "POST");
            }
            self.shared.digests.reset();
            return json_reply(StatusCode::OK, &api::DigestsReset { reset: true });
        }
        if let Some(reply) = self.answer_post(method, path) {
            return reply;
        }
        let known = ["/status", "/sessions", "/explain", "/digests", "/metrics"];
        if !known.contains(&path) {
            return error(StatusCode::NOT_FOUND, &format!("no endpoint {path}"));
        }
        if method != Method::GET && method != Method::HEAD {
            return not_allowed(path, "GET only", "GET, HEAD");
        }
        match path {
            "/status" => json_reply(StatusCode::OK, &self.status()),
            "/sessions" => json_reply(StatusCode::OK, &self.sessions()),
            "/explain" => match query.and_then(|q| http::query_param(q, "sql")) {
                Some(sql) if !sql.trim().is_empty() => {
                    json_reply(StatusCode::OK, &explain(&self.shared, &sql))
                }
                _ => error(
                    StatusCode::BAD_REQUEST,
                    "give the statement as the sql query parameter: /explain?sql=SELECT+1",
                ),
            },
            "/digests" => match query.and_then(|q| http::query_param(q, "limit")) {
                None => json_reply(StatusCode::OK, &self.digests(DEFAULT_DIGESTS)),
                Some(n) => match n.parse::<usize>() {
                    Ok(n @ 1..=MAX_DIGESTS_SHOWN) => json_reply(StatusCode::OK, &self.digests(n)),
                    _ => error(
                        StatusCode::BAD_REQUEST,
                        &format!("limit must be a number from 1 to {MAX_DIGESTS_SHOWN}"),
                    ),
                },
            },
            _ => reply(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                render_metrics(&self.shared, self.info.started.elapsed().as_secs_f64()),
            ),
        }
    }

    /// The answer of a POST endpoint (`/reload`, `/servers/{address}/drain|enable`), or `None`
    /// when `path` is none of them.
    fn answer_post(&self, method: &Method, path: &str) -> Option<Reply> {
        let action = if path == "/reload" {
            None
        } else {
            let rest = path.strip_prefix("/servers/")?;
            let (address, action) = rest.rsplit_once('/')?;
            let admission = match action {
                "drain" => crate::topology::Admission::Drained,
                "enable" => crate::topology::Admission::Open,
                _ => return None,
            };
            Some((http::percent_decode(address), admission))
        };
        if method != Method::POST {
            return Some(not_allowed(path, "POST only", "POST"));
        }
        Some(match action {
            None => match crate::reload::reload(&self.shared) {
                Ok(summary) => json_reply(StatusCode::OK, &views::reloaded(&summary)),
                Err(e @ crate::reload::ReloadError::NoFile) => {
                    error(StatusCode::CONFLICT, &e.to_string())
                }
                Err(e) => json_reply(
                    StatusCode::BAD_REQUEST,
                    &api::ErrorReply {
                        error: "the configuration was not reloaded; the running one stays".into(),
                        problems: e.problems(),
                    },
                ),
            },
            Some((address, admission)) => self.set_admission(&address, admission),
        })
    }

    /// Drains or enables (`admission`: drained or open) a server by address.
    fn set_admission(&self, address: &str, admission: crate::topology::Admission) -> Reply {
        use crate::topology::Admission;
        let _changes = self.shared.lock_changes();
        let topology = self.shared.topology();
        let entry = address
            .parse()
            .ok()
            .and_then(|address| topology.find(&address))
            .and_then(|i| topology.servers.get(i))
            .filter(|s| s.admission() != Admission::Removed);
        let Some(entry) = entry else {
            return error(StatusCode::NOT_FOUND, &format!("no server {address}"));
        };
        if entry.admission() != admission {
            entry.set_admission(admission);
            tracing::info!(server = %entry.address, state = entry.state().as_str(), "set by the admin API");
        }
        json_reply(
            StatusCode::OK,
            &api::Admitted {
                address: entry.address.to_string(),
                state: entry.state().as_str().to_string(),
            },
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::Config;

    pub(crate) fn shared(extra: &str) -> Arc<Shared> {
        let config = Config::from_yaml_str(&format!(
            "users: [{{ user: app, password: app }}]\n\
             servers: [{{ address: '127.0.0.1:1', role: primary }}, \
             {{ address: '127.0.0.1:2', role: replica }}]\n{extra}"
        ))
        .unwrap();
        let tls = crate::tls::Tls::load(&config.tls).unwrap();
        Arc::new(Shared::new(Arc::new(config), tls))
    }

    fn admin(extra: &str) -> Admin {
        admin_with(extra).0
    }

    /// An admin API over a configuration with `extra`, and its drain signal.
    pub(super) fn admin_with(extra: &str) -> (Admin, watch::Sender<bool>) {
        let shared = shared(extra);
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let (drain, draining) = watch::channel(false);
        let admin = Admin {
            shared,
            info: ProxyInfo {
                started: Instant::now(),
                listen: addr,
                admin: addr,
            },
            draining,
        };
        (admin, drain)
    }

    #[test]
    fn token_is_required_when_configured() {
        let a = admin("admin: { token: s3cret }");
        let get = Method::GET;
        let status = |auth: Option<&[u8]>| a.answer(&get, "/status", None, auth).status();
        assert_eq!(status(None), StatusCode::UNAUTHORIZED);
        assert_eq!(status(Some(b"Bearer nope")), StatusCode::UNAUTHORIZED);
        assert_eq!(status(Some(b"Bearer s3cret")), StatusCode::OK);
        let open = admin("");
        assert_eq!(
            open.answer(&get, "/status", None, None).status(),
            StatusCode::OK
        );
        // The dashboard page takes the token as a parameter too; the API does not.
        let page = |q: Option<&str>, auth: Option<&[u8]>| a.answer(&get, "/", q, auth).status();
        assert_eq!(page(None, None), StatusCode::UNAUTHORIZED);
        assert_eq!(page(Some("token=nope"), None), StatusCode::UNAUTHORIZED);
        assert_eq!(page(Some("token=s3cret"), None), StatusCode::OK);
        assert_eq!(page(None, Some(b"Bearer s3cret")), StatusCode::OK);
        assert_eq!(
            a.answer(&get, "/status", Some("token=s3cret"), None)
                .status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            open.answer(&Method::POST, "/", None, None).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn paths_methods_and_explain_input() {
        let a = admin("");
        assert_eq!(
            a.answer(&Method::GET, "/nope", None, None).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            a.answer(&Method::POST, "/status", None, None).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            a.answer(&Method::GET, "/explain", None, None).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            a.answer(&Method::GET, "/explain", Some("sql=SELECT+1"), None)
                .status(),
            StatusCode::OK
        );
    }

    #[test]
    fn digests_limit_and_reset_methods() {
        let a = admin("");
        let get = |q: Option<&str>| a.answer(&Method::GET, "/digests", q, None).status();
        assert_eq!(get(None), StatusCode::OK);
        assert_eq!(get(Some("limit=5")), StatusCode::OK);
        for bad in ["limit=0", "limit=x", "limit=-1", "limit=", "limit=100001"] {
            assert_eq!(get(Some(bad)), StatusCode::BAD_REQUEST, "{bad}");
        }
        let reset = |m: &Method| a.answer(m, "/digests/reset", None, None).status();
        assert_eq!(reset(&Method::POST), StatusCode::OK);
        assert_eq!(reset(&Method::GET), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            a.answer(&Method::POST, "/digests", None, None).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn explain_gives_target_reason_and_digest() {
        let shared = shared("");
        let as_json = |sql| serde_json::to_value(explain(&shared, sql)).unwrap();
        let read = as_json("SELECT * FROM t WHERE id = 1");
        assert_eq!(read["target"], "replica");
        assert_eq!(read["reason"], "plain_read");
        assert_eq!(read["digest"]["hash"].as_str().unwrap().len(), 16);
        let write = as_json("UPDATE t SET a = 1");
        assert_eq!(write["target"], "primary");
        assert_eq!(write["reason"], "write");
    }
}
