//! Listeners: bind, accept, limit, hand each connection to a [`Service`], shut down cleanly.
//!
//! Implementation notes:
//! - Every address is bound in [`Listener::bind`], before anything is announced, so a port
//!   that is taken stops the server at startup with the address in the error.
//! - A global semaphore caps concurrent connections: the accept loop waits for a permit
//!   *before* accepting, so under overload the kernel backlog applies back-pressure instead
//!   of us accepting sockets we cannot serve (mini-redis does the same).
//! - The per-IP limit is counted per listener (an MTA peer legitimately opens dozens of
//!   connections, a mail program a handful), with the listener's own maximum
//!   ([`ListenerConfig::max_per_ip`], else the [`Limiter`]'s default). A host over its limit
//!   gets the listener's [`ListenerConfig::refusal`] line (SMTP `421 4.7.0`, IMAP
//!   `* BYE [UNAVAILABLE]`, POP3 `-ERR [SYS/TEMP]`) before the close, so a client knows why
//!   instead of seeing a dropped greeting (Postfix's smtp-source aborts a whole run on one).
//!   Before refusing, a connection waits up to [`SLOT_GRACE`] for one of its host's sessions
//!   to end, so a client reconnecting right after a goodbye is not refused for a connection
//!   that is already gone. The refusal holds its global permit and is written under a short timeout, so a flood
//!   of refused connections stays bounded like any other.
//! - **Overload favours people who log in.** Connections on a listener whose sessions log in
//!   ([`ListenerConfig::login_required`]) are *evictable* until their session reports
//!   [`Admission::authenticated`]. When every global permit is taken, the accept loop evicts
//!   the oldest such connection (its session future is dropped: before login there is nothing
//!   to lose) instead of letting the newcomer wait behind it. A flood of connections that
//!   never log in — slowloris drips from many addresses — therefore cannot keep a legitimate
//!   user from a greeting; a session that has logged in is never evicted. The MTA listener
//!   does not take part: its sessions never log in. A loop still waiting for a permit evicts
//!   again every `EVICT_RETRY` (100 ms): the connections it accepted last may not have been
//!   registered yet when it first looked, and a freed permit may go to another listener.
//! - Accept errors (EMFILE, ENFILE, ECONNABORTED …) are logged and retried with exponential
//!   backoff from 10 ms to 1 s instead of ending the listener: a mail server must survive a
//!   burst of file-descriptor exhaustion.
//! - Implicit TLS handshakes run inside the connection's task under a timeout, so a slow
//!   handshake never blocks the accept loop.
//! - Each connection task holds a shutdown [`Tracker`], the semaphore permit and its per-IP
//!   slot; all are released by drop when the service returns, however it returns.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::shutdown::{Shutdown, Tracker};
use crate::stream::{Stream, with_timeout};

/// A protocol's connection handler. The binary implements it once per protocol.
pub trait Service: Send + Sync + 'static {
    /// Serves one connection until it ends. Should watch `conn.shutdown` and say goodbye
    /// (IMAP `* BYE`, SMTP `421`) when it fires.
    fn handle(&self, conn: Connection) -> impl Future<Output = ()> + Send;
}

/// Everything a session needs about its connection.
pub struct Connection {
    pub stream: Stream,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// For STARTTLS: present on plain listeners when TLS is configured; `None` on implicit-TLS
    /// listeners (already encrypted) and where no TLS exists.
    pub starttls: Option<TlsAcceptor>,
    pub shutdown: Shutdown,
    /// How long the session may wait for the client's next command.
    pub idle_timeout: Duration,
    /// The listener's name (`"imap"`, `"submissions"` …), for logs.
    pub listener: Arc<str>,
    /// Tell the listener when the session has logged in (see the module notes).
    pub admission: Admission,
}

impl Connection {
    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("listener", &self.listener)
            .field("peer", &self.peer)
            .field("tls", &self.is_tls())
            .finish_non_exhaustive()
    }
}

/// How a listener uses TLS.
#[derive(Clone)]
pub enum TlsMode {
    /// Plaintext only (no TLS configured at all).
    Plain,
    /// Plaintext, upgradable with STARTTLS/STLS.
    StartTls(TlsAcceptor),
    /// TLS from the first byte (ports 993, 995, 465).
    Implicit(TlsAcceptor),
}

impl TlsMode {
    fn describe(&self) -> &'static str {
        match self {
            TlsMode::Plain => "plain",
            TlsMode::StartTls(_) => "plain+STARTTLS",
            TlsMode::Implicit(_) => "implicit TLS",
        }
    }
}

/// One protocol's listening configuration.
#[derive(Clone)]
pub struct ListenerConfig {
    pub name: String,
    pub addrs: Vec<SocketAddr>,
    pub tls: TlsMode,
    pub idle_timeout: Duration,
    pub handshake_timeout: Duration,
    /// Concurrent connections one address may hold on this listener; `None`: the
    /// [`Limiter`]'s default.
    pub max_per_ip: Option<u32>,
    /// Whether sessions here log in, so that until they do they may be evicted under
    /// overload (IMAP, POP3, submission: yes; the MTA: no).
    pub login_required: bool,
    /// The line written to a connection refused for its address's limit, before the close
    /// (empty: close without a word). For implicit-TLS listeners it is written after the
    /// handshake.
    pub refusal: &'static [u8],
}

/// How long a refused connection may take to receive its one-line refusal.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an accept loop at `max_connections` waits for a permit before evicting again.
const EVICT_RETRY: Duration = Duration::from_millis(100);

/// Connection limits shared by every listener of a server.
pub struct Limiter {
    total: Arc<Semaphore>,
    max_per_ip: u32,
    /// Open connections per (listener, address).
    per_ip: Mutex<HashMap<(Arc<str>, IpAddr), u32>>,
    /// Woken whenever a slot is released, for [`Limiter::wait_ip`].
    freed: Notify,
    /// Connections not yet logged in, oldest first (see the module notes).
    evictable: Mutex<BTreeMap<u64, Arc<AdmissionState>>>,
    next_admission: AtomicU64,
}

/// A session's standing with the limiter: evictable until it has logged in.
pub struct Admission {
    state: Option<Arc<AdmissionState>>,
    limiter: Option<Arc<Limiter>>,
}

struct AdmissionState {
    seq: u64,
    authenticated: AtomicBool,
    evict: Notify,
}

impl Admission {
    /// An admission that is never evicted (MTA sessions; sessions made outside a listener).
    pub fn exempt() -> Admission {
        Admission {
            state: None,
            limiter: None,
        }
    }

    /// The session has logged in: it is no longer evictable. Cheap to call repeatedly.
    pub fn authenticated(&self) {
        let (Some(state), Some(limiter)) = (&self.state, &self.limiter) else {
            return;
        };
        if !state.authenticated.swap(true, Ordering::AcqRel) {
            limiter.forget(state.seq);
        }
    }

    /// Resolves when the connection is evicted; never for an exempt or logged-in one.
    async fn evicted(&self) {
        match &self.state {
            Some(state) => loop {
                state.evict.notified().await;
                if !state.authenticated.load(Ordering::Acquire) {
                    return;
                }
            },
            None => std::future::pending().await,
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let (Some(state), Some(limiter)) = (&self.state, &self.limiter) {
            limiter.forget(state.seq);
        }
    }
}

impl fmt::Debug for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let authenticated = self
            .state
            .as_ref()
            .map(|s| s.authenticated.load(Ordering::Relaxed));
        f.debug_struct("Admission")
            .field("authenticated", &authenticated)
            .finish()
    }
}

/// How long a connection over its address's limit waits for a slot before it is refused.
pub const SLOT_GRACE: Duration = Duration::from_millis(500);

impl Limiter {
    pub fn new(max_connections: usize, max_per_ip: u32) -> Arc<Self> {
        Arc::new(Limiter {
            total: Arc::new(Semaphore::new(max_connections)),
            max_per_ip,
            per_ip: Mutex::new(HashMap::new()),
            freed: Notify::new(),
            evictable: Mutex::new(BTreeMap::new()),
            next_admission: AtomicU64::new(0),
        })
    }

    /// Takes a per-IP slot on `listener`, or `None` if `ip` is at its limit there (`max`, or
    /// the limiter's default).
    pub fn try_ip(
        self: &Arc<Self>,
        listener: &Arc<str>,
        ip: IpAddr,
        max: Option<u32>,
    ) -> Option<IpSlot> {
        let max = max.unwrap_or(self.max_per_ip);
        let key = (Arc::clone(listener), ip);
        let mut map = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(key.clone()).or_insert(0);
        if *n >= max {
            if *n == 0 {
                map.remove(&key);
            }
            return None;
        }
        *n += 1;
        Some(IpSlot {
            limiter: Arc::clone(self),
            key,
        })
    }

    /// Like [`try_ip`](Self::try_ip), but a host at its limit may wait up to [`SLOT_GRACE`]
    /// for one of its sessions to end. A client that reconnects the moment it reads the
    /// server's goodbye (`221`, `* BYE`, `+OK`) can otherwise arrive before the finished
    /// session's task has released its slot, and be refused for a connection already gone.
    pub async fn wait_ip(
        self: &Arc<Self>,
        listener: &Arc<str>,
        ip: IpAddr,
        max: Option<u32>,
    ) -> Option<IpSlot> {
        let deadline = tokio::time::Instant::now() + SLOT_GRACE;
        loop {
            let freed = self.freed.notified();
            if let Some(slot) = self.try_ip(listener, ip, max) {
                return Some(slot);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return self.try_ip(listener, ip, max);
            }
        }
    }

    /// Registers a new connection; evictable until it logs in when `login_required`.
    fn admit(self: &Arc<Self>, login_required: bool) -> (Admission, Admission) {
        if !login_required {
            return (Admission::exempt(), Admission::exempt());
        }
        let state = Arc::new(AdmissionState {
            seq: self.next_admission.fetch_add(1, Ordering::Relaxed),
            authenticated: AtomicBool::new(false),
            evict: Notify::new(),
        });
        self.evictable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(state.seq, Arc::clone(&state));
        // One handle for the session, one for the listener's watch: the entry is forgotten
        // when either is dropped (the session ended) or on login.
        let mk = || Admission {
            state: Some(Arc::clone(&state)),
            limiter: Some(Arc::clone(self)),
        };
        (mk(), mk())
    }

    fn forget(&self, seq: u64) {
        self.evictable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&seq);
    }

    /// Evicts the oldest connection that has not logged in; false if there is none.
    fn evict_oldest(&self) -> bool {
        let oldest = self
            .evictable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_first();
        match oldest {
            Some((_, state)) => {
                state.evict.notify_one();
                true
            }
            None => false,
        }
    }

    /// Connections currently open from `ip`, over all listeners.
    pub fn count(&self, ip: IpAddr) -> u32 {
        let map = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .filter(|((_, a), _)| *a == ip)
            .map(|(_, n)| *n)
            .sum()
    }
}

/// A held per-IP connection slot; released on drop.
pub struct IpSlot {
    limiter: Arc<Limiter>,
    key: (Arc<str>, IpAddr),
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        // A poisoned lock only means another thread panicked mid-update of a counter; the map
        // itself is still usable, and leaking a slot would lock the IP out forever.
        let mut map = self
            .limiter
            .per_ip
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.key);
            }
        }
        drop(map);
        self.limiter.freed.notify_waiters();
    }
}

/// A bind failure, naming the address.
#[derive(Debug, thiserror::Error)]
#[error("{name}: cannot listen on {addr}: {source}")]
pub struct BindError {
    pub name: String,
    pub addr: SocketAddr,
    pub source: io::Error,
}

/// A bound, not yet running, listener for one protocol.
pub struct Listener {
    cfg: ListenerConfig,
    sockets: Vec<TcpListener>,
    limiter: Arc<Limiter>,
}

impl Listener {
    /// Binds every configured address.
    pub async fn bind(cfg: ListenerConfig, limiter: Arc<Limiter>) -> Result<Self, BindError> {
        let mut sockets = Vec::with_capacity(cfg.addrs.len());
        for &addr in &cfg.addrs {
            let sock = TcpListener::bind(addr).await.map_err(|source| BindError {
                name: cfg.name.clone(),
                addr,
                source,
            })?;
            sockets.push(sock);
        }
        Ok(Listener {
            cfg,
            sockets,
            limiter,
        })
    }

    /// The bound addresses (with real ports when port 0 was asked for).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    /// The startup line: `imap listening on 127.0.0.1:1143 (plain+STARTTLS)`.
    pub fn describe(&self) -> String {
        let addrs: Vec<String> = self.local_addrs().iter().map(|a| a.to_string()).collect();
        format!(
            "{} listening on {} ({})",
            self.cfg.name,
            addrs.join(", "),
            self.cfg.tls.describe()
        )
    }

    /// Accepts connections on every address until shutdown, serving each with `service`.
    /// Returns once every accept loop has stopped; sessions still running keep their own
    /// trackers, so the server's drain waits for them too.
    pub async fn run<S: Service>(self, service: Arc<S>, shutdown: Shutdown, tracker: Tracker) {
        let name: Arc<str> = Arc::from(self.cfg.name.as_str());
        let cfg = Arc::new(self.cfg);
        let mut loops = Vec::new();
        for sock in self.sockets {
            loops.push(tokio::spawn(accept_loop(
                sock,
                Arc::clone(&cfg),
                Arc::clone(&name),
                Arc::clone(&self.limiter),
                Arc::clone(&service),
                shutdown.clone(),
                tracker.clone(),
            )));
        }
        for l in loops {
            let _ = l.await;
        }
    }
}

async fn accept_loop<S: Service>(
    sock: TcpListener,
    cfg: Arc<ListenerConfig>,
    name: Arc<str>,
    limiter: Arc<Limiter>,
    service: Arc<S>,
    mut shutdown: Shutdown,
    tracker: Tracker,
) {
    let mut backoff = Duration::from_millis(10);
    loop {
        let permit = match Arc::clone(&limiter.total).try_acquire_owned() {
            Ok(p) => p,
            Err(TryAcquireError::Closed) => break, // server is going away
            Err(TryAcquireError::NoPermits) => {
                // Full: make room by evicting the oldest connection that has not logged in
                // (module notes); if every session has logged in, wait for one to end.
                // Evicting again every EVICT_RETRY while no permit comes: connections
                // accepted just before may not have registered as evictable yet (their
                // tasks had not run), and a permit freed may go to another listener's loop
                // queued first; waiting once for good left a flood holding every slot.
                let acquired = loop {
                    if limiter.evict_oldest() {
                        debug!(listener = %name, "at max_connections: evicted the oldest connection not logged in");
                    }
                    tokio::select! {
                        _ = shutdown.wait() => break None,
                        p = Arc::clone(&limiter.total).acquire_owned() => break p.ok(),
                        _ = tokio::time::sleep(EVICT_RETRY) => {}
                    }
                };
                match acquired {
                    Some(p) => p,
                    None => break,
                }
            }
        };
        let accepted = tokio::select! {
            _ = shutdown.wait() => break,
            r = sock.accept() => r,
        };
        let (tcp, peer) = match accepted {
            Ok(x) => {
                backoff = Duration::from_millis(10);
                x
            }
            Err(e) => {
                warn!(listener = %name, error = %e, "accept failed; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (cfg, name, limiter) = (Arc::clone(&cfg), Arc::clone(&name), Arc::clone(&limiter));
        let (service, shutdown, tracker) =
            (Arc::clone(&service), shutdown.clone(), tracker.clone());
        tokio::spawn(async move {
            let Some(slot) = limiter.wait_ip(&name, peer.ip(), cfg.max_per_ip).await else {
                info!(listener = %name, %peer, "too many connections from this address; refusing");
                return refuse(tcp, cfg, permit).await;
            };
            serve_one(
                (tcp, peer),
                cfg,
                name,
                service,
                shutdown,
                &limiter,
                (tracker, permit, slot),
            )
            .await
        });
    }
    debug!(listener = %name, "accept loop stopped");
}

/// Tells a connection over its address's limit why it is closed, then closes it. Holds the
/// global permit until done, so refusals count against `max_connections` like sessions.
async fn refuse(tcp: TcpStream, cfg: Arc<ListenerConfig>, _permit: OwnedSemaphorePermit) {
    use tokio::io::AsyncWriteExt;
    if cfg.refusal.is_empty() {
        return;
    }
    let _ = tcp.set_nodelay(true);
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, async {
        let mut stream = match &cfg.tls {
            TlsMode::Implicit(acc) => Stream::Plain(tcp).starttls(acc).await?,
            _ => Stream::Plain(tcp),
        };
        stream.write_all(cfg.refusal).await?;
        stream.flush().await?;
        stream.shutdown().await
    })
    .await;
}

async fn serve_one<S: Service>(
    (tcp, peer): (TcpStream, SocketAddr),
    cfg: Arc<ListenerConfig>,
    name: Arc<str>,
    service: Arc<S>,
    shutdown: Shutdown,
    limiter: &Arc<Limiter>,
    // Held, not used: dropping them at the end of this task releases the connection.
    _held: (Tracker, OwnedSemaphorePermit, IpSlot),
) {
    let local = match tcp.local_addr() {
        Ok(a) => a,
        Err(e) => {
            debug!(listener = %name, %peer, error = %e, "connection gone before start");
            return;
        }
    };
    let (stream, starttls) = match &cfg.tls {
        TlsMode::Plain => (Stream::Plain(tcp), None),
        TlsMode::StartTls(acc) => (Stream::Plain(tcp), Some(acc.clone())),
        TlsMode::Implicit(acc) => {
            match with_timeout(cfg.handshake_timeout, Stream::Plain(tcp).starttls(acc)).await {
                Ok(s) => (s, None),
                Err(e) => {
                    debug!(listener = %name, %peer, error = %e, "TLS handshake failed");
                    return;
                }
            }
        }
    };
    debug!(listener = %name, %peer, tls = stream.is_tls(), "connection accepted");
    let _open = pochta_metrics::connection(&name);
    let (admission, watch) = limiter.admit(cfg.login_required);
    let conn = Connection {
        stream,
        peer,
        local,
        starttls,
        shutdown,
        idle_timeout: cfg.idle_timeout,
        listener: Arc::clone(&name),
        admission,
    };
    tokio::select! {
        _ = service.handle(conn) => {}
        _ = watch.evicted() => {
            info!(listener = %name, %peer, "evicted before login: the server is at max_connections");
        }
    }
    debug!(listener = %name, %peer, "connection closed");
}
