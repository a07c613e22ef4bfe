//! The accept loop, on hyper directly rather than `axum::serve`, because that gives no
//! header-read timeout: here a connection that sends no complete request head within
//! `header_timeout` (a silent socket, a byte-a-second client, an idle keep-alive) is closed, and
//! at most `max_connections` are open at once (the rest wait in the kernel's backlog).
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

pub struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    let open = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            s = open.clone().acquire_owned() => s.expect("the connection semaphore is never closed"),
        };
        let stream = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, then try again.
                    eprintln!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(app.clone());
        let timeout = limits.header_timeout;
        tokio::spawn(async move {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .serve_connection(TokioIo::new(stream), service);
            // A client that hangs up or times out ends its connection; nothing to report.
            let _ = conn.await;
            drop(slot);
        });
    }
}
