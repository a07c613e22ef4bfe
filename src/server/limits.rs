//! Resource bounds of the server, so a burst of requests or a slow client cannot take the
//! machine's memory or the server's attention: a request body must arrive whole within a deadline
//! and under the size limit before any handler runs; at most `jobs` model requests run at once
//! (each may decode a large photo), the rest wait briefly and then get 503 with `Retry-After`;
//! and the collection folder stops growing at its cap. Bodies being read or waiting for a model
//! slot share a budget of `BODY_BUDGET_MB`, so many connections cannot hold many large bodies;
//! a body takes its megabytes from it as they arrive, not when a `Content-Length` header
//! announces them, so announcements alone hold nothing.
use std::path::Path;
use std::sync::Arc;

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::guard::{refuse, Guard};
use super::MAX_BODY;

/// Seconds a refused request is told to wait before trying again.
pub const RETRY_AFTER_S: u64 = 2;

/// Megabytes of request bodies held at once, all requests together (ten bodies of the largest
/// size; a typical upload of a few hundred kilobytes takes one).
pub const BODY_BUDGET_MB: usize = 200;

fn busy(what: &str) -> Response {
    let mut r = refuse(StatusCode::SERVICE_UNAVAILABLE, format!("the server is busy with {what}; try again in {RETRY_AFTER_S} s"));
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
    r
}

/// Reads the whole body within the guard's deadline and size limit, then hands it on: a client
/// that sends a byte a second is answered 408 instead of holding the connection. Each megabyte
/// is taken from the shared budget as it arrives (`read_budgeted`) and given back when the
/// request ends.
pub async fn body(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return too_large();
    }
    let hint = req.body().size_hint();
    if hint.upper() == Some(0) {
        return next.run(req).await;
    }
    // Only the API's POST calls take a body; anything else that announces one is refused before
    // a byte of it is read or budgeted, so requests that need no token (the page, unknown paths)
    // cannot hold the upload budget or a connection with a body that never arrives.
    if req.method() != axum::http::Method::POST || !req.uri().path().starts_with("/api/") {
        let mut r = refuse(StatusCode::BAD_REQUEST, format!("{} {} takes no request body", req.method(), req.uri().path()));
        r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        return r;
    }
    let (parts, body) = req.into_parts();
    let (bytes, _budget) = match tokio::time::timeout(g.body_timeout, read_budgeted(&g, body)).await {
        Err(_) => return refuse(StatusCode::REQUEST_TIMEOUT, format!("the request body did not arrive within {} s", g.body_timeout.as_secs())),
        Ok(Err(refused)) => return refused,
        Ok(Ok(read)) => read,
    };
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The body, read frame by frame, with one megabyte of the shared budget held for each megabyte
/// received: a connection that announces 20 MB and sends nothing holds none of it, so a handful
/// of such announcements cannot answer every upload 503. Waiting for budget is bounded by the
/// queue wait, as for a model slot; more than `MAX_BODY` is 413, and a body that stalls for the
/// guard's `body_idle` is 408, its megabytes given back.
async fn read_budgeted(g: &Guard, mut body: Body) -> Result<(Vec<u8>, Option<tokio::sync::OwnedSemaphorePermit>), Response> {
    use http_body_util::BodyExt;
    let mut bytes = Vec::new();
    let mut held: Option<tokio::sync::OwnedSemaphorePermit> = None;
    loop {
        let Ok(next) = tokio::time::timeout(g.body_idle, body.frame()).await else {
            return Err(refuse(StatusCode::REQUEST_TIMEOUT, format!("the request body stalled: nothing of it arrived for {} s", g.body_idle.as_secs())));
        };
        let Some(frame) = next else { break };
        let frame = frame.map_err(|e| refuse(StatusCode::BAD_REQUEST, format!("reading the request body: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        let total = bytes.len() + data.len();
        if total > MAX_BODY {
            return Err(too_large());
        }
        let need = total.div_ceil(1 << 20) as u32;
        let have = held.as_ref().map_or(0, |p| p.num_permits() as u32);
        if need > have {
            let more = match tokio::time::timeout(g.queue_wait, g.bodies.clone().acquire_many_owned(need - have)).await {
                Ok(Ok(p)) => p,
                _ => return Err(busy("other uploads")),
            };
            match held.as_mut() {
                Some(h) => h.merge(more),
                None => held = Some(more),
            }
        }
        bytes.extend_from_slice(&data);
    }
    Ok((bytes, held))
}

fn too_large() -> Response {
    refuse(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is larger than the limit of {} MB", MAX_BODY / (1024 * 1024)))
}

/// Runs a model request once one of the guard's job slots is free, waiting at most
/// `queue_wait`; else 503 with `Retry-After`. The request runs in a task of its own that keeps
/// the slot until the work ends, even when the client hangs up half way (dropping the handler
/// would free the slot while its blocking work still runs).
pub async fn jobs(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let permit = match tokio::time::timeout(g.queue_wait, g.jobs.clone().acquire_owned()).await {
        Ok(Ok(p)) => p,
        _ => return busy("other photos"),
    };
    let task = tokio::spawn(async move {
        let resp = next.run(req).await;
        drop(permit);
        resp
    });
    match task.await {
        Ok(resp) => resp,
        Err(e) => {
            eprintln!("internal error: model request task failed: {e}");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// Most files the collection folder may hold, whatever their size: tiny frames would otherwise
/// fill the disk's inodes long before its bytes.
pub const MAX_COLLECT_FILES: u64 = 20_000;

/// Refuses to collect more pictures once the collection folder holds its cap, in disk space
/// (blocks, not file lengths) or in files.
pub async fn collect_cap(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    if let Some((dir, cap)) = g.collect.clone() {
        let (used, files) = tokio::task::spawn_blocking(move || folder_usage(&dir, 3)).await.unwrap_or((u64::MAX, u64::MAX));
        if used >= cap || files >= MAX_COLLECT_FILES {
            return refuse(
                StatusCode::INSUFFICIENT_STORAGE,
                format!(
                    "the collection folder is full ({} MB of its {} MB cap, {files} of at most {MAX_COLLECT_FILES} files); move its pictures away or raise --collect-cap-mb",
                    used / 1_000_000,
                    cap / 1_000_000
                ),
            );
        }
    }
    next.run(req).await
}

/// Disk bytes taken by the files under `dir` (`depth` folders deep at most), and how many files;
/// a missing folder holds nothing.
pub fn folder_usage(dir: &Path, depth: usize) -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir(dir) else { return (0, 0) };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() && depth > 0 => folder_usage(&e.path(), depth - 1),
            Ok(t) if t.is_file() => (e.metadata().map(|m| disk_bytes(&m)).unwrap_or(0), 1),
            _ => (0, 0),
        })
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

#[cfg(unix)]
fn disk_bytes(m: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    (m.blocks() * 512).max(m.len())
}

#[cfg(not(unix))]
fn disk_bytes(m: &std::fs::Metadata) -> u64 {
    m.len()
}
