//! Which configured features this build does not provide yet. A setting that would silently do
//! nothing is refused at start (with its key), so nobody relies on behaviour the proxy does not
//! have.
use crate::config::{Config, PoolMode};

/// Settings the proxy refuses, as `key: why` lines.
pub fn refused(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if config.pool.mode == PoolMode::Session && config.pool.max_size < 2 {
        out.push("pool.max_size: session pooling needs at least 2".to_string());
    }
    out
}
