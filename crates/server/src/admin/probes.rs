//! The probes for orchestrators: `GET /live` (200 while the admin API answers: the process is
//! not wedged) and `GET /ready` (200 when the proxy should get new clients: it is not draining
//! and a writable primary is known, as the monitor last saw it; 503 otherwise). They answer
//! without the bearer token: a kubelet or balancer check cannot carry a secret, and they tell
//! nothing but the two answers.
use hyper::{Method, StatusCode};

use super::api::Probe;
use super::{Admin, Reply, json_reply, not_allowed};

impl Admin {
    /// The answer of a probe endpoint, or `None` when `path` is none of them.
    pub(super) fn answer_probe(&self, method: &Method, path: &str) -> Option<Reply> {
        if path != "/live" && path != "/ready" {
            return None;
        }
        if method != Method::GET && method != Method::HEAD {
            return Some(not_allowed(path, "GET only", "GET, HEAD"));
        }
        let probe = if path == "/live" {
            Probe {
                ok: true,
                reason: "running".into(),
            }
        } else {
            self.readiness()
        };
        let status = if probe.ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        Some(json_reply(status, &probe))
    }

    /// Whether the proxy should get new clients, and why (not).
    fn readiness(&self) -> Probe {
        let not = |reason: &str| Probe {
            ok: false,
            reason: reason.into(),
        };
        if *self.draining.borrow() {
            return not("shutting down: the listener is closed");
        }
        let topology = self.shared.topology();
        let Some(primary) = topology.writable_primary() else {
            return not("no writable primary known");
        };
        // Seen writable by a check, not only assumed so since start.
        if topology.servers.get(primary).and_then(|s| s.read_only()) != Some(false) {
            return not("the primary has not been checked yet");
        }
        Probe {
            ok: true,
            reason: "accepting clients; a writable primary is known".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::tests::admin_with;
    use crate::gtid::GtidSet;

    #[test]
    fn ready_needs_a_checked_writable_primary_and_no_drain_and_skips_the_token() {
        let (admin, drain) = admin_with("admin: { token: s3cret }");
        let status = |path: &str| admin.answer(&Method::GET, path, None, None).status();
        assert_eq!(status("/live"), StatusCode::OK);
        assert_eq!(status("/status"), StatusCode::UNAUTHORIZED);
        // Nothing checked yet: not ready.
        assert_eq!(status("/ready"), StatusCode::SERVICE_UNAVAILABLE);
        let topology = admin.shared.topology();
        let primary = &topology.servers[0];
        primary.record_check(false, 0, &GtidSet::default());
        assert_eq!(status("/ready"), StatusCode::OK);
        primary.record_check(true, 0, &GtidSet::default());
        assert_eq!(status("/ready"), StatusCode::SERVICE_UNAVAILABLE);
        primary.record_check(false, 0, &GtidSet::default());
        drain.send_replace(true);
        assert_eq!(status("/ready"), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status("/live"), StatusCode::OK);
        let post = admin.answer(&Method::POST, "/ready", None, None).status();
        assert_eq!(post, StatusCode::METHOD_NOT_ALLOWED);
    }
}
