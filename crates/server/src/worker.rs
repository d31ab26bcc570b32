//! What the proxy shares between threads ([`Shared`]) and what each worker thread owns
//! ([`Worker`]): its backend pools, its classification cache and its read balancer, so a
//! statement's hot path takes no lock.
use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use splitrail_router::{ClassifierCache, Policy};

use crate::backend::{PoolLimits, Pools};
use crate::config::{Config, PoolMode};
use crate::topology::{Balancer, Topology};

/// State shared by every worker.
#[derive(Debug)]
pub struct Shared {
    /// The configuration in force.
    pub config: Arc<Config>,
    /// The backends.
    pub topology: Topology,
    /// The routing policy derived from the configuration.
    pub policy: Policy,
    /// Next client connection id (what the client sees as its connection id).
    next_connection_id: AtomicU32,
    /// Client connections open now.
    pub clients: AtomicUsize,
    /// The version string clients are greeted with: the primary's, once a backend was reached.
    server_version: RwLock<String>,
}

impl Shared {
    /// Shared state for a configuration.
    pub fn new(config: Arc<Config>) -> Self {
        let topology = Topology::from_config(&config);
        let policy = Policy {
            max_lag: Some(config.routing.max_replication_lag),
            ..Policy::default()
        };
        Shared {
            config,
            topology,
            policy,
            next_connection_id: AtomicU32::new(1),
            clients: AtomicUsize::new(0),
            server_version: RwLock::new(DEFAULT_VERSION.to_string()),
        }
    }

    /// A fresh client connection id.
    pub fn next_connection_id(&self) -> u32 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The version string to greet clients with.
    pub fn server_version(&self) -> String {
        self.server_version
            .read()
            .map(|v| v.clone())
            .unwrap_or_else(|_| DEFAULT_VERSION.to_string())
    }

    /// Records the version a backend announced.
    pub fn set_server_version(&self, version: &str) {
        if let Ok(mut v) = self.server_version.write()
            && *v != version
        {
            *v = version.to_string();
        }
    }

    /// Whether sessions keep their backend connections between statements.
    pub fn session_pooling(&self) -> bool {
        self.config.pool.mode == PoolMode::Session
    }
}

/// Until a backend has been reached: a MariaDB-style version, which clients parse as 5.5.5 +.
const DEFAULT_VERSION: &str = "5.5.5-10.11.0-splitrail";

/// One worker thread's own state.
pub struct Worker {
    /// What all workers share.
    pub shared: Arc<Shared>,
    /// This worker's backend pools.
    pub pools: Pools,
    /// This worker's statement classification cache.
    pub router: RefCell<ClassifierCache>,
    /// This worker's read balancer.
    pub balancer: RefCell<Balancer>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("pools", &self.pools)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker among `workers` for the shared state.
    pub fn new(shared: Arc<Shared>, workers: usize) -> Self {
        let config = &shared.config;
        let workers = workers.max(1);
        let limits = PoolLimits {
            max_per_server: config
                .servers
                .iter()
                .map(|s| config.pool.max_size_for(s) as usize)
                .map(|max| max.div_ceil(workers).max(1))
                .collect(),
            acquire_timeout: config.pool.acquire_timeout,
            idle_timeout: config.pool.idle_timeout,
            max_lifetime: config.pool.max_lifetime,
            connect_timeout: config.pool.connect_timeout,
        };
        Worker {
            pools: Pools::new(limits),
            router: RefCell::new(ClassifierCache::default()),
            balancer: RefCell::new(Balancer::default()),
            shared,
        }
    }
}
