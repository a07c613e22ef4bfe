//! The server's resource bounds over real loopback HTTP with the binary: silent, slow and idle
//! connections are closed, bodies being read share one upload budget, requests in progress hold
//! at most `--max-connections` connections, and a burst of uploads that each declare 40
//! megapixels keeps the process under its memory ceiling while it goes on answering. Where a test
//! waits for the server, it waits for an event (a socket closed, bytes read, as /proc shows them)
//! or for a time measured against the server's own timeouts, so a loaded runner slows it down
//! without failing it.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::server::{form, http, start, tmp};

/// What happens to a connection within `wait`: closed (with whatever the server sent first), or
/// still open.
pub fn closed_within(s: &mut TcpStream, wait: Duration) -> Option<(Duration, String)> {
    s.set_read_timeout(Some(wait)).unwrap();
    let t = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some((t.elapsed(), String::from_utf8_lossy(&got).into_owned())),
            Ok(n) => got.extend(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return None,
            Err(_) => return Some((t.elapsed(), String::from_utf8_lossy(&got).into_owned())),
        }
    }
}

/// Reads one response with a Content-Length body from a kept-alive connection.
fn read_response(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "connection closed mid-response: {}", String::from_utf8_lossy(&got));
        got.push(b[0]);
    }
    let head = String::from_utf8(got).unwrap();
    let len: usize = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse().unwrap())).unwrap();
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    head + &String::from_utf8(body).unwrap()
}

#[test]
fn silent_slow_and_idle_connections_are_closed() {
    let dir = tmp("timeouts");
    let server = start(&dir, &["--header-timeout", "1", "--body-timeout", "1"]);
    let addr = server.1.as_str();
    let limit = Duration::from_secs(5);

    // Connects and says nothing.
    let mut silent = TcpStream::connect(addr).unwrap();
    let (after, _) = closed_within(&mut silent, limit).expect("a silent connection was left open");
    assert!(after >= Duration::from_millis(500), "closed after {after:?}, before the timeout");

    // Half a request head, then nothing.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(format!("GET /api/people HTTP/1.1\r\nHost: {addr}\r\n").as_bytes()).unwrap();
    assert!(closed_within(&mut slow, limit).is_some(), "a half-sent request head was left open");

    // One answered request, then idle on a kept-alive connection.
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.write_all(format!("GET /api/config HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
    assert!(read_response(&mut idle).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut idle, limit).is_some(), "an idle kept-alive connection was left open");

    // A body that trickles: 10 of the 1000 bytes it declares.
    let mut trickle = TcpStream::connect(addr).unwrap();
    let head = format!("POST /api/identify HTTP/1.1\r\nHost: {addr}\r\nX-Siamface-Request: 1\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 1000\r\n\r\n0123456789");
    trickle.write_all(head.as_bytes()).unwrap();
    let (_, answer) = closed_within(&mut trickle, limit).expect("a trickling body was left open");
    assert!(answer.starts_with("HTTP/1.1 408") && answer.contains("{\"error\""), "{answer}");

    // The server still answers.
    assert_eq!(http(addr, "GET", "/api/people", b"").0, 200);
}

/// A PNG of 8000 x 5000 = 40 megapixels of RGB at `depth` bits (16: 240 MB once decoded, over
/// the limit; 8: 120 MB, within it, so it is decoded) in a few hundred kilobytes of deflated
/// zero rows; written row by row, never held decoded.
fn png_40mp(depth: u8) -> Vec<u8> {
    crate::common::png_zeros(8000, 5000, depth, 2)
}

/// `n` uploads of `body` to `/api/identify`, each on its own connection, all started at once.
pub fn uploads_at_once(addr: &str, body: &Arc<Vec<u8>>, n: usize) -> Vec<std::thread::JoinHandle<(u16, String)>> {
    (0..n)
        .map(|_| {
            let (addr, body) = (addr.to_string(), body.clone());
            std::thread::spawn(move || http(&addr, "POST", "/api/identify", &body))
        })
        .collect()
}

/// How many answers had each status.
pub fn by_status(answers: &[(u16, String)]) -> std::collections::BTreeMap<u16, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for (c, _) in answers {
        *counts.entry(*c).or_insert(0) += 1;
    }
    counts
}

/// A connection that announces a 20 MB body for `method path`, as the page would send it, and
/// sends none of it.
pub fn announcing(addr: &str, method: &str, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nX-Siamface-Request: 1\r\nContent-Type: multipart/form-data; boundary={}\r\nContent-Length: 20971520\r\n\r\n",
        crate::server::B
    );
    s.write_all(head.as_bytes()).unwrap();
    s
}

/// Peak resident memory of a process in MB, from /proc (Linux).
pub fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap();
    kb / 1024.0
}

/// The stated ceiling: 1.5 GB for the whole server process.
pub const CEILING_MB: f64 = 1536.0;

#[test]
fn fifty_concurrent_40_megapixel_uploads_stay_under_the_memory_ceiling() {
    let dir = tmp("memory");
    let server = start(&dir, &[]);
    let pid = server.0.id();
    eprintln!("server at {:.0} MB before", peak_rss_mb(pid));
    // Declared over the decoded-size limit (refused from the header), then within it (decoded,
    // two at a time by default, the rest queued or answered 503).
    for depth in [16u8, 8] {
        let body = Arc::new(form(&[], &[("photo", "huge.png", &png_40mp(depth))]));
        let t = Instant::now();
        let uploads = uploads_at_once(&server.1, &body, 50);
        // While they run, a light request is still answered.
        std::thread::sleep(Duration::from_secs(1));
        let probe = Instant::now();
        let (code, _) = http(&server.1, "GET", "/api/people", b"");
        let probe_s = probe.elapsed().as_secs_f64();
        let answers: Vec<(u16, String)> = uploads.into_iter().map(|h| h.join().unwrap()).collect();
        let peak = peak_rss_mb(pid);
        let counts = by_status(&answers);
        eprintln!(
            "50 uploads of {} KB declaring 40 MP of {depth}-bit RGB answered in {:.1} s: {counts:?}; /api/people answered in {probe_s:.1} s; peak RSS {peak:.0} MB (ceiling {CEILING_MB} MB)",
            body.len() / 1024,
            t.elapsed().as_secs_f64()
        );
        assert_eq!(code, 200, "the server stopped answering during the burst");
        // Behind the uploads it would wait out the 10 s queue; a loaded runner adds a few
        // seconds at most, so the bound is the queue's, not a guess at the machine's speed.
        assert!(probe_s < 10.0, "a light request waited {probe_s:.1} s behind the uploads");
        for (c, b) in &answers {
            assert!([200, 400, 503].contains(c), "{c}: {b}");
            if *c != 200 {
                assert!(serde_json::from_str::<serde_json::Value>(b).is_ok_and(|v| v["error"].is_string()), "{c}: {b}");
            }
        }
        if depth == 16 {
            // Over the decoded-size limit: refused from the header, every one of them, never
            // decoded nor left to time out in the queue.
            assert_eq!(counts.get(&400).copied().unwrap_or(0), 50, "the 16-bit photos must all be refused from their header: {counts:?}");
        } else {
            assert!(counts.get(&200).copied().unwrap_or(0) > 0, "no 40 MP photo within the limit was decoded: {counts:?}");
        }
        assert!(peak < CEILING_MB, "peak RSS {peak:.0} MB is over the {CEILING_MB} MB ceiling");
    }
    assert_eq!(http(&server.1, "GET", "/api/people", b"").0, 200);
}

/// One TCP socket of this machine as /proc/net/tcp lists it (Linux), found by its local and
/// remote ports: its state (1 is established), the bytes queued to send and the bytes received
/// and not yet read by its program.
fn tcp_entry(local: u16, remote: u16) -> Option<(u8, u64, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port = |a: &str| a.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if port(f[1])? != local || port(f[2])? != remote {
            return None;
        }
        let (tx, rx) = f[4].split_once(':')?;
        Some((u8::from_str_radix(f[3], 16).ok()?, u64::from_str_radix(tx, 16).ok()?, u64::from_str_radix(rx, 16).ok()?))
    })
}

fn ports(client: &TcpStream) -> (u16, u16) {
    (client.local_addr().unwrap().port(), client.peer_addr().unwrap().port())
}

/// Bytes `client` sent that the server has not read yet: in the client's send queue or in the
/// server socket's receive queue.
fn unread_by_server(client: &TcpStream) -> u64 {
    let (c, s) = ports(client);
    tcp_entry(c, s).map_or(0, |e| e.1) + tcp_entry(s, c).map_or(0, |e| e.2)
}

/// Waits until the server has read everything `client` sent (at most a minute): the moment a
/// request it accepted has reached its handler, whatever the machine's speed.
fn wait_read_by_server(client: &TcpStream) {
    let t = Instant::now();
    while unread_by_server(client) > 0 {
        assert!(t.elapsed() < Duration::from_secs(60), "the server left {} bytes of a connection unread for a minute", unread_by_server(client));
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Twelve connections announce 20 MB bodies on calls that take none (the page, an unknown path)
/// and never send them: each is refused at once and closed, holding no upload budget. "At once"
/// is judged against the header timeout (30 s here), which is what would close them otherwise.
#[test]
fn announced_bodies_on_calls_that_take_none_are_refused_and_closed() {
    let dir = tmp("hold");
    let server = start(&dir, &["--header-timeout", "30"]);
    let addr = server.1.as_str();
    let (mut held, mut slowest) = (Vec::new(), Duration::ZERO);
    for (k, path) in ["/", "/nothing-here", "/app.js"].iter().cycle().take(12).enumerate() {
        let method = if k % 2 == 0 { "GET" } else { "POST" };
        // With the page's header, so a POST passes the cross-site check and meets the body rule.
        let mut s = announcing(addr, method, path);
        let (after, answer) = closed_within(&mut s, Duration::from_secs(10)).unwrap_or_else(|| panic!("{method} {path} with an announced body was left open"));
        assert!(answer.starts_with("HTTP/1.1 400") && answer.contains("takes no request body"), "{method} {path}: {answer}");
        slowest = slowest.max(after);
        held.push(s);
    }
    eprintln!("12 connections announcing 20 MB on calls that take no body: each refused and closed, the slowest after {slowest:?} (header timeout 30 s)");
    let photo = crate::server::photo("Aaron_Peirsol", 1);
    let (code, body) = http(addr, "POST", "/api/identify", &form(&[], &[("photo", "a.jpg", &photo)]));
    assert_eq!(code, 200, "{body}");
}

/// A client that asks for the page again and again and reads nothing is cut off once the
/// server's writes have waited a second (`--header-timeout 1`), instead of holding its connection
/// for ever. The test waits for the cut itself (the client's socket leaves the established
/// state), not for a guess at how long the server takes to get there.
#[test]
fn a_client_that_stops_reading_its_answers_is_cut_off() {
    let dir = tmp("unread");
    let server = start(&dir, &["--header-timeout", "1"]);
    let addr = server.1.as_str();
    let mut greedy = TcpStream::connect(addr).unwrap();
    let ask = format!("GET /app.js HTTP/1.1\r\nHost: {addr}\r\n\r\n").repeat(4000);
    greedy.write_all(ask.as_bytes()).unwrap();
    let (c, s) = ports(&greedy);
    let t = Instant::now();
    while tcp_entry(c, s).is_some_and(|e| e.0 == 1) {
        assert!(t.elapsed() < Duration::from_secs(60), "a client that stopped reading was still connected after a minute");
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("a client that read nothing was cut off after {:?}", t.elapsed());
    greedy.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0usize;
    let ended = loop {
        match greedy.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got += n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break false,
            Err(_) => break true,
        }
    };
    // Had the server waited, reading now would drain every answer (4000 copies of the script)
    // before the connection ends; cut off, the client finds only what the buffers held.
    let all = 4000 * crate::server::http(addr, "GET", "/app.js", b"").1.len();
    assert!(ended && got < all / 2, "a client that stopped reading was still served: {got} of {all} bytes arrived once it read (ended: {ended})");
    assert_eq!(http(addr, "GET", "/api/people", b"").0, 200);
}

/// Bodies being read share a budget of `BODY_BUDGET_MB`: ten connections that have each sent all
/// but the last byte of a 20 MB body hold the whole 200 MB, so an upload of a few kilobytes waits
/// out the queue and is answered 503; once one of them hangs up, the next upload is read and
/// answered. Without the budget the first upload would be answered 200 beside them.
#[test]
fn bodies_being_read_share_the_upload_budget() {
    use siamface::server::limits::BODY_BUDGET_MB;
    let dir = tmp("budget");
    // Bodies held still for as long as this test needs (the idle limit has its own test).
    let server = start(&dir, &["--queue-wait", "2", "--body-idle", "120"]);
    let addr = server.1.as_str();
    let (holders, mut held) = budget_holders(addr);
    for s in &held {
        wait_read_by_server(s);
    }
    let probe = form(&[], &[("photo", "a.jpg", &crate::server::photo("Aaron_Peirsol", 1))]);
    let (code, body) = http(addr, "POST", "/api/identify", &probe);
    assert_eq!(code, 503, "an upload was read beside {holders} bodies holding the whole {BODY_BUDGET_MB} MB: {body}");
    assert!(body.contains("busy with other uploads"), "{body}");
    drop(held.pop());
    let (code, body) = http(addr, "POST", "/api/identify", &probe);
    assert_eq!(code, 200, "once a body was given up, its megabytes came back: {body}");
}

/// Connections that each send a body a byte short of the limit and then stall: together they
/// hold the whole upload budget. Returns how many, and the connections.
fn budget_holders(addr: &str) -> (usize, Vec<TcpStream>) {
    use siamface::server::{limits::BODY_BUDGET_MB, MAX_BODY};
    let holders = BODY_BUDGET_MB / (MAX_BODY >> 20);
    let almost = vec![0u8; MAX_BODY - 1];
    let held = (0..holders)
        .map(|k| {
            let mut s = announcing(addr, "POST", "/api/identify");
            s.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
            s.write_all(&almost).unwrap_or_else(|e| panic!("body {k} of {holders}, within the budget, was not read: {e}"));
            s
        })
        .collect();
    (holders, held)
}

/// Uploads that stall midway, together holding the whole budget, hold it only for `--body-idle`:
/// the stalled ones are answered 408, and an upload that came in meanwhile waited for budget
/// (`--queue-wait` longer than the idle limit) and is served.
#[test]
fn stalled_bodies_give_their_budget_back_after_the_idle_limit() {
    let dir = tmp("stalled");
    let server = start(&dir, &["--queue-wait", "20", "--body-idle", "2"]);
    let addr = server.1.as_str();
    let (holders, mut held) = budget_holders(addr);
    let probe = form(&[], &[("photo", "a.jpg", &crate::server::photo("Aaron_Peirsol", 1))]);
    let (code, body) = http(addr, "POST", "/api/identify", &probe);
    assert_eq!(code, 200, "an upload beside {holders} stalled bodies was not served once they timed out: {body}");
    for s in &mut held {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 408") && answer.contains("stalled"), "a stalled body was answered: {answer}");
    }
}

/// `--max-connections 3` with three requests in progress (bodies still arriving): a fourth
/// connection is accepted by the kernel but not served, its request left unread, until one of
/// the three ends; then it is answered. How long "not served" is watched for comes from a
/// request timed in the same test: twenty times it, and two seconds more.
#[test]
fn with_every_connection_slot_busy_a_newcomer_waits_for_one() {
    let dir = tmp("max-connections");
    let server = start(&dir, &["--max-connections", "3"]);
    let addr = server.1.as_str();
    let t = Instant::now();
    assert_eq!(http(addr, "GET", "/api/people", b"").0, 200);
    let watch = Duration::from_secs(2) + t.elapsed() * 20;
    let mut busy: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            let head = format!("POST /api/identify HTTP/1.1\r\nHost: {addr}\r\nX-Siamface-Request: 1\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 1000\r\n\r\n0123456789");
            s.write_all(head.as_bytes()).unwrap();
            s
        })
        .collect();
    for s in &busy {
        wait_read_by_server(s);
    }
    let mut newcomer = TcpStream::connect(addr).unwrap();
    newcomer.write_all(format!("GET /api/people HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    assert!(closed_within(&mut newcomer, watch).is_none(), "a fourth connection was served beside three requests in progress");
    assert!(unread_by_server(&newcomer) > 0, "the server read a fourth connection's request with its three slots busy");
    eprintln!("with 3 slots busy, a fourth connection's request stayed unread for {watch:?}");
    drop(busy.remove(0));
    newcomer.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut answer = String::new();
    newcomer.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "once a slot was free: {answer}");
}

/// A 64x64 PNG whose compressed ICC profile (about 1 MB in the file) unpacks to 1 GB: the decoder
/// meets it when the file is opened, before any size in the header can be checked.
fn png_with_a_colour_profile_bomb() -> Vec<u8> {
    let chunk = |out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]| out.extend(crate::common::png_chunk(kind, data));
    let mut ihdr = 64u32.to_be_bytes().to_vec();
    ihdr.extend(64u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        z.write_all(&zeros).unwrap();
    }
    let mut iccp = b"bomb\0\0".to_vec();
    iccp.extend(z.finish().unwrap());
    let mut pixels = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    pixels.write_all(&vec![0u8; 64 * (1 + 64 * 3)]).unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"iCCP", &iccp);
    chunk(&mut png, b"IDAT", &pixels.finish().unwrap());
    chunk(&mut png, b"IEND", &[]);
    png
}

#[test]
fn a_colour_profile_that_unpacks_to_a_gigabyte_costs_no_more_than_the_allocation_limit() {
    let dir = tmp("iccp");
    let server = start(&dir, &[]);
    let pid = server.0.id();
    let png = png_with_a_colour_profile_bomb();
    let before = peak_rss_mb(pid);
    let (code, body) = http(&server.1, "POST", "/api/identify", &form(&[], &[("photo", "bomb.png", &png)]));
    let grew = peak_rss_mb(pid) - before;
    eprintln!("{} KB PNG: {code} {body}; server peak memory grew {grew:.0} MB", png.len() / 1024);
    assert!([200, 400].contains(&code), "{code}: {body}");
    let limit = siamface::data::photo::MAX_ALLOC as f64 / (1 << 20) as f64;
    assert!(grew < limit + 40.0, "one 1 MB upload took {grew:.0} MB (allocation limit {limit:.0} MB)");
}
