//! What the proxy shares between threads ([`Shared`]) and what each worker thread owns
//! ([`Worker`]): its backend pools, its classification cache and its read balancer, so a
//! statement's hot path takes no lock.
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::Notify;

use splitrail_router::{ClassifierCache, Policy};

use crate::admin::Stats;
use crate::backend::mux::Muxes;
use crate::backend::{PoolLimits, Pools};
use crate::config::{Config, PoolMode};
use crate::consistency::{Causal, GlobalCache};
use crate::tls::Tls;
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
    /// Live sessions by connection id, for `KILL` (touched at connect, disconnect and kill).
    sessions: Mutex<HashMap<u32, Arc<SessionInfo>>>,
    /// TLS towards clients and backends, loaded at start.
    pub tls: Tls,
    /// Counters for the admin API (relaxed atomics).
    pub stats: Arc<Stats>,
    /// The GTIDs of writes acknowledged through this proxy (read-your-writes).
    pub causal: Causal,
}

/// What other sessions may need to know about a session: who it is, what backend statement it
/// is running, and whether it was killed.
#[derive(Debug)]
pub struct SessionInfo {
    /// The proxy's connection id.
    pub id: u32,
    /// The client's address.
    pub peer: SocketAddr,
    /// The authenticated user (changes with COM_CHANGE_USER).
    pub user: Mutex<String>,
    /// The backend running the session's current statement: server index + 1 in the high 32
    /// bits, its thread id in the low; 0 when none.
    running: AtomicU64,
    /// Set by `KILL CONNECTION`.
    killed: AtomicBool,
    /// Wakes the session when it is killed while waiting for the client.
    pub kill_signal: Notify,
    /// Whether the session holds a backend connection it must keep (transaction, locks …).
    pinned: AtomicBool,
}

impl SessionInfo {
    /// A session's entry.
    pub fn new(id: u32, peer: SocketAddr, user: &str) -> Self {
        SessionInfo {
            id,
            peer,
            user: Mutex::new(user.to_string()),
            running: AtomicU64::new(0),
            killed: AtomicBool::new(false),
            kill_signal: Notify::new(),
            pinned: AtomicBool::new(false),
        }
    }

    /// Records the backend statement in progress (`None` when it is over).
    pub fn set_running(&self, backend: Option<(usize, u32)>) {
        let packed = backend
            .map(|(server, thread)| ((server as u64 + 1) << 32) | u64::from(thread))
            .unwrap_or(0);
        self.running.store(packed, Ordering::Relaxed);
    }

    /// The backend statement in progress: (server index, thread id).
    pub fn running(&self) -> Option<(usize, u32)> {
        let packed = self.running.load(Ordering::Relaxed);
        let server = (packed >> 32) as usize;
        (server > 0).then(|| (server - 1, packed as u32))
    }

    /// Records whether the session holds a connection it must keep (for the admin API).
    pub fn set_pinned(&self, pinned: bool) {
        self.pinned.store(pinned, Ordering::Relaxed);
    }

    /// Whether the session holds a connection it must keep.
    pub fn pinned(&self) -> bool {
        self.pinned.load(Ordering::Relaxed)
    }

    /// Marks the session killed and wakes it.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.kill_signal.notify_one();
    }

    /// Whether `KILL CONNECTION` was issued for it.
    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Relaxed)
    }

    /// The user, for permission checks.
    pub fn user(&self) -> String {
        self.user.lock().map(|u| u.clone()).unwrap_or_default()
    }
}

impl Shared {
    /// Shared state for a configuration and its loaded TLS files.
    pub fn new(config: Arc<Config>, tls: Tls) -> Self {
        let topology = Topology::from_config(&config);
        let topology_len = topology.servers.len();
        let policy = policy_for(&config);
        Shared {
            config,
            topology,
            policy,
            next_connection_id: AtomicU32::new(1),
            clients: AtomicUsize::new(0),
            server_version: RwLock::new(DEFAULT_VERSION.to_string()),
            sessions: Mutex::new(HashMap::new()),
            tls,
            stats: Arc::new(Stats::new(topology_len)),
            causal: Causal::default(),
        }
    }

    /// Registers a session; it is removed when the returned guard drops.
    pub fn register(self: &Arc<Self>, info: Arc<SessionInfo>) -> Registration {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.insert(info.id, info.clone());
        }
        Registration {
            shared: self.clone(),
            id: info.id,
        }
    }

    /// The live session with connection id `id`.
    pub fn session(&self, id: u32) -> Option<Arc<SessionInfo>> {
        self.sessions.lock().ok()?.get(&id).cloned()
    }

    /// Every live session (for the admin API).
    pub fn sessions(&self) -> Vec<Arc<SessionInfo>> {
        self.sessions
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
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

/// The router's policy for a configuration: lag limit and the ordered query rules.
pub fn policy_for(config: &Config) -> Policy {
    use crate::config::{RuleAction as Action, RuleTarget};
    use splitrail_router::{Pattern, Rule, RuleAction};
    let rules = config
        .routing
        .rules
        .iter()
        .map(|r| {
            let action = match r.action() {
                Action::Route(RuleTarget::Primary) => RuleAction::Primary,
                Action::Route(RuleTarget::Replica) => RuleAction::Replica,
                Action::Reject(message) => RuleAction::Reject {
                    message: message.to_string(),
                },
            };
            let mut rule = Rule::new(action);
            if let Some(user) = &r.matches.user {
                rule = rule.user(user);
            }
            if let Some(schema) = &r.matches.schema {
                rule = rule.schema(schema);
            }
            if let Some(digest) = r
                .matches
                .digest
                .as_deref()
                .and_then(crate::config::parse_digest)
            {
                rule = rule.digest(digest);
            }
            if let Some(pattern) = &r.matches.regex
                && let Ok(p) = Pattern::new(pattern.regex().as_str())
            {
                rule = rule.pattern(p);
            }
            rule
        })
        .collect();
    Policy {
        max_lag: Some(config.routing.max_replication_lag),
        rules,
        ..Policy::default()
    }
}

/// Removes a session from the registry when dropped.
#[derive(Debug)]
pub struct Registration {
    shared: Arc<Shared>,
    id: u32,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut sessions) = self.shared.sessions.lock() {
            sessions.remove(&self.id);
        }
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
    /// This worker's copy of the global write position.
    pub causal: RefCell<GlobalCache>,
    /// This worker's pipelined connections (`pool.pipeline`).
    pub muxes: Muxes,
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
            tls: shared.tls.backend.clone(),
            min_idle: config.pool.min_idle as usize,
        };
        Worker {
            pools: Pools::new(limits, shared.stats.clone()),
            router: RefCell::new(ClassifierCache::default()),
            balancer: RefCell::new(Balancer::default()),
            causal: RefCell::new(GlobalCache::default()),
            muxes: Muxes::default(),
            shared,
        }
    }
}
