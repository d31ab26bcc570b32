//! Threads and listeners: `workers` worker threads (default half the cores), each with a
//! current-thread tokio runtime
//! and its own `SO_REUSEPORT` listener on the proxy address, so the kernel spreads clients over
//! workers and a session's client and backend sockets stay on one thread.
//!
//! Shutdown has two steps. The *drain* signal (SIGTERM, [`ProxyHandle::shutdown`]) closes the
//! listeners, turns `GET /ready` to 503, and ends each session when it is idle between
//! statements outside a transaction; statements in flight and open transactions go on, up to
//! `shutdown_timeout`. When the workers are done (no client left, or the deadline), the *stop*
//! signal ends the admin API and the monitor, which kept serving during the drain.
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::client::ClientIo;
use crate::client::handshake;
use crate::config::Config;
use crate::session::Session;
use crate::tls::{ClientStream, Tls};
use crate::worker::sessions::SessionInfo;
use crate::worker::{Shared, Worker};

/// A running proxy: its address and how to stop it.
#[derive(Debug)]
pub struct ProxyHandle {
    local_addr: SocketAddr,
    /// The drain signal (workers).
    shutdown: watch::Sender<bool>,
    /// The stop signal (admin API, monitor), sent once the workers are done.
    stop: watch::Sender<bool>,
    /// The worker threads.
    threads: Vec<JoinHandle<()>>,
    /// The admin and monitor threads.
    services: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
    admin_addr: SocketAddr,
}

impl ProxyHandle {
    /// Where clients connect (the real port when the configuration said port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where the admin HTTP API listens (the real port when the configuration said port 0).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// State shared by the workers (topology, counters).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Reads the configuration file again and applies it (what SIGHUP does); an invalid file
    /// changes nothing. See [`crate::reload`].
    pub fn reload(&self) -> Result<crate::reload::Summary, crate::reload::ReloadError> {
        crate::reload::reload(&self.shared)
    }

    /// Stops accepting, lets in-flight statements finish up to `shutdown_timeout`, then closes
    /// every connection; returns when all workers have stopped.
    pub fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        self.join();
    }

    /// Waits until the workers stop (after [`ProxyHandle::shutdown`] from another handle clone
    /// of the signal, or never), then stops the admin API and the monitor.
    pub fn wait(mut self) {
        self.join();
    }

    fn join(&mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let _ = self.stop.send(true);
        for t in self.services.drain(..) {
            let _ = t.join();
        }
    }

    /// A sender that stops the proxy when `true` is sent.
    pub fn shutdown_signal(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.join();
    }
}

/// Binds the listeners and starts the workers and the admin API.
///
/// The admin API reports the configuration's hash as the SHA-256 of its JSON form (secrets
/// redacted); [`start_from_file`] reports the file's path and the hash of its bytes instead.
/// Without a file there is nothing to reload.
pub fn start(config: Config) -> std::io::Result<ProxyHandle> {
    start_with(config, None)
}

/// [`start`] for a configuration loaded from `path`, which the admin API names with the
/// SHA-256 of the file as it is now (what `sha256sum` prints for it). The file is reloaded on
/// [`ProxyHandle::reload`] (SIGHUP), `POST /reload`, and when its contents change.
pub fn start_from_file(config: Config, path: &std::path::Path) -> std::io::Result<ProxyHandle> {
    start_with(config, Some(path))
}

fn start_with(config: Config, path: Option<&std::path::Path>) -> std::io::Result<ProxyHandle> {
    let started = std::time::Instant::now();
    log_consistency(&config);
    let tls = Tls::load(&config.tls)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let config = Arc::new(config);
    let workers = config.worker_threads();
    let first = bind(config.listen)?;
    let local_addr = first
        .local_addr()?
        .as_socket()
        .ok_or_else(|| std::io::Error::other("listener has no socket address"))?;
    let mut sockets = vec![first];
    for _ in 1..workers {
        sockets.push(bind(local_addr)?);
    }
    let admin = std::net::TcpListener::bind(config.admin.listen).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("admin.listen {}: {e}", config.admin.listen),
        )
    })?;
    admin.set_nonblocking(true)?;
    let admin_addr = admin.local_addr()?;
    let shared = Arc::new(Shared::new(config, tls));
    if let Some(path) = path {
        // The path as given, made absolute: a reload must find the same file whatever the
        // working directory is by then. Not canonicalized: a Kubernetes ConfigMap volume's
        // `proxy.yaml` is a symlink through `..data`, which the kubelet swaps on a change, and
        // the watch must keep reading through the link.
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let sha256 = match std::fs::read(&path) {
            Ok(bytes) => crate::config::sha256_hex(&bytes),
            Err(_) => shared.source().sha256,
        };
        shared.set_source(crate::worker::ConfigSource {
            path: Some(path),
            sha256,
        });
    }
    greet_like_the_primary(&shared);
    let (tx, rx) = watch::channel(false);
    let (stop, stopped) = watch::channel(false);
    let mut threads = Vec::new();
    for (n, socket) in sockets.into_iter().enumerate() {
        let shared = shared.clone();
        let rx = rx.clone();
        let thread = std::thread::Builder::new()
            .name(format!("splitrail-worker-{n}"))
            .spawn(move || run_worker(n, workers, socket, shared, rx))?;
        threads.push(thread);
    }
    let info = crate::admin::ProxyInfo {
        started,
        listen: local_addr,
        admin: admin_addr,
    };
    let admin_shared = shared.clone();
    let signals = crate::admin::Signals {
        draining: rx.clone(),
        stop: stopped.clone(),
    };
    let thread = std::thread::Builder::new()
        .name("splitrail-admin".to_string())
        .spawn(move || crate::admin::run(admin, admin_shared, info, signals))?;
    let services = vec![thread, crate::monitor::start(shared.clone(), stopped)?];
    info!(%local_addr, workers, "listening for MySQL clients");
    info!(%admin_addr, "admin API listening");
    Ok(ProxyHandle {
        local_addr,
        shutdown: tx,
        stop,
        threads,
        services,
        shared,
        admin_addr,
    })
}

/// Learns the primary's version string from its greeting before the first client connects.
///
/// Clients decide what they may send from the version they are greeted with: mysql_async, for
/// one, sends COM_RESET_CONNECTION only to a server that announces `…-MariaDB` ≥ 10.2.4 or
/// MySQL ≥ 5.7.3, and took the placeholder `5.5.5-10.11.0-splitrail` for MySQL 5.5 (its
/// `reset()` then silently did nothing). Until now the version was learnt only when a
/// statement first reached the primary, so every client of a fresh proxy got the placeholder.
/// An unreachable primary leaves the placeholder; the version is refreshed later as before.
fn greet_like_the_primary(shared: &Shared) {
    use std::io::Read;
    let topology = shared.topology();
    let Some(primary) = topology.primary() else {
        return;
    };
    let address = &topology.servers[primary].address;
    let timeout = shared
        .config()
        .pool
        .connect_timeout
        .min(Duration::from_secs(1));
    let greeting = (|| -> std::io::Result<Vec<u8>> {
        use std::net::ToSocketAddrs;
        let addr = (address.host(), address.port())
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other("no address"))?;
        let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        let mut header = [0u8; 4];
        stream.read_exact(&mut header)?;
        let len =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload)?;
        Ok(payload)
    })();
    match greeting.map(|p| splitrail_protocol::handshake::InitialHandshake::decode(&p)) {
        Ok(Ok(handshake)) => {
            shared.set_server_version(&String::from_utf8_lossy(&handshake.server_version));
        }
        Ok(Err(e)) => debug!(error = %e, "cannot read the primary's greeting"),
        Err(e) => debug!(error = %e, "cannot reach the primary for its version"),
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket)
}

fn run_worker(
    n: usize,
    workers: usize,
    socket: Socket,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(runtime) = crate::worker::thread_runtime(&format!("worker {n}")) else {
        return;
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = match TcpListener::from_std(socket.into()) {
            Ok(l) => l,
            Err(e) => {
                warn!(worker = n, error = %e, "cannot register listener");
                return;
            }
        };
        let worker = Rc::new(Worker::new(shared.clone(), workers));
        tokio::task::spawn_local(keep_pools(worker.clone(), shutdown.clone()));
        let busy_poll = shared.config().busy_poll;
        if !busy_poll.is_zero() {
            tokio::task::spawn_local(crate::worker::busy_poll::spin(worker.clone(), busy_poll));
        }
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let worker = worker.clone();
                        let shutdown = shutdown.clone();
                        tokio::task::spawn_local(serve_client(worker, stream, peer, shutdown));
                    }
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                _ = shutdown.changed() => break,
            }
        }
        drop(listener);
        // Let sessions finish their statements and transactions; they close themselves when
        // idle between statements.
        let deadline = tokio::time::Instant::now() + shared.config().shutdown_timeout;
        while shared.clients.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
}

/// How often a worker tends its pools (`pool.min_idle`, idle and lifetime limits).
const POOL_UPKEEP_EVERY: Duration = Duration::from_secs(1);

/// Keeps `pool.min_idle` connections open for every pool key the worker has served, closes
/// idle ones past their limits, and closes the idle connections of drained and removed
/// servers, until shutdown.
async fn keep_pools(worker: Rc<Worker>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POOL_UPKEEP_EVERY) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let view = worker.view();
        // A drained primary that still takes the writes (no other primary) keeps its pool.
        let primary = view.topology.primary();
        let draining = view.topology.servers.iter().filter(|s| s.is_draining());
        for server in draining.filter(|s| Some(s.index) != primary) {
            if worker.pools.open(server.index) > 0 {
                let closed = worker.pools.close_server(server.index);
                if closed > 0 {
                    debug!(server = %server.address, closed, "closed idle connections of a draining server");
                }
            }
        }
        for key in worker.pools.seen_keys() {
            let Some(server) = view.topology.servers.get(key.server) else {
                continue;
            };
            if !server.is_healthy() {
                continue;
            }
            let Some(user) = view.config.users.iter().find(|u| *u.user == *key.user) else {
                continue;
            };
            let password = user.password.expose().as_bytes().to_vec();
            if let Err(e) = worker
                .pools
                .maintain(&key, &server.address, &password)
                .await
            {
                debug!(server = %server.address, error = %e, "pool upkeep failed");
            }
        }
    }
}

async fn serve_client(
    worker: Rc<Worker>,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
) {
    let shared = worker.shared.clone();
    let id = shared.next_connection_id();
    let span = info_span!("session", id, %peer, user = tracing::field::Empty);
    let open = shared.clients.fetch_add(1, Ordering::Relaxed) + 1;
    shared.stats.clients_total.fetch_add(1, Ordering::Relaxed);
    let _guard = ClientCount(shared.clone());
    async move {
        let _ = stream.set_nodelay(true);
        let mut io = ClientIo::new(
            ClientStream::Plain(stream),
            1 << 30,
            crate::io::CLIENT_READ_CHUNK,
        );
        // The users and limits in force when the client arrives (a reload changes them for
        // later logins).
        let config = shared.config();
        if open > config.max_client_connections as usize {
            let _ = refuse_too_many(&mut io).await;
            return;
        }
        let version = shared.server_version();
        // Boxed, like each command later: an idle session keeps only its small loop state.
        let accepted = match Box::pin(handshake::accept(
            &mut io,
            &config,
            shared.tls.acceptor.as_ref(),
            id,
            &version,
            &peer.ip().to_string(),
        ))
        .await
        {
            Ok(Some(a)) => a,
            Ok(None) => return,
            Err(e) => {
                debug!(error = %e, "handshake failed");
                return;
            }
        };
        tracing::Span::current().record("user", accepted.user.as_str());
        debug!("client authenticated");
        let schema = accepted.schema.as_deref();
        let info = Arc::new(SessionInfo::new(id, peer, &accepted.user, schema));
        let _registration = shared.register(info.clone());
        Session::new(worker, info, io, accepted, shutdown)
            .run()
            .await;
    }
    .instrument(span)
    .await
}

async fn refuse_too_many(io: &mut ClientIo) -> std::io::Result<()> {
    use splitrail_protocol::CapabilityFlags;
    use splitrail_protocol::response::{ErrPacket, code};
    let mut payload = bytes::BytesMut::new();
    ErrPacket::new(code::ER_CON_COUNT_ERROR, "Too many connections")
        .encode(CapabilityFlags::CLIENT_PROTOCOL_41, &mut payload);
    io.send(&payload).await
}

struct ClientCount(Arc<Shared>);

impl Drop for ClientCount {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Says at start how reads are kept consistent with earlier writes, and the fallback.
fn log_consistency(config: &Config) {
    let routing = &config.routing;
    match routing.consistency {
        crate::config::Consistency::Eventual => {
            info!("routing.consistency eventual: reads may miss writes not yet replicated")
        }
        crate::config::Consistency::Cluster => info!(
            causal_read_timeout = ?routing.causal_read_timeout,
            "routing.consistency cluster: each batch of reads asks the primary for its GTID \
             position, and reads wait for a replica to apply it (else the primary answers)"
        ),
        mode => info!(
            consistency = ?mode,
            causal_read_timeout = ?routing.causal_read_timeout,
            read_after_write_window = ?routing.read_after_write_window,
            "reads wait for a replica to apply the GTIDs of earlier writes (else the primary \
             answers); if writes report no GTIDs (binary log off, gtid_mode OFF), reads go to \
             the primary for read_after_write_window after a write instead"
        ),
    }
}
