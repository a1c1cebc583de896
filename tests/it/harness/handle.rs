//! What `t.server` holds: a [`ServerHandle`], the running server of either tier,
//! with the methods tests call on it (`auth`, `setup_code`, `local_addr`,
//! `shutdown`) answering the same way in both. It stands where a
//! `gatehouse::server::Server` stood when every test ran over TLS, so
//! `t.server.as_ref().unwrap().auth()` and `t.server.take().unwrap().shutdown()`
//! keep working; [`ServerHandle::wire`] reaches the real server's own methods.

use super::client::SERVICE_ADDR;
use gatehouse::domain::Auth;
use gatehouse::server::state::AppState;
use gatehouse::server::Server;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A running test server (see the module doc).
pub enum ServerHandle {
    /// A service-tier server: its request state, which this handle alone owns
    /// (its clients hold it weakly), so shutting it down closes the store.
    Service(Arc<AppState>),
    /// The real server, listening over TLS.
    Tls(Box<Server>),
}

/// How long a service-tier shutdown waits for requests still in flight, as the
/// real server's drain deadline does.
const DRAIN: Duration = Duration::from_secs(30);

impl ServerHandle {
    /// The auth core, as the operator's commands reach it.
    pub fn auth(&self) -> &Arc<Auth> {
        match self {
            Self::Service(state) => &state.auth,
            Self::Tls(server) => server.auth(),
        }
    }

    /// The first-run setup code, while no administrator exists and it is unused.
    pub fn setup_code(&self) -> Option<String> {
        self.auth().setup_code()
    }

    /// The bound address over TLS; in the service tier, [`SERVICE_ADDR`] (where
    /// nothing listens; its port is the one the issuer names).
    pub fn local_addr(&self) -> SocketAddr {
        match self {
            Self::Service(_) => SERVICE_ADDR,
            Self::Tls(server) => server.local_addr(),
        }
    }

    /// The real server, for what only it has (its certificate, TLS reloads).
    /// Panics in the service tier: such a test belongs over TLS.
    pub fn wire(&self) -> &Server {
        match self {
            Self::Tls(server) => server,
            Self::Service(_) => panic!("a service-tier server has no listener: use TestServer::over_tls"),
        }
    }

    /// Stops the server as `Server::shutdown` does: waits for requests in flight
    /// (up to [`DRAIN`]), writes what the background task would still write (the
    /// audit queue, API-key use), and releases the store.
    pub async fn shutdown(self) {
        match self {
            Self::Tls(server) => server.shutdown().await,
            Self::Service(state) => {
                let deadline = tokio::time::Instant::now() + DRAIN;
                while Arc::strong_count(&state) > 1 && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let auth = Arc::clone(&state.auth);
                drop(state);
                tokio::task::spawn_blocking(move || {
                    auth.flush_audit().unwrap();
                    auth.flush_key_usage().unwrap();
                })
                .await
                .unwrap();
            }
        }
    }
}
