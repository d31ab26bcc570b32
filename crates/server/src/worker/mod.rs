//! What the proxy shares between threads ([`Shared`]) and what each worker thread owns
//! ([`Worker`]): its backend pools, its classification cache and its read balancer, so a
//! statement's hot path takes no lock.
//!
//! What a reload or discovery can change — configuration, server list, routing policy — is one
//! immutable [`Snapshot`], published through `arc-swap` with a generation counter beside it.
//! A worker keeps its own copy ([`Worker::view`]) and checks the counter with one atomic load
//! per statement; only when it moved does it load the new snapshot (and grow its pools).

pub mod busy_poll;
pub mod kept_answers;
pub mod sessions;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Deref;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use arc_swap::ArcSwap;
use tokio::sync::watch;

use splitrail_router::{ClassifierCache, Policy};

use crate::backend::{GlobalsEpoch, PoolLimits, Pools};
use crate::balance::Balancer;
use crate::config::{Config, PoolMode};
use crate::consistency::{Causal, GlobalCache};
use crate::metrics::Stats;
use crate::metrics::digests::Digests;
use crate::relay::mux::Muxes;
use crate::tls::Tls;
use crate::topology::{ServerEntry, Topology};
use busy_poll::BusyPoll;
use kept_answers::KeptAnswers;
use sessions::SessionInfo;

/// What can change while the proxy runs, as one consistent, immutable value.
#[derive(Debug)]
pub struct Snapshot {
    /// The configuration in force (settings that need a restart keep their start values).
    pub config: Arc<Config>,
    /// The backends, by stable index.
    pub topology: Arc<Topology>,
    /// The routing policy derived from the configuration.
    pub policy: Arc<Policy>,
}

impl Snapshot {
    /// The configuration entry of server `index`, if one names it (a discovered or removed
    /// server has none).
    pub fn server_config(&self, index: usize) -> Option<&crate::config::Server> {
        let address = &self.topology.servers.get(index)?.address;
        self.config.servers.iter().find(|s| s.address == *address)
    }

    /// The pool limits of one worker among `workers`: `pool.*`, and per server its
    /// `max_connections` (or `pool.max_size`) shared out among the workers.
    pub fn pool_limits(&self, workers: usize, tls: &crate::tls::BackendTlsSetup) -> PoolLimits {
        let config = &self.config;
        let workers = workers.max(1);
        PoolLimits {
            max_per_server: (0..self.topology.servers.len())
                .map(|i| match self.server_config(i) {
                    Some(s) => config.pool.max_size_for(s),
                    None => config.pool.max_size,
                })
                .map(|max| (max as usize).div_ceil(workers).max(1))
                .collect(),
            acquire_timeout: config.pool.acquire_timeout,
            idle_timeout: config.pool.idle_timeout,
            max_lifetime: config.pool.max_lifetime,
            connect_timeout: config.pool.connect_timeout,
            tls: tls.clone(),
            min_idle: config.pool.min_idle as usize,
        }
    }
}

/// Where the configuration came from, for reloads and `/status`.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    /// The file, when the proxy was started from one (reloads read it again).
    pub path: Option<PathBuf>,
    /// SHA-256 (hex) of the file's bytes as last applied, or of the configuration's JSON form
    /// (secrets redacted) without a file.
    pub sha256: String,
}

/// State shared by every worker.
#[derive(Debug)]
pub struct Shared {
    /// Configuration, servers and policy in force; replaced whole by [`Shared::publish`].
    current: ArcSwap<Snapshot>,
    /// Moves on every publish: workers compare it with their copy's (one atomic load).
    generation: AtomicU64,
    /// Serialises changes (reload, discovery, drain/enable) so none is lost between reading
    /// the snapshot and publishing the next one. Never taken on the statement path.
    changes: Mutex<()>,
    /// Tells the monitor the server list changed (the generation), so it watches new servers.
    topology_changed: watch::Sender<u64>,
    /// The configuration file and its hash.
    source: Mutex<ConfigSource>,
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
    /// Per statement shape statistics (each worker writes its own shard).
    pub digests: Digests,
    /// Server-wide changes made through the proxy: every worker's pools renew their
    /// connections when it moves.
    pub globals: Arc<GlobalsEpoch>,
}

impl Shared {
    /// Shared state for a configuration and its loaded TLS files.
    pub fn new(config: Arc<Config>, tls: Tls) -> Self {
        let topology = Topology::from_config(&config);
        let topology_len = topology.servers.len();
        let policy = policy_for(&config);
        let sha256 = crate::config::sha256_hex(&serde_json::to_vec(&*config).unwrap_or_default());
        let digests = Digests::new(config.admin.max_digests as usize);
        Shared {
            current: ArcSwap::from_pointee(Snapshot {
                config,
                topology: Arc::new(topology),
                policy: Arc::new(policy),
            }),
            generation: AtomicU64::new(0),
            changes: Mutex::new(()),
            topology_changed: watch::Sender::new(0),
            source: Mutex::new(ConfigSource { path: None, sha256 }),
            next_connection_id: AtomicU32::new(1),
            clients: AtomicUsize::new(0),
            server_version: RwLock::new(DEFAULT_VERSION.to_string()),
            sessions: Mutex::new(HashMap::new()),
            tls,
            stats: Arc::new(Stats::new(topology_len)),
            causal: Causal::default(),
            digests,
            globals: Arc::default(),
        }
    }

    /// The snapshot in force (for the statement path, use [`Worker::view`]).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.current.load().config.clone()
    }

    /// The servers now.
    pub fn topology(&self) -> Arc<Topology> {
        self.current.load().topology.clone()
    }

    /// The routing policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.current.load().policy.clone()
    }

    /// The number of the snapshot in force; it moves on every publish.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Holds off other changes while the caller reads the snapshot, builds the next one and
    /// publishes it.
    pub fn lock_changes(&self) -> MutexGuard<'_, ()> {
        self.changes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes a new snapshot (call with [`Shared::lock_changes`] held): counters for new
    /// servers first, then the snapshot, then the generation workers and the monitor follow.
    /// The topology must keep every index of the one it replaces.
    pub fn publish(&self, config: Arc<Config>, topology: Topology) {
        self.stats.grow_to(topology.servers.len());
        let policy = Arc::new(policy_for(&config));
        self.current.store(Arc::new(Snapshot {
            config,
            topology: Arc::new(topology),
            policy,
        }));
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.topology_changed.send_replace(generation);
    }

    /// A receiver that sees every publish (the monitor's).
    pub fn watch_changes(&self) -> watch::Receiver<u64> {
        self.topology_changed.subscribe()
    }

    /// Where the configuration came from.
    pub fn source(&self) -> ConfigSource {
        self.source
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Records the configuration file and its hash (at start and after a reload).
    pub fn set_source(&self, source: ConfigSource) {
        *self.source.lock().unwrap_or_else(|p| p.into_inner()) = source;
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

    /// Whether sessions keep their backend connections between statements (`pool.mode` needs
    /// a restart, so this never changes).
    pub fn session_pooling(&self) -> bool {
        self.current.load().config.pool.mode == PoolMode::Session
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
    /// The shard of [`Shared::digests`] this worker writes.
    pub digest_shard: usize,
    /// This worker's copy of the global write position.
    pub causal: RefCell<GlobalCache>,
    /// This worker's pipelined connections (`pool.pipeline`).
    pub muxes: Muxes,
    /// Sessions of this worker running a command now: pipelining pays only when several do.
    pub busy: std::cell::Cell<u32>,
    /// What this worker's busy-polling spinner watches (`busy_poll`).
    pub busy_poll: BusyPoll,
    /// This worker's kept answers to the statements its sessions answer themselves
    /// (`session/answered_here.rs`).
    pub kept_answers: RefCell<KeptAnswers>,
    /// This worker's copy of the snapshot in force.
    view: RefCell<Rc<View>>,
    /// How many workers share the pool limits.
    workers: usize,
}

/// A worker's copy of a [`Snapshot`] with its generation; `Rc`, so handing it out costs no
/// atomic operation.
#[derive(Debug)]
pub struct View {
    generation: u64,
    snapshot: Arc<Snapshot>,
}

impl Deref for View {
    type Target = Snapshot;

    fn deref(&self) -> &Snapshot {
        &self.snapshot
    }
}

/// Counts a session in [`Worker::busy`] while it lives.
#[derive(Debug)]
pub struct Busy(Rc<Worker>);

impl Busy {
    /// Counts one more busy session on `worker`.
    pub fn new(worker: &Rc<Worker>) -> Self {
        worker.busy.set(worker.busy.get() + 1);
        worker.busy_poll.event();
        Busy(worker.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.set(self.0.busy.get().saturating_sub(1));
        self.0.busy_poll.event();
    }
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("pools", &self.pools)
            .finish_non_exhaustive()
    }
}

impl crate::relay::mux::MuxHost for Worker {
    fn pools(&self) -> &Pools {
        &self.pools
    }

    fn muxes(&self) -> &Muxes {
        &self.muxes
    }

    fn causal(&self) -> &Causal {
        &self.shared.causal
    }

    fn server(&self, index: usize) -> Option<Arc<ServerEntry>> {
        self.view().topology.servers.get(index).cloned()
    }

    fn max_prepared(&self) -> usize {
        self.view().config.pool.max_prepared_statements as usize
    }
}

impl Worker {
    /// A worker among `workers` for the shared state.
    pub fn new(shared: Arc<Shared>, workers: usize) -> Self {
        let generation = shared.generation();
        let snapshot = shared.snapshot();
        let limits = snapshot.pool_limits(workers, &shared.tls.backend);
        Worker {
            pools: Pools::new(limits, shared.stats.clone(), shared.globals.clone()),
            router: RefCell::new(ClassifierCache::default()),
            digest_shard: shared.digests.claim_shard(),
            balancer: RefCell::new(Balancer::new(
                snapshot.config.routing.balance,
                shared.stats.clone(),
            )),
            causal: RefCell::new(GlobalCache::default()),
            view: RefCell::new(Rc::new(View {
                generation,
                snapshot,
            })),
            workers,
            muxes: Muxes::default(),
            busy: std::cell::Cell::new(0),
            busy_poll: BusyPoll::default(),
            kept_answers: RefCell::default(),
            shared,
        }
    }

    /// The snapshot in force: one atomic load when nothing changed; after a publish, the new
    /// snapshot, with the pools' limits following its servers.
    pub fn view(&self) -> Rc<View> {
        let generation = self.shared.generation();
        let mut view = self.view.borrow_mut();
        if view.generation != generation {
            let snapshot = self.shared.snapshot();
            self.pools
                .set_limits(snapshot.pool_limits(self.workers, &self.shared.tls.backend));
            self.balancer
                .borrow_mut()
                .set_mode(snapshot.config.routing.balance);
            *view = Rc::new(View {
                generation,
                snapshot,
            });
        }
        view.clone()
    }
}

/// A current-thread tokio runtime for one of the proxy's threads (a worker, the monitor, the
/// admin API); `None`, with the reason logged, when the OS refuses its resources.
pub fn thread_runtime(what: &str) -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the runtime of the {what}; it does not run");
            None
        }
    }
}
