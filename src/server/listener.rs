//! The accept loop and each connection's life: a semaphore caps open connections;
//! the TLS handshake runs inside the connection's task under a timeout (and is cut
//! short when shutdown begins); then hyper-util's auto builder serves HTTP/1.1 or h2
//! until the client leaves, goes silent ([`super::idle`]) or shutdown drains it.

use super::idle::IdleIo;
use super::router;
use super::state::AppState;
use crate::config::{Config, ConnLimits};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch, Semaphore};
use tokio_rustls::TlsAcceptor;

pub(super) async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<AppState>,
    config: Config,
    mut stop: oneshot::Receiver<()>,
) {
    let graceful = GracefulShutdown::new();
    let (draining_tx, draining) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(config.limits.max_connections));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.limits.header_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(128)
        .keep_alive_interval(Some(config.limits.idle_timeout))
        .keep_alive_timeout(Duration::from_secs(20));
    let builder = Arc::new(builder);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = &mut stop => break,
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let _ = tcp.set_nodelay(true);
        let watcher = graceful.watcher();
        let state = Arc::clone(&state);
        let builder = Arc::clone(&builder);
        let tls = tls.clone();
        let limits = config.limits.clone();
        let mut draining = draining.clone();
        tokio::spawn(async move {
            let _permit = permit;
            connection(tcp, peer, tls, state, &builder, watcher, &limits, &mut draining).await;
        });
    }
    drop(listener);
    let _ = draining_tx.send(true);
    if tokio::time::timeout(config.limits.shutdown_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!("drain deadline passed; closing remaining connections");
    }
}

/// One connection: TLS handshake (bounded), then HTTP until the client leaves, goes
/// idle, or shutdown drains it.
#[allow(clippy::too_many_arguments)] // one call site; the parameters are the connection's context
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    state: Arc<AppState>,
    builder: &auto::Builder<TokioExecutor>,
    watcher: Watcher,
    limits: &ConnLimits,
    draining: &mut watch::Receiver<bool>,
) {
    let (first, idle) = (limits.header_timeout, limits.idle_timeout);
    let Some(acceptor) = tls else {
        return serve_connection(IdleIo::new(tcp, first, idle), peer, state, builder, watcher).await;
    };
    let handshake = tokio::select! {
        r = tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(tcp)) => r,
        // Shutdown does not wait for handshakes: nothing was asked of us yet.
        _ = draining.wait_for(|d| *d) => return,
    };
    match handshake {
        Ok(Ok(stream)) => {
            serve_connection(IdleIo::new(stream, first, idle), peer, state, builder, watcher).await
        }
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    state: Arc<AppState>,
    builder: &auto::Builder<TokioExecutor>,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let state = Arc::clone(&state);
        async move { Ok::<_, std::convert::Infallible>(router::handle(&state, peer, req).await) }
    });
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    if let Err(e) = watcher.watch(conn.into_owned()).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
