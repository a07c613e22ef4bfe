//! The server against clients that hold without sending: upload budget announced but never
//! sent. Over real loopback HTTP with the binary.
use std::net::TcpStream;
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
