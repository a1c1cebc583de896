//! The composition root: what `gatehouse serve` (and the integration tests) put
//! together. It binds the listening socket, opens the store and builds the auth
//! core through the domain, and hands both to the server. Nothing else constructs
//! an `Auth` for serving, so the server never opens storage itself. [`service`]
//! builds the same core and request state with no socket at all, for tests that
//! drive the router directly.

use crate::clock::Clock;
use crate::config::{Config, TlsSource};
use crate::domain::{Auth, Hashing};
use crate::server::state::AppState;
use crate::server::{self, Server};
use anyhow::anyhow;
use std::sync::Arc;
use tokio::net::TcpListener;

async fn open(config: &Config, clock: Clock) -> anyhow::Result<(TcpListener, Arc<Auth>)> {
    let listener = server::bind(config).await?;
    // It holds the TLS files and the admin socket even when the data is in PostgreSQL.
    if !config.data_dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.data_dir)
            .map_err(|e| anyhow!("cannot create {}: {e}", config.data_dir.display()))?;
    }
    let issuer = config.issuer_for(listener.local_addr()?.port());
    Ok((listener, open_auth(config, clock, &issuer)?))
}

fn open_auth(config: &Config, clock: Clock, issuer: &str) -> anyhow::Result<Arc<Auth>> {
    let hashing = Hashing { params: config.hash_params, memory_bytes: config.hash_memory_bytes };
    let auth = Auth::open(&config.store, hashing, clock, config.policy.clone(), issuer)
        .map_err(|e| anyhow!("cannot open {}: {e}", config.store.describe()))?;
    Ok(Arc::new(auth))
}

/// Starts a server on `clock` and returns its handle (tests pin the clock).
pub async fn start(config: Config, clock: Clock) -> anyhow::Result<Server> {
    let (listener, auth) = open(&config, clock).await?;
    server::start(config, listener, auth).await
}

/// What [`start`] would serve, as the request state alone: the same core and
/// configuration, the issuer of a server listening on `port`, HSTS as the TLS
/// configuration says, and the first-run setup opened; but no socket, no TLS
/// handshake and no background task. Requests go to `server::router::handle`
/// directly (the integration tests' service tier).
pub fn service(config: &Config, clock: Clock, port: u16) -> anyhow::Result<Arc<AppState>> {
    let issuer = config.issuer_for(port);
    let auth = open_auth(config, clock, &issuer)?;
    let tls = !matches!(config.tls, TlsSource::None);
    let state = AppState::new(config, auth, issuer, tls);
    state.auth.open_setup().map_err(|e| anyhow!("{e}"))?;
    Ok(Arc::new(state))
}

/// `gatehouse serve`: runs until SIGTERM or SIGINT (see [`server::run`]).
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let (listener, auth) = open(&config, Clock::system()).await?;
    server::run(config, listener, auth).await
}
