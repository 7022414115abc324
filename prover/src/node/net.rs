//! The node's listening socket: a bounded number of connections, each of
//! which must send its first request within the handshake timeout and is
//! closed after the idle timeout without a request in flight.
//!
//! When all `max_connections` slots are taken, a new connection evicts the
//! oldest one that has not sent a request yet (an idle flood cannot lock
//! clients out); when every connection has sent one, the new one is refused.
//! Accept errors (out of file descriptors) pause accepting for 100 ms instead
//! of spinning. What happens is logged, at most once per 10 s per kind.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tonic::transport::server::Connected;

/// Limits on connections.
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    /// Most open connections.
    pub max_connections: usize,
    /// Time from accept to the first request.
    pub handshake_timeout: Duration,
    /// Time without a request in flight after which a connection is closed.
    pub idle_timeout: Duration,
}

/// The soft limit on open file descriptors of this process (`None` if unknown).
pub fn fd_limit() -> Option<u64> {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0;
    (ok && r.rlim_cur != libc::RLIM_INFINITY).then_some(r.rlim_cur)
}

/// Connections allowed when the config says 0: what the descriptor limit
/// leaves after 64 for the store, models and the chain client, between 16 and 4096.
pub fn default_max_connections() -> usize {
    fd_limit().map(|n| n.saturating_sub(64).clamp(16, 4096) as usize).unwrap_or(1024)
}

/// What a connection has done, shared by its socket and its requests.
#[derive(Debug)]
pub struct ConnActivity {
    id: u64,
    accepted: Instant,
    requests: AtomicU64,
    active: AtomicUsize,
    idle_since: Mutex<Instant>,
    closed: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl ConnActivity {
    /// Marks a request started; the guard marks it finished when dropped.
    pub fn start(self: &Arc<Self>) -> RequestGuard {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.active.fetch_add(1, Ordering::SeqCst);
        RequestGuard(self.clone())
    }

    /// When the connection must be closed if nothing changes, and why.
    fn deadline(&self, l: &ConnLimits) -> Option<(Instant, &'static str)> {
        if self.requests.load(Ordering::SeqCst) == 0 {
            Some((self.accepted + l.handshake_timeout, "no request within the handshake timeout"))
        } else if self.active.load(Ordering::SeqCst) == 0 {
            let since = *self.idle_since.lock().unwrap_or_else(|p| p.into_inner());
            Some((since + l.idle_timeout, "idle"))
        } else {
            None
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Some(w) = self.waker.lock().unwrap_or_else(|p| p.into_inner()).take() {
            w.wake();
        }
    }
}

/// A request in flight on a connection.
pub struct RequestGuard(Arc<ConnActivity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            *self.0.idle_since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        }
    }
}

/// Counters logged by the accept loop.
#[derive(Default)]
struct Counters {
    evicted: AtomicU64,
    refused: AtomicU64,
    timed_out: AtomicU64,
    accept_errors: AtomicU64,
}

/// The open connections.
struct Registry {
    limits: ConnLimits,
    conns: Mutex<HashMap<u64, Arc<ConnActivity>>>,
    next_id: AtomicU64,
    counters: Counters,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ConnActivity>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new connection, evicting the oldest one without a request
    /// when full; `None` when full of connections that all sent requests.
    fn admit(&self) -> Option<Arc<ConnActivity>> {
        let mut conns = self.lock();
        let open = conns.values().filter(|c| !c.closed.load(Ordering::SeqCst)).count();
        if open >= self.limits.max_connections {
            let victim = conns
                .values()
                .filter(|c| !c.closed.load(Ordering::SeqCst) && c.requests.load(Ordering::SeqCst) == 0)
                .min_by_key(|c| c.accepted)
                .cloned();
            match victim {
                Some(v) => {
                    v.close();
                    self.counters.evicted.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    self.counters.refused.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            }
        }
        let now = Instant::now();
        let a = Arc::new(ConnActivity {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            accepted: now,
            requests: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            idle_since: Mutex::new(now),
            closed: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        conns.insert(a.id, a.clone());
        Some(a)
    }

    fn log_counters(&self) {
        let c = &self.counters;
        let take = |a: &AtomicU64| a.swap(0, Ordering::Relaxed);
        let (evicted, refused, timed_out, errors) =
            (take(&c.evicted), take(&c.refused), take(&c.timed_out), take(&c.accept_errors));
        if evicted + refused + errors > 0 {
            tracing::warn!(
                open = self.lock().len(),
                max_connections = self.limits.max_connections,
                evicted_idle = evicted,
                refused,
                accept_errors = errors,
                timed_out,
                "connection limit: in the last 10 s"
            );
        } else if timed_out > 0 {
            tracing::info!(timed_out, "connections closed for sending no request (handshake timeout) or idling");
        }
    }
}

/// What tonic puts in each request's extensions for a [`GuardedConn`].
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The client's address.
    pub remote: Option<SocketAddr>,
    /// The connection's activity.
    pub activity: Arc<ConnActivity>,
}

/// A TCP connection under the limits.
pub struct GuardedConn {
    io: TcpStream,
    remote: Option<SocketAddr>,
    activity: Arc<ConnActivity>,
    registry: Arc<Registry>,
    timer: Pin<Box<Sleep>>,
}

impl Drop for GuardedConn {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.activity.id);
    }
}

impl Connected for GuardedConn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        ConnInfo { remote: self.remote, activity: self.activity.clone() }
    }
}

impl GuardedConn {
    /// Called when the socket has nothing to read: an error if the connection
    /// was evicted or its deadline passed, else arms the timer.
    fn check(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        *self.activity.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
        if self.activity.closed.load(Ordering::SeqCst) {
            return Some(io::Error::new(io::ErrorKind::ConnectionAborted, "evicted: the connection limit was reached"));
        }
        let now = Instant::now();
        // Re-check at least every second: a request finishing moves the deadline.
        let mut wake = now + Duration::from_secs(1);
        if let Some((deadline, why)) = self.activity.deadline(&self.registry.limits) {
            if deadline <= now {
                self.registry.counters.timed_out.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(remote = ?self.remote, why, "closing a connection");
                return Some(io::Error::new(io::ErrorKind::TimedOut, why));
            }
            wake = wake.min(deadline);
        }
        self.timer.as_mut().reset(wake.into());
        let _ = self.timer.as_mut().poll(cx);
        None
    }
}

impl AsyncRead for GuardedConn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.activity.closed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionAborted, "evicted")));
        }
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Pending => match self.check(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
            ready => ready,
        }
    }
}

impl AsyncWrite for GuardedConn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// A bound listening socket, not yet accepting.
pub struct Listener {
    inner: std::net::TcpListener,
}

impl Listener {
    /// Binds `addr` (port 0 picks a free one).
    pub fn bind(addr: SocketAddr) -> io::Result<Listener> {
        let inner = std::net::TcpListener::bind(addr)?;
        // std listens with a backlog of 128: a burst of connections then waits
        // for SYN retransmits (1 s). Listening again raises it (Linux, BSD).
        {
            use std::os::fd::AsRawFd;
            // SAFETY: listen on a socket this function owns; a failure keeps the old backlog.
            unsafe { libc::listen(inner.as_raw_fd(), 4096) };
        }
        inner.set_nonblocking(true)?;
        Ok(Listener { inner })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Starts accepting (on the current tokio runtime); the stream ends, and
    /// the socket closes, when the stream is dropped.
    pub fn accept_limited(
        self,
        limits: ConnLimits,
    ) -> io::Result<tokio_stream::wrappers::ReceiverStream<io::Result<GuardedConn>>> {
        let listener = TcpListener::from_std(self.inner)?;
        let registry = Arc::new(Registry {
            limits,
            conns: Mutex::default(),
            next_id: AtomicU64::new(0),
            counters: Counters::default(),
        });
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut report = tokio::time::interval(Duration::from_secs(10));
            loop {
                let accepted = tokio::select! {
                    _ = tx.closed() => return,
                    _ = report.tick() => { registry.log_counters(); continue; }
                    a = listener.accept() => a,
                };
                let (io, remote) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // EMFILE/ENFILE and the like: wait for descriptors instead of spinning.
                        registry.counters.accept_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(error = %e, "accept");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Some(activity) = registry.admit() else {
                    drop(io);
                    continue;
                };
                let _ = io.set_nodelay(true);
                let conn = GuardedConn {
                    io,
                    remote: Some(remote),
                    activity,
                    registry: registry.clone(),
                    timer: Box::pin(tokio::time::sleep(Duration::from_secs(1))),
                };
                if tx.send(Ok(conn)).await.is_err() {
                    return;
                }
            }
        });
        Ok(tokio_stream::wrappers::ReceiverStream::new(rx))
    }
}

/// Tower layer over all gRPC services: counts each request (and a streaming
/// response until its last frame) as activity of its connection, and answers
/// an undecodable request message INVALID_ARGUMENT (tonic says INTERNAL).
#[derive(Clone, Copy, Debug, Default)]
pub struct ActivityLayer;

impl<S> tower::Layer<S> for ActivityLayer {
    type Service = ActivityService<S>;

    fn layer(&self, inner: S) -> ActivityService<S> {
        ActivityService { inner }
    }
}

/// See [`ActivityLayer`].
#[derive(Clone, Debug)]
pub struct ActivityService<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for ActivityService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let guard = req.extensions().get::<ConnInfo>().map(|c| c.activity.start());
        // The clone that was polled ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let mut resp = inner.call(req).await?;
            decode_error_is_invalid_argument(resp.headers_mut());
            Ok(resp.map(|body| match guard {
                Some(g) => tonic::body::Body::new(GuardedBody { inner: body, _guard: g }),
                None => body,
            }))
        })
    }
}

/// tonic-prost answers a request it cannot decode with INTERNAL ("failed to
/// decode Protobuf message"); it is the client's error: INVALID_ARGUMENT.
fn decode_error_is_invalid_argument(headers: &mut http::HeaderMap) {
    let internal = headers.get("grpc-status").is_some_and(|v| v.as_bytes() == b"13");
    let decode = headers.get("grpc-message").is_some_and(|v| {
        let m = String::from_utf8_lossy(v.as_bytes()).replace("%20", " ");
        m.starts_with("failed to decode Protobuf message")
    });
    if internal && decode {
        headers.insert("grpc-status", http::HeaderValue::from_static("3"));
    }
}

/// A response body that keeps its request counted until it ends.
struct GuardedBody {
    inner: tonic::body::Body,
    _guard: RequestGuard,
}

impl http_body::Body for GuardedBody {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, tonic::Status>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
