//! The server against clients that hold without sending: upload budget announced but never
//! sent, idle sockets by the hundred. Over real loopback HTTP with the binary.
use std::io::Read;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::server::{form, http, photo, start, tmp};
use crate::server_limits::announcing;

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
    let server = start(&dir, &["--max-connections", "32", "--header-timeout", "5"]);
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
        "GET /api/people beside 200 idle sockets (32 connection slots, 5 s header timeout, {reopened} idle sockets reopened): median {:.3} s, slowest {:.3} s",
        times[times.len() / 2],
        times[times.len() - 1]
    );
    // Waiting for an idle socket's header timeout would take up to 5 s per request.
    assert!(times[times.len() - 1] < 2.5, "requests waited behind idle sockets: {times:?}");
}
