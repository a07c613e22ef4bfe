//! The accept loop, on hyper directly rather than `axum::serve`, because that gives no
//! header-read timeout: here a connection that sends no complete request head within
//! `header_timeout` (a silent socket, a byte-a-second client, an idle keep-alive) is closed, and
//! at most `max_connections` are open at once. Idle connections cannot keep others out: when
//! every slot is taken and another connection arrives, an idle one (no request being answered)
//! is closed to make room: one that has sent nothing before one that has begun a request, from
//! the address that holds the most idle ones, idle the longest (`Open::evict`); only
//! connections with work in progress make newcomers wait. A client that stops reading what it
//! asked for is cut off too: an answer that cannot be written for `write_timeout` closes the
//! connection (`Stall`). On shutdown the loop stops accepting, lets requests in progress
//! finish for up to `DRAIN`, and closes the rest.
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub struct Limits {
    pub header_timeout: Duration,
    /// How long a write may wait for the client to read before the connection is closed.
    pub write_timeout: Duration,
    pub max_connections: usize,
}

/// How long requests in progress may run on once their connection is asked to close: to make
/// room for another, or because the server stops.
pub const DRAIN: Duration = Duration::from_secs(10);

/// A connection whose writes fail once one has waited `limit` for the client to make room: a
/// client that asks for many answers and reads none would otherwise hold its connection (and a
/// slot of `max_connections`) for as long as it likes. It also gives hyper's own refusals a JSON
/// body (`json_refusal`).
struct Stall<S> {
    inner: S,
    /// The connection's entry, told when bytes arrive.
    conn: Arc<Conn>,
    limit: Duration,
    waiting: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    /// A replacement answer being written, and how much of it is out.
    replacing: Option<(Vec<u8>, usize)>,
}

impl<S> Stall<S> {
    /// `Pending` from the inner writer starts (or continues) the clock; anything else stops it.
    fn watch<T>(&mut self, cx: &mut std::task::Context<'_>, r: std::task::Poll<std::io::Result<T>>) -> std::task::Poll<std::io::Result<T>> {
        use std::task::Poll;
        if r.is_ready() {
            self.waiting = None;
            return r;
        }
        let limit = self.limit;
        let sleep = self.waiting.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the client stopped reading"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// hyper answers a few requests itself, before the app sees them: a head larger than its buffer
/// or with too many fields (431), a URI over 64 KB (414), a head it cannot parse (400). Those
/// answers are a bare head with `content-length: 0`, which no answer of the app is (every error
/// of the app carries a JSON body, `guard::json_errors`). Such a head is replaced by the same
/// status with `{"error": ...}`, as every other refusal has.
fn json_refusal(buf: &[u8]) -> Option<Vec<u8>> {
    let head = std::str::from_utf8(buf).ok()?.strip_suffix("\r\n\r\n")?;
    let (status_line, fields) = head.split_once("\r\n").unwrap_or((head, ""));
    let status: u16 = status_line.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let lines: Vec<&str> = fields.split("\r\n").filter(|l| !l.is_empty()).collect();
    if !(400..500).contains(&status) || !lines.iter().any(|l| l.eq_ignore_ascii_case("content-length: 0")) {
        return None;
    }
    let message = match status {
        431 => "the request head is too large (too many or too long header fields)",
        414 => "the request's URI is too long (more than 65,534 bytes)",
        _ => "the request is not valid HTTP/1.1 (a malformed method, URI, version or header line)",
    };
    let body = serde_json::json!({ "error": message }).to_string();
    let mut out = format!("{status_line}\r\n");
    for l in lines.iter().filter(|l| !l.to_ascii_lowercase().starts_with("content-length:")) {
        out.push_str(&format!("{l}\r\n"));
    }
    out.push_str(&format!("content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()));
    Some(out.into_bytes())
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Stall<S> {
    fn poll_read(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.conn.heard.store(true, Ordering::SeqCst);
        }
        r
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Stall<S> {
    fn poll_write(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>, buf: &[u8]) -> std::task::Poll<std::io::Result<usize>> {
        use std::task::Poll;
        if self.replacing.is_none() {
            self.replacing = json_refusal(buf).map(|r| (r, 0));
        }
        // The replacement goes out whole before `buf` counts as written: until then hyper
        // offers the same bytes again.
        while let Some((out, done)) = self.replacing.take() {
            if done == out.len() {
                return Poll::Ready(Ok(buf.len()));
            }
            let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, &out[done..]);
            let r = self.watch(cx, r);
            match r {
                Poll::Ready(Ok(n)) => self.replacing = Some((out, done + n)),
                other => {
                    self.replacing = Some((out, done));
                    return other.map_ok(|_| 0);
                }
            }
        }
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, r)
    }

    fn poll_flush(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, r)
    }

    fn poll_shutdown(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One open connection, as the accept loop sees it.
struct Conn {
    ip: IpAddr,
    /// Requests being answered on it now.
    busy: AtomicUsize,
    /// Whether bytes of a request have arrived since its last answer (or since it opened).
    heard: AtomicBool,
    /// Since when it has had nothing to answer (its acceptance, or its last answer).
    idle_since: Mutex<Instant>,
    /// Asks it to finish what it is answering and close.
    close: Notify,
}

/// Counts a request in progress on a connection for as long as it lives.
struct Busy(Arc<Conn>);

impl Busy {
    fn enter(c: Arc<Conn>) -> Busy {
        c.busy.fetch_add(1, Ordering::SeqCst);
        Busy(c)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.idle_since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.0.heard.store(false, Ordering::SeqCst);
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Every open connection, by number.
#[derive(Default)]
struct Open {
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Open {
    fn all(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks one idle connection to close, to make room for a new one: one that has sent nothing
    /// before one that has begun a request (a client that connects and sends at once is not
    /// closed under it), then from the address that holds the most idle connections (one client
    /// cannot take every slot from the others), the one idle the longest. False when every
    /// connection has a request in progress.
    fn evict(&self) -> bool {
        let all = self.all();
        let idle: Vec<&Arc<Conn>> = all.values().filter(|c| c.busy.load(Ordering::SeqCst) == 0).collect();
        let mut per_ip: HashMap<IpAddr, usize> = HashMap::new();
        for c in &idle {
            *per_ip.entry(c.ip).or_default() += 1;
        }
        let since = |c: &Arc<Conn>| *c.idle_since.lock().unwrap_or_else(|p| p.into_inner());
        let silent = |c: &Arc<Conn>| !c.heard.load(Ordering::SeqCst);
        let victim = idle.iter().max_by(|a, b| {
            (silent(a).cmp(&silent(b))).then_with(|| per_ip[&a.ip].cmp(&per_ip[&b.ip])).then_with(|| since(b).cmp(&since(a)))
        });
        match victim {
            Some(c) => {
                c.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Whether bytes wait on a just-accepted connection: a client that sent its request with the
/// connection counts as having begun it from the start.
fn waiting(stream: &tokio::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    let mut buf = tokio::io::ReadBuf::new(&mut byte);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    matches!(stream.poll_peek(&mut cx, &mut buf), std::task::Poll::Ready(Ok(n)) if n > 0)
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM, which service managers (systemd, docker, `kill`)
/// send to stop a server: either way the server drains and exits 0.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                eprintln!("warning: cannot watch for SIGTERM ({e}); stop the server with Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    eprintln!("siamface: stopping; requests in progress get up to {} s", DRAIN.as_secs());
}

/// `siamface serve`: binds `addr` on a new multi-threaded runtime and serves the router
/// `app(bound address)` until Ctrl-C or SIGTERM (`stop_signal`), then drains.
pub fn run(addr: std::net::SocketAddr, limits: Limits, app: impl FnOnce(std::net::SocketAddr) -> Router) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(addr).await.map_err(|e| std::io::Error::new(e.kind(), format!("binding {addr}: {e}")))?;
        let app = app(listener.local_addr()?);
        serve(listener, app, limits, stop_signal()).await
    })
}

/// Serves `app` on `listener` until `shutdown` completes, then drains (`DRAIN`).
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    let max = limits.max_connections.max(1);
    let slots = Arc::new(tokio::sync::Semaphore::new(max));
    let open = Arc::new(Open::default());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut next_id = 0u64;
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, then try again.
                    eprintln!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                // Every slot taken: an idle connection makes room, else this one waits for a
                // request in progress to end.
                open.evict();
                tokio::select! {
                    _ = &mut shutdown => break,
                    s = slots.clone().acquire_owned() => s.expect("the connection semaphore is never closed"),
                }
            }
        };
        next_id += 1;
        let me = Conn { ip: peer.ip(), busy: AtomicUsize::new(0), heard: AtomicBool::new(waiting(&stream)), idle_since: Mutex::new(Instant::now()), close: Notify::new() };
        let (id, me) = (next_id, Arc::new(me));
        open.all().insert(id, me.clone());
        let inner = TowerToHyperService::new(app.clone());
        let counted = me.clone();
        let service = hyper::service::service_fn(move |req| {
            let busy = Busy::enter(counted.clone());
            let answer = hyper::service::Service::call(&inner, req);
            async move {
                let r = answer.await;
                drop(busy);
                r
            }
        });
        let timeout = limits.header_timeout;
        let stream = Stall { inner: stream, conn: me.clone(), limit: limits.write_timeout, waiting: None, replacing: None };
        let open = open.clone();
        tokio::spawn(async move {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .serve_connection(TokioIo::new(stream), service)
                // A handler may take the connection over (a WebSocket); it then leaves this count.
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            // A client that hangs up or times out ends its connection; nothing to report.
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = me.close.notified() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(DRAIN, conn).await;
                }
            }
            open.all().remove(&id);
            drop(slot);
        });
    }
    // Stop: every connection finishes what it is answering (idle ones close at once), then the
    // slots come back; whatever still runs after `DRAIN` is dropped with the runtime.
    for c in open.all().values() {
        c.close.notify_one();
    }
    let _ = tokio::time::timeout(DRAIN, slots.acquire_many(max as u32)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bare_refusals_get_a_json_body_and_nothing_else_changes() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(json_refusal(bare).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 ") && head.contains("\r\ndate: Thu") && head.contains("content-type: application/json"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())) && !head.contains("content-length: 0"), "{head}");
        assert!(serde_json::from_str::<serde_json::Value>(body).unwrap()["error"].as_str().unwrap().contains("too large"));
        for other in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 30\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{}",
            b"not http at all",
        ] {
            assert_eq!(json_refusal(other), None, "{}", String::from_utf8_lossy(other));
        }
    }
}
