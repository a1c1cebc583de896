//! The small plain-HTTP/1.1 listeners beside the main one (`--redirect-http`,
//! `--metrics-listen`): each connection gets one synchronous answer function, the
//! header timeout as its only deadline, and one request per connection. They stop when
//! the server does.

use super::idle::IdleIo;
use super::respond::Body;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How a plain listener answers a request.
pub type Answer = Arc<dyn Fn(&Request<Incoming>) -> Response<Body> + Send + Sync>;

/// Serves `answer` on `listener` until `stop` flips.
pub async fn serve(
    listener: TcpListener,
    answer: Answer,
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
        let answer = Arc::clone(&answer);
        tokio::spawn(async move {
            let io = IdleIo::new(tcp, timeout, timeout);
            let svc = service_fn(move |req: Request<Incoming>| {
                let r = answer(&req);
                async move { Ok::<_, Infallible>(r) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .keep_alive(false)
                .serve_connection(TokioIo::new(io), svc)
                .await;
        });
    }
}
