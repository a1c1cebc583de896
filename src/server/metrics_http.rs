//! Serving the metrics: the `/metrics` response (also routed on the main listener
//! for admins), and the optional `--metrics-listen` plain-HTTP listener that
//! answers `GET /metrics` and nothing else.

use super::idle::IdleIo;
use super::respond::{security_headers, Body};
use super::state::AppState;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The metrics in Prometheus' text format.
pub fn response(state: &AppState) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(state.metrics.render(&state.auth))));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    r
}

fn answer<B>(state: &AppState, req: &Request<B>) -> Response<Body> {
    let mut r = if req.method() == Method::GET && req.uri().path() == "/metrics" {
        response(state)
    } else {
        let mut r = Response::new(Full::new(Bytes::from_static(br#"{"detail":"Not Found"}"#)));
        *r.status_mut() = StatusCode::NOT_FOUND;
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    };
    security_headers(&mut r, false);
    r
}

/// Serves `/metrics` on `listener` until `stop` flips.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (tcp, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let io = IdleIo::new(tcp, timeout, timeout);
            let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(answer(&state, &req)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .serve_connection(TokioIo::new(io), svc)
                .await;
        });
    }
}
