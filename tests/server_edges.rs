//! The server against clients that hold without sending, and against the odd request: upload
//! budget announced but never sent, idle sockets by the hundred, heads hyper refuses itself,
//! two Host headers, read-only calls from scripts, the start options a careless operator types,
//! and SIGTERM. Over real loopback HTTP with the binary, except where the router alone answers.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};

use crate::server::{form, http, photo, start, tmp, B, HOST};
use crate::server_limits::{announcing, closed_within};

/// What the server answers to `raw`, sent as is on a new connection: status and body.
fn raw(addr: &str, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // A server that answers before reading everything may reset the rest: that is fine.
    let _ = s.write_all(request);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let code = resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no answer: {resp:?}"));
    (code, resp.split_once("\r\n\r\n").map(|r| r.1.to_string()).unwrap_or_default())
}

#[test]
fn announced_bodies_that_never_arrive_hold_no_upload_budget() {
    let dir = tmp("announced");
    let server = start(&dir, &["--queue-wait", "2"]);
    let addr = server.1.as_str();
    // Twelve connections announce 20 MB uploads to a model call and send none of it: 240 MB
    // announced, more than the whole 200 MB budget.
    let held: Vec<TcpStream> = (0..12).map(|_| announcing(addr, "POST", "/api/identify")).collect();
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    let (code, body) = http(addr, "POST", "/api/identify", &form(&[], &[("photo", "a.jpg", &photo("Aaron_Peirsol", 1))]));
    eprintln!("identify beside 12 announced 20 MB bodies: {code} in {:.2} s", t.elapsed().as_secs_f64());
    assert_eq!(code, 200, "an upload was refused while announcements held the budget: {body}");
    drop(held);
}

#[test]
fn hundreds_of_idle_sockets_do_not_slow_other_clients() {
    let dir = tmp("idle");
    let server = start(&dir, &["--max-connections", "32", "--header-timeout", "20"]);
    let addr = server.1.clone();
    // 200 connections that say nothing, each opened again as soon as the server closes it, for
    // as long as the measurement runs (and at most 60 s).
    let stop = Arc::new(AtomicBool::new(false));
    let holders: Vec<_> = (0..4)
        .map(|_| {
            let (addr, stop) = (addr.clone(), stop.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                let mut open: Vec<TcpStream> = (0..50).filter_map(|_| TcpStream::connect(&addr).ok()).collect();
                let mut reopened = 0usize;
                while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(60) {
                    for s in &mut open {
                        s.set_nonblocking(true).unwrap();
                        let mut b = [0u8; 64];
                        let closed = match s.read(&mut b) {
                            Ok(n) => n == 0,
                            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                        };
                        if closed {
                            if let Ok(fresh) = TcpStream::connect(&addr) {
                                *s = fresh;
                                reopened += 1;
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                reopened
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let mut times = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let (code, _) = http(&addr, "GET", "/api/people", b"");
        times.push(t.elapsed().as_secs_f64());
        assert_eq!(code, 200);
    }
    stop.store(true, Ordering::SeqCst);
    let reopened: usize = holders.into_iter().map(|h| h.join().unwrap()).sum();
    times.sort_by(f64::total_cmp);
    eprintln!(
        "GET /api/people beside 200 idle sockets (32 connection slots, 20 s header timeout, {reopened} idle sockets reopened): median {:.3} s, slowest {:.3} s",
        times[times.len() / 2],
        times[times.len() - 1]
    );
    // Waiting for an idle socket's header timeout would take up to 20 s per request; a quarter
    // of that leaves a loaded runner seconds to spare (the requests take milliseconds).
    assert!(times[times.len() - 1] < 5.0, "requests waited behind idle sockets: {times:?}");
}

#[test]
fn heads_hyper_refuses_itself_are_answered_in_json() {
    let dir = tmp("hyper-refusals");
    let server = start(&dir, &[]);
    let addr = server.1.as_str();
    let long_uri = format!("GET /api/people?{} HTTP/1.1\r\nHost: {addr}\r\n\r\n", "q".repeat(70_000));
    let big_head = format!("GET /api/people HTTP/1.1\r\nHost: {addr}\r\n{}\r\n", "X-Pad: 0123456789012345678901234567890123456789\r\n".repeat(12_000));
    let no_colon = format!("GET /api/people HTTP/1.1\r\nHost: {addr}\r\nthis line has no colon\r\n\r\n");
    for (what, request, want) in [("a 70 KB URI", long_uri, 414), ("a 600 KB head", big_head, 431), ("a header line without a colon", no_colon, 400)] {
        let (code, body) = raw(addr, request.as_bytes());
        assert_eq!(code, want, "{what}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: {code} with a body that is not JSON ({e}): {body:?}"));
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: {v}");
    }
    assert_eq!(http(addr, "GET", "/api/people", b"").0, 200);
}

#[test]
fn two_host_headers_are_refused() {
    let dir = tmp("two-hosts");
    let server = start(&dir, &[]);
    let addr = server.1.as_str();
    let (code, body) = raw(addr, format!("GET /api/people HTTP/1.1\r\nHost: {addr}\r\nHost: evil.example\r\nConnection: close\r\n\r\n").as_bytes());
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("2 Host headers"), "{body}");
    let (code, body) = raw(addr, format!("GET /api/people HTTP/1.1\r\nHost: {addr}\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes());
    assert_eq!(code, 400, "the same name twice is still two headers: {body}");
    // A request target in absolute form names a host of its own, which wins over Host.
    let (code, body) = raw(addr, format!("GET http://evil.example/api/people HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes());
    assert_eq!(code, 421, "absolute-form target naming another host: {body}");
    assert!(body.contains("evil.example"), "{body}");
    let (code, body) = raw(addr, format!("GET http://{addr}/api/people HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes());
    assert_eq!(code, 200, "absolute-form target naming this server: {body}");
}

#[tokio::test]
async fn read_only_calls_need_no_request_header_but_cross_site_ones_are_still_refused() {
    let s = crate::server::state("read-only", None);
    let g = crate::server::guard(None);
    let q = || form(&[], &[("photo", "q.jpg", &photo("Aaron_Peirsol", 2))]);
    let two = || form(&[], &[("a", "a.jpg", &photo("Aaron_Peirsol", 1)), ("b", "b.jpg", &photo("Aaron_Peirsol", 2))]);
    // As curl sends them: no X-Siamface-Request, no Origin.
    let script = |uri: &str, body: Vec<u8>| {
        Request::builder().method("POST").uri(uri).header("host", HOST).header("content-type", format!("multipart/form-data; boundary={B}")).body(Body::from(body)).unwrap()
    };
    for (uri, body) in [("/api/identify", q()), ("/api/compare", two())] {
        let (st, _, v) = crate::server::send(&s, &g, script(uri, body)).await;
        assert_eq!(st, StatusCode::OK, "{uri}: {v}");
    }
    let (st, _, v) = crate::server::send(&s, &g, script("/api/verify", form(&[("name", "Nobody")], &[("photo", "q.jpg", &photo("Aaron_Peirsol", 2))]))).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "verify reached the gallery: {v}");
    // What a page of another site sends is refused all the same.
    let mut cross = script("/api/identify", q());
    cross.headers_mut().insert("origin", "http://evil.example".parse().unwrap());
    let (st, _, v) = crate::server::send(&s, &g, cross).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let mut cross = script("/api/compare", two());
    cross.headers_mut().insert("sec-fetch-site", "cross-site".parse().unwrap());
    assert_eq!(crate::server::send(&s, &g, cross).await.0, StatusCode::FORBIDDEN);
    // Calls that change something still need the header, and say so.
    let (st, _, v) = crate::server::send(&s, &g, script("/api/enroll", form(&[("name", "Aaron")], &[("photo", "a.jpg", &photo("Aaron_Peirsol", 1))]))).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert!(v["error"].as_str().unwrap().contains("X-Siamface-Request"), "{v}");
    // The token is still required of read-only calls.
    let gt = crate::server::guard(Some("correct-horse-battery-staple"));
    assert_eq!(crate::server::send(&s, &gt, script("/api/identify", q())).await.0, StatusCode::UNAUTHORIZED);
}

#[test]
fn sigterm_stops_the_server_as_ctrl_c_does_with_exit_status_0() {
    let dir = tmp("sigterm");
    let mut server = start(&dir, &[]);
    assert_eq!(http(&server.1, "GET", "/api/people", b"").0, 200);
    // An idle kept-alive connection must not hold the shutdown up.
    let mut idle = TcpStream::connect(&server.1).unwrap();
    idle.write_all(format!("GET /api/config HTTP/1.1\r\nHost: {}\r\n\r\n", server.1).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let kill = Command::new("kill").args(["-TERM", &server.0.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(s) = server.0.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(15), "the server did not stop within 15 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!("SIGTERM: stopped in {:.2} s with {status}", t.elapsed().as_secs_f64());
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(closed_within(&mut idle, Duration::from_secs(1)).is_some(), "the idle connection was left open");
}

#[test]
fn empty_host_names_are_refused_and_a_token_on_the_command_line_is_warned_about() {
    for bad in ["", "a b", "evil.example/x", "host:99999", ":8080"] {
        let out = Command::new(env!("CARGO_BIN_EXE_siamface")).args(["serve", "--model", "/nonexistent", "--allow-host", bad]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("--allow-host"), "{bad:?}: {err}");
    }
    let token = "correct-horse-battery-staple";
    let run = |args: &[&str], env: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_siamface"));
        c.args(["serve", "--addr", "127.0.0.1:0", "--model", "/nonexistent"]).args(args).env_remove("SIAMFACE_TOKEN");
        if let Some(t) = env {
            c.env("SIAMFACE_TOKEN", t);
        }
        String::from_utf8_lossy(&c.output().unwrap().stderr).into_owned()
    };
    let flag = format!("--token={token}");
    for err in [run(&["--token", token], None), run(&[flag.as_str()], None)] {
        assert!(err.contains("warning: --token on the command line") && err.contains("process list"), "{err}");
    }
    let err = run(&[], Some(token));
    assert!(!err.contains("warning"), "SIAMFACE_TOKEN is warned about: {err}");
    let err = run(&["--allow-host", "faces.lan", "--allow-host", "faces.lan:8443", "--allow-host", "[::1]:80", "--allow-host", "10.0.0.7"], None);
    assert!(!err.contains("--allow-host"), "good host names refused: {err}");
}
