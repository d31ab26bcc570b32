//! Which configured features this build does not provide yet. A setting that would silently do
//! nothing is refused at start (with its key), and a default that is not fully enforced yet is
//! logged once, so nobody relies on behaviour the proxy does not have.
use crate::config::{Config, Consistency, PoolMode};

/// Settings the proxy refuses, as `key: why` lines.
pub fn refused(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if config.monitor.discovery {
        out.push("monitor.discovery: replica discovery is not implemented yet".to_string());
    }
    if config.pool.mode == PoolMode::Session && config.pool.max_size < 2 {
        out.push("pool.max_size: session pooling needs at least 2".to_string());
    }
    out
}

/// Defaults and settings accepted but not enforced yet, as log lines.
pub fn caveats(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if config.routing.consistency != Consistency::Eventual {
        out.push(format!(
            "routing.consistency is {:?}, but read-your-writes is not enforced yet: a read on a \
             replica right after a write may not see it (behaves as eventual)",
            config.routing.consistency
        ));
    }
    out.push(format!(
        "routing.failover_timeout {:?} is not enforced yet: a write while no writable primary is \
         known gets the backend's error at once instead of waiting for a promotion",
        config.routing.failover_timeout
    ));
    out
}
