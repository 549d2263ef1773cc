//! The server's TCP connections. Each is wrapped in a `StallGuard`: a write that cannot make
//! progress for `stall_limit` (the client stopped reading and the kernel's send buffer is full)
//! fails, and the connection is closed; at the end of a shutdown every connection is cut. Without it a client that pauses its socket stays
//! connected for ever, pinning whatever was queued for it: socketioxide's disconnect and
//! Engine.IO's ping both need room in the very buffer that is full.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Accepts TCP connections, with `TCP_NODELAY` (tokens are small frames that must leave at once;
/// Nagle would hold each one until the previous is acknowledged) and a stall guard.
pub struct GuardedListener {
    inner: TcpListener,
    stall_limit: Duration,
    closing: CancellationToken,
}

impl GuardedListener {
    /// `closing` cuts every connection when cancelled (the end of a shutdown).
    pub fn new(inner: TcpListener, stall_limit: Duration, closing: CancellationToken) -> Self {
        Self {
            inner,
            stall_limit,
            closing,
        }
    }
}

impl Listener for GuardedListener {
    type Io = StallGuard<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
        let guard = StallGuard::new(stream, self.stall_limit).closed_by(&self.closing);
        (guard, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// The peer of a connection, as request handlers see it (`ConnectInfo<Peer>`).
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    /// What the server has written on the connection so far.
    pub written: WrittenBytes,
}

impl Peer {
    /// A peer whose writes are not counted (requests made in tests).
    pub fn at(addr: SocketAddr) -> Self {
        Self {
            addr,
            written: WrittenBytes::default(),
        }
    }
}

impl Connected<IncomingStream<'_, GuardedListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, GuardedListener>) -> Self {
        Peer {
            addr: *stream.remote_addr(),
            written: stream.io().written.clone(),
        }
    }
}

/// Bytes written on one connection, counted as the kernel takes them: how a socket's sender
/// learns how much of what it queued a websocket has put on the wire.
#[derive(Debug, Clone, Default)]
pub struct WrittenBytes(Arc<AtomicU64>);

impl WrittenBytes {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A connection that can be cut in both directions at once, so whoever reads it (the Engine.IO
/// transport) sees it end too, not only the writer.
pub trait Cut {
    fn cut(&self);
}

impl Cut for TcpStream {
    fn cut(&self) {
        if let Err(e) = rustix::net::shutdown(self, rustix::net::Shutdown::Both) {
            tracing::debug!("cannot shut the connection down: {e}");
        }
    }
}

/// A stream whose writes fail, and which is cut, once they have made no progress for `limit`.
pub struct StallGuard<S> {
    inner: S,
    written: WrittenBytes,
    limit: Duration,
    /// Set while a write waits; it fires `limit` after the wait began.
    stalled: Option<Pin<Box<Sleep>>>,
    /// Cut already: every later write fails at once.
    cut: bool,
    /// Resolves when every connection is to be cut (the end of a shutdown).
    closing: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
}

impl<S: Cut> StallGuard<S> {
    pub fn new(inner: S, limit: Duration) -> Self {
        Self {
            inner,
            written: WrittenBytes::default(),
            limit,
            stalled: None,
            cut: false,
            closing: None,
        }
    }

    /// Cut when `token` is cancelled: the client sees its transport close and reconnects (to
    /// another process, behind a balancer), where a Socket.IO disconnect would stop it.
    pub fn closed_by(mut self, token: &CancellationToken) -> Self {
        self.closing = Some(Box::pin(token.clone().cancelled_owned()));
        self
    }

    /// Whether the connection is to be cut now; registers for the moment it is.
    fn closing(&mut self, cx: &mut Context<'_>) -> bool {
        if self.cut {
            return true;
        }
        let closing = self
            .closing
            .as_mut()
            .is_some_and(|closing| closing.as_mut().poll(cx).is_ready());
        if closing {
            self.cut = true;
            self.inner.cut();
        }
        closing
    }

    fn cut_error(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the client read nothing for {} ms: connection closed",
                self.limit.as_millis()
            ),
        )
    }

    /// After a write returned `Pending`: waits for the deadline too, and cuts the connection
    /// past it.
    fn check_stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let limit = self.limit;
        let deadline = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + limit)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.cut = true;
                self.inner.cut();
                let e = self.cut_error();
                tracing::info!("{e}");
                metrics::counter!("ragcast_stalled_connections_closed_total").increment(1);
                Poll::Ready(Err(e))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

use std::future::Future;

impl<S: AsyncRead + Unpin + Cut> AsyncRead for StallGuard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.closing(cx) {
            // The end of the stream, as if the client had closed it.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read {
            crate::traffic::bytes_in(buf.filled().len() - before);
        }
        read
    }
}

/// Counts the bytes a finished write took (`traffic` and the connection's own count), and
/// hands its result on.
fn count_written(
    counter: &WrittenBytes,
    written: Poll<io::Result<usize>>,
) -> Poll<io::Result<usize>> {
    if let Poll::Ready(Ok(n)) = written {
        crate::traffic::bytes_out(n);
        counter.add(n);
    }
    written
}

impl<S: AsyncWrite + Unpin + Cut> AsyncWrite for StallGuard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.closing(cx) {
            return Poll::Ready(Err(self.cut_error()));
        }
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.get_mut().check_stall(cx),
            ready => {
                self.stalled = None;
                count_written(&self.written, ready)
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.closing(cx) {
            return Poll::Ready(Err(self.cut_error()));
        }
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.get_mut().check_stall(cx),
            ready => {
                self.stalled = None;
                count_written(&self.written, ready)
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncWriteExt, DuplexStream};

    impl Cut for DuplexStream {
        fn cut(&self) {}
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_makes_no_progress_fails_after_the_limit() {
        // A pipe with a tiny buffer whose other end never reads.
        let (near, _far) = tokio::io::duplex(16);
        let mut guarded = StallGuard::new(near, Duration::from_secs(5));
        let started = Instant::now();
        let err = guarded.write_all(&[0u8; 1024]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_keeps_up_is_never_cut() {
        let (near, mut far) = tokio::io::duplex(16);
        let mut guarded = StallGuard::new(near, Duration::from_secs(5));
        let reader = tokio::spawn(async move {
            let mut sink = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut far, &mut sink)
                .await
                .unwrap();
            sink.len()
        });
        for _ in 0..64 {
            guarded.write_all(&[1u8; 64]).await.unwrap();
        }
        guarded.shutdown().await.unwrap();
        drop(guarded);
        assert_eq!(reader.await.unwrap(), 64 * 64);
    }
}
