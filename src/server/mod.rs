//! The only code that knows hyper, rustls or sockets.
//!
//! [`start`] validates nothing (that was [`crate::config`]'s job), opens the store,
//! loads TLS, binds, and spawns the accept loop; it returns a [`Server`] handle whose
//! [`Server::shutdown`] stops accepting, lets in-flight requests finish within the
//! drain deadline, and returns. [`run`] is `start` plus waiting for SIGTERM/SIGINT.
//!
//! Connection life is in [`listener`]: accept (a semaphore caps open connections) →
//! TLS handshake under a timeout → hyper-util's auto builder (HTTP/1.1 or h2 by
//! ALPN/preface) with a header-read timeout → [`router::handle`] per request.

pub mod admin_socket;
pub mod background;
pub mod client;
pub mod cookies;
pub mod cors;
pub mod error;
pub mod extract;
pub mod gate;
pub mod handlers;
pub mod idle;
mod listener;
pub mod metrics;
pub mod metrics_http;
pub mod notify;
pub mod plain;
pub mod ratelimit;
pub mod redirect;
pub mod request;
pub mod respond;
pub mod return_to;
pub mod router;
pub mod routes;
pub mod state;
pub mod tls;

use crate::config::Config;
use crate::domain::Auth;
use anyhow::Context;
use state::AppState;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use tls::CertInfo;

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    data_dir: std::path::PathBuf,
    cert: Option<CertInfo>,
    state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    cert_store: Option<Arc<tls::CertStore>>,
    stop_background: tokio::sync::watch::Sender<bool>,
    background: JoinHandle<()>,
    task: JoinHandle<()>,
}

impl Server {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The certificate in use (`None` with `--insecure-http`).
    pub fn cert(&self) -> Option<&CertInfo> {
        self.cert.as_ref()
    }

    /// The auth core (tests and operator tooling).
    pub fn auth(&self) -> &Arc<Auth> {
        &self.state.auth
    }

    /// The first-run setup code, while no administrator exists and it is unused.
    pub fn setup_code(&self) -> Option<String> {
        self.state.auth.setup_code()
    }

    /// Re-reads the TLS certificate and key (SIGHUP), renewing the generated one
    /// first if it is due. On error the old one stays.
    pub fn reload_tls(&self) -> anyhow::Result<Option<CertInfo>> {
        self.cert_store.as_ref().map(|s| s.reload()).transpose()
    }

    /// Runs the periodic check of the generated certificate now (what the server
    /// does every [`tls::CHECK_EVERY`]): `Some` when a renewed one is now served.
    pub async fn check_tls(&self) -> anyhow::Result<Option<CertInfo>> {
        let Some(store) = self.cert_store.clone() else { return Ok(None) };
        tokio::task::spawn_blocking(move || store.check()).await.context("TLS check")?
    }

    /// Stops accepting, drains in-flight requests (up to the configured deadline)
    /// and returns once every connection is closed or the deadline passed.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        let _ = self.stop_background.send(true);
        let _ = (&mut self.background).await;
    }
}

/// Binds the listening socket (`--listen`; port 0 picks one, so the issuer, which
/// names the port, is known only after this).
pub async fn bind(config: &Config) -> anyhow::Result<TcpListener> {
    TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))
}

/// Starts serving on `listener` with the auth core `auth` (built by the composition
/// root, `crate::app`); see the module doc.
pub async fn start(config: Config, listener: TcpListener, auth: Arc<Auth>) -> anyhow::Result<Server> {
    let addr = listener.local_addr()?;
    let issuer = config.issuer_for(addr.port());
    let tls = tls::load(&config.tls, &config.data_dir, auth.clock())?;
    let state = Arc::new(AppState::new(&config, auth, issuer, tls.is_some()));
    let slots = state.hash_gate.available_permits();
    // While there is no administrator, /ui/setup creates the first one with a
    // one-time code that only someone who can read the console has.
    state.auth.open_setup().map_err(|e| anyhow::anyhow!("{e}"))?;
    let (stop_tx, stop_rx) = oneshot::channel();
    let (flush_tx, stop_flush) = tokio::sync::watch::channel(false);
    let (acceptor, cert, cert_store) = match tls {
        Some((cfg, info, store)) => (Some(TlsAcceptor::from(cfg)), Some(info), Some(store)),
        None => (None, None, None),
    };
    if let Some(redirect_addr) = config.redirect_http {
        let plain = TcpListener::bind(redirect_addr)
            .await
            .with_context(|| format!("cannot listen on {redirect_addr} for --redirect-http"))?;
        tracing::info!(addr = %plain.local_addr()?, "redirecting plain HTTP to HTTPS");
        tokio::spawn(plain::serve(
            plain,
            redirect::answer(addr.port()),
            config.limits.header_timeout,
            stop_flush.clone(),
        ));
    }
    if let Some(metrics_addr) = config.metrics_listen {
        let plain = TcpListener::bind(metrics_addr)
            .await
            .with_context(|| format!("cannot listen on {metrics_addr} for --metrics-listen"))?;
        tracing::info!(addr = %plain.local_addr()?, "serving /metrics");
        let header_timeout = config.limits.header_timeout;
        let answer = metrics_http::answer(Arc::clone(&state));
        tokio::spawn(plain::serve(plain, answer, header_timeout, stop_flush.clone()));
    }
    // Serving matters more than the admin socket: if it cannot be created (a data
    // directory path longer than a Unix socket name allows, say), say so and go on;
    // operator commands then need the server stopped.
    let socket_path = crate::ops::socket_path(&config.data_dir);
    match admin_socket::bind(&config.data_dir) {
        Ok(admin) => {
            tokio::spawn(admin_socket::serve(
                admin,
                Arc::clone(&state.auth),
                socket_path,
                stop_flush.clone(),
            ));
        }
        Err(e) => tracing::warn!(
            path = %socket_path.display(), error = %e,
            "no admin socket: operator commands will need the server stopped"
        ),
    }
    if let Some(store) = cert_store.as_ref().filter(|s| s.is_generated()) {
        tokio::spawn(tls::keep_renewed(Arc::clone(store), tls::CHECK_EVERY, stop_flush.clone()));
    }
    let background = tokio::spawn(background::run(Arc::clone(&state), config.cleanup_interval, stop_flush));
    let task =
        tokio::spawn(listener::accept_loop(listener, acceptor, Arc::clone(&state), config.clone(), stop_rx));
    if let Some(path) = &config.ready_file {
        write_ready_file(path, addr)?;
    }
    tracing::info!(%addr, tls = cert.is_some(), hash_slots = slots, "listening");
    Ok(Server {
        addr,
        data_dir: config.data_dir.clone(),
        cert,
        state,
        stop: Some(stop_tx),
        cert_store,
        stop_background: flush_tx,
        background,
        task,
    })
}

fn write_ready_file(path: &std::path::Path, addr: SocketAddr) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{addr}\n")).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write ready file {}", path.display()))?;
    Ok(())
}

/// Runs until SIGTERM or SIGINT, then shuts down gracefully. SIGHUP reloads the
/// TLS certificate. Under systemd (`Type=notify`) it reports READY=1 once
/// listening, STOPPING=1 when draining, and pings the watchdog if one is set.
pub async fn run(config: Config, listener: TcpListener, auth: Arc<Auth>) -> anyhow::Result<()> {
    // Handlers first: a signal that arrives the moment the ready file appears must
    // drain, not kill the process.
    let mut signals = Signals::install()?;
    let server = start(config, listener, auth).await?;
    announce(&server);
    notify::send("READY=1");
    let watchdog = notify::watchdog_interval().map(|every| tokio::spawn(notify::watchdog(every)));
    while let Signal::Reload = signals.next().await {
        match server.reload_tls() {
            Ok(Some(info)) => tracing::info!(fingerprint = %info.fingerprint, "reloaded the TLS certificate"),
            Ok(None) => tracing::info!("SIGHUP: nothing to reload (plain HTTP)"),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "TLS reload failed; keeping the current certificate")
            }
        }
    }
    notify::send("STOPPING=1");
    tracing::info!("shutting down: no new connections; draining in-flight requests");
    server.shutdown().await;
    if let Some(w) = watchdog {
        w.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

fn announce(server: &Server) {
    match server.cert() {
        Some(c) => {
            println!("gatehouse listening on https://{}", server.local_addr());
            announce_cert(c);
        }
        None => {
            println!("gatehouse listening on http://{} (plain HTTP: --insecure-http)", server.local_addr())
        }
    }
    if let Some(code) = server.setup_code() {
        let dir = server.data_dir.display();
        let base = match server.cert() {
            Some(_) => format!("https://{}", server.local_addr()),
            None => format!("http://{}", server.local_addr()),
        };
        println!();
        println!("No administrator yet. Create the first super_admin in a browser at");
        println!("  {base}/ui/setup");
        println!("Setup code: {code}");
        println!("(valid until an administrator exists or the server restarts), or on this host:");
        println!("  gatehouse user add admin --email you@example.com --role super_admin --data-dir {dir}");
    }
}

fn announce_cert(c: &CertInfo) {
    let Some(ca) = &c.ca else {
        println!("certificate: {}", c.cert_path.display());
        println!("SHA-256 fingerprint: {}", c.fingerprint);
        return;
    };
    let until = tls::inspect::rfc3339(c.not_after);
    let what = if c.generated { "generated now" } else { "generated" };
    println!("certificate: {} ({what}; valid until {until}, renewed automatically)", c.cert_path.display());
    println!(
        "local CA:    {} (clients trust this file, or tls-cert.pem, which contains it)",
        ca.path.display()
    );
    println!("CA SHA-256 fingerprint:   {} (stable: pin this one)", ca.fingerprint);
    println!("leaf SHA-256 fingerprint: {} (changes at each renewal)", c.fingerprint);
    println!("leaf public-key pin:      {} (curl --pinnedpubkey; kept across renewals)", c.key_pin);
}

/// SIGTERM, SIGINT and SIGHUP, caught from the moment they are installed.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

/// What a signal asks for.
enum Signal {
    Stop,
    Reload,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            hup: signal(SignalKind::hangup()).context("installing the SIGHUP handler")?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Stop,
            _ = self.int.recv() => Signal::Stop,
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}
