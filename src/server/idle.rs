//! A connection wrapper that closes connections on which the client sends nothing.
//!
//! The auto builder waits for a connection's first bytes (to tell HTTP/1.1 from h2)
//! with no timer at all, so a client that completes the TLS handshake and then stays
//! silent would hold a connection slot forever; and h2 has no idle timeout of its
//! own. [`IdleIo`] fails a read that has waited longer than the deadline: `first`
//! until the client's first bytes, `idle` after that. (For HTTP/1.1, hyper's
//! header-read timeout also runs while a kept-alive connection waits for its next
//! request, so there the shorter of the two applies.)

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep, Instant, Sleep};

/// See the module doc.
pub struct IdleIo<I> {
    inner: I,
    first: Duration,
    idle: Duration,
    started: bool,
    timer: Pin<Box<Sleep>>,
}

impl<I> IdleIo<I> {
    /// Wraps `inner`; the first read must produce data within `first`, later ones
    /// within `idle` of the last activity.
    pub fn new(inner: I, first: Duration, idle: Duration) -> Self {
        Self { inner, first, idle, started: false, timer: Box::pin(sleep(first)) }
    }

    fn touch(&mut self) {
        let d = if self.started { self.idle } else { self.first };
        self.timer.as_mut().reset(Instant::now() + d);
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for IdleIo<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.started = true;
                    self.touch();
                }
                Poll::Ready(r)
            }
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "client idle"))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for IdleIo<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) && self.started {
            // A response being written counts as activity: the idle clock restarts
            // after the server has answered, not while it is still working.
            self.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) && self.started {
            self.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn silent_client_times_out_and_active_one_does_not() {
        let (client, server) = tokio::io::duplex(64);
        let mut io = IdleIo::new(server, Duration::from_secs(2), Duration::from_secs(5));
        let mut buf = [0u8; 8];
        let err = io.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);

        let (mut client2, server2) = tokio::io::duplex(64);
        let mut io = IdleIo::new(server2, Duration::from_secs(2), Duration::from_secs(5));
        client2.write_all(b"GET").await.unwrap();
        assert_eq!(io.read(&mut buf).await.unwrap(), 3);
        // After the first bytes the longer idle deadline applies.
        let t = Instant::now();
        assert!(io.read(&mut buf).await.is_err());
        assert!(t.elapsed() >= Duration::from_secs(5));
        drop(client);
    }
}
