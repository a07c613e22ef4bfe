//! `GET /api/stream`: a WebSocket over which a client sends video frames (JPEG or PNG, one
//! binary message each) and gets, for each frame it processed, the faces followed across
//! frames with their tracks' states (`service::stream`). One tracker per connection.
//!
//! Bounds, since any page the user opens may try this socket: the guard checks the upgrade's
//! `Host` and `Origin` as for state-changing calls (a browser always sends `Origin` on a
//! WebSocket, and no cross-site page may read our answers); with a token, a browser, which
//! cannot set headers on a WebSocket, sends it as the first message (`{"token": "..."}`)
//! within `AUTH_WAIT`. At most `MAX_STREAMS` streams at once; each message at most
//! `MAX_FRAME_BYTES`; frames are processed at most `MAX_FPS` a second, one at a time, and a
//! frame that arrives while another is processed replaces any frame still waiting: a client
//! that sends faster than the server can look gets frames dropped (counted in `dropped`), never
//! a queue. A stream with no frame for `IDLE` is closed.
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::json;

use super::guard::{refuse, Guard};
use super::AppState;
use crate::data::photo;
use crate::face::track::Settings;
use crate::service::stream::Stream;

/// Streams open at once.
pub const MAX_STREAMS: usize = 4;
/// Largest frame message: a 1080p JPEG is well under this.
pub const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;
/// Most frames processed per second per stream.
pub const MAX_FPS: f64 = 30.0;
/// How long a browser has to send its token after connecting.
pub const AUTH_WAIT: Duration = Duration::from_secs(5);
/// A stream without a frame for this long is closed.
pub const IDLE: Duration = Duration::from_secs(30);

/// Whether the guard already saw a valid token in the upgrade's headers (or none is needed).
#[derive(Clone, Copy)]
pub struct Authorized(pub bool);

/// The stream slots, shared by every connection.
#[derive(Clone)]
pub struct Slots(pub Arc<tokio::sync::Semaphore>);

pub async fn stream(State(s): State<AppState>, Extension(g): Extension<Arc<Guard>>, Extension(slots): Extension<Slots>, auth: Option<Extension<Authorized>>, ws: WebSocketUpgrade) -> Response {
    let Ok(slot) = slots.0.clone().try_acquire_owned() else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, format!("{MAX_STREAMS} streams are open; close one first"));
    };
    if s.service.faces().is_err() {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "the server has no face model");
    }
    let authorized = auth.is_none_or(|a| a.0 .0);
    ws.max_message_size(MAX_FRAME_BYTES).max_frame_size(MAX_FRAME_BYTES).on_upgrade(move |socket| async move {
        run(socket, s, g, authorized).await;
        drop(slot);
    })
}

async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
}

/// The token message, if the first message is one and matches.
fn token_ok(g: &Guard, msg: &Message) -> bool {
    let (Some(token), Message::Text(t)) = (&g.token, msg) else { return false };
    serde_json::from_str::<serde_json::Value>(t.as_str()).ok().and_then(|v| v["token"].as_str().map(|p| token.matches(p))).unwrap_or(false)
}

type Work = tokio::task::JoinHandle<(Stream, crate::Result<crate::service::stream::FrameReport>)>;

async fn run(mut socket: WebSocket, s: AppState, g: Arc<Guard>, authorized: bool) {
    if !authorized {
        match tokio::time::timeout(AUTH_WAIT, socket.recv()).await {
            Ok(Some(Ok(m))) if token_ok(&g, &m) => {}
            _ => return close(socket, 1008, "missing or wrong API token (send {\"token\": \"...\"} first)").await,
        }
    }
    let Ok(faces) = s.service.faces() else { return };
    let mut stream = Some(Stream::new(faces, Settings::default()));
    let mut waiting: Option<Vec<u8>> = None;
    let mut work: Option<Work> = None;
    let mut dropped = 0u64;
    let mut errors = 0u32;
    let mut last_start = Instant::now() - Duration::from_secs(1);
    let mut last_frame = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / MAX_FPS);
    loop {
        // Start the waiting frame when the stream is free and the rate allows.
        if work.is_none() && waiting.is_some() && last_start.elapsed() >= gap {
            let bytes = waiting.take().expect("checked");
            let mut st = stream.take().expect("the stream is back between frames");
            let (s2, s3, g2) = (s.clone(), s.clone(), g.clone());
            last_start = Instant::now();
            work = Some(tokio::spawn(async move {
                let Ok(permit) = g2.jobs.clone().acquire_owned().await else {
                    return (st, Err(crate::Error::Internal("the job slots are closed".into())));
                };
                let r = tokio::task::spawn_blocking(move || {
                    let img = photo::decode(&bytes).map_err(|r| crate::Error::data("frame", None, r)).map(|i| i.to_rgb8());
                    let r = img.and_then(|img| st.next(&s2.service, &img));
                    (st, r)
                })
                .await;
                drop(permit);
                r.unwrap_or_else(|e| (Stream::new(s3.service.faces().expect("checked at upgrade"), Settings::default()), Err(crate::Error::Internal(format!("frame work: {e}")))))
            }));
        }
        let until_next = gap.saturating_sub(last_start.elapsed());
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    last_frame = Instant::now();
                    if waiting.replace(b.to_vec()).is_some() {
                        dropped += 1;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                // Text (a token sent again), pings and pongs: nothing to do.
                Some(Ok(_)) => {}
            },
            done = async { work.as_mut().expect("guarded").await }, if work.is_some() => {
                work = None;
                let Ok((st, r)) = done else { break };
                stream = Some(st);
                let answer = match r {
                    Ok(report) => {
                        errors = 0;
                        let mut v = json!(report);
                        v["dropped"] = json!(dropped);
                        v
                    }
                    Err(e) => {
                        errors += 1;
                        json!({ "frame": null, "error": if matches!(e, crate::Error::Internal(_)) { "internal error".to_string() } else { e.to_string() } })
                    }
                };
                if socket.send(Message::Text(answer.to_string().into())).await.is_err() || errors >= 10 {
                    break;
                }
            },
            _ = tokio::time::sleep(until_next), if waiting.is_some() && work.is_none() => {},
            _ = tokio::time::sleep(IDLE.saturating_sub(last_frame.elapsed())) => {
                return close(socket, 1000, "no frame for 30 s").await;
            }
        }
    }
    if let Some(w) = work {
        let _ = w.await;
    }
}
