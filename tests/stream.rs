//! `/api/stream` over a real socket: frames in, tracks with states and names out; another
//! site's page refused at the handshake; the token required (as a header or the first
//! message); frames dropped rather than queued when a client sends too fast; oversized frames
//! refused.
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::server::Server;

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// The server with the built-in model over `dir/g.sqlite`.
fn serve(dir: &Path, extra: &[&str]) -> Server {
    crate::common::serve(&[&["--gallery", dir.join("g.sqlite").to_str().unwrap()], extra].concat())
}

/// Opens the stream with `origin` and extra headers; the handshake's error when refused.
async fn open(addr: &str, origin: &str, headers: &[(&'static str, &str)]) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = format!("ws://{addr}/api/stream").into_client_request().unwrap();
    req.headers_mut().insert("origin", origin.parse().unwrap());
    for (k, v) in headers {
        req.headers_mut().insert(*k, v.parse().unwrap());
    }
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio_tungstenite::client_async(req, tcp).await.map(|(ws, _)| ws)
}

fn jpeg(img: &image::RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Jpeg).unwrap();
    out
}

/// The next text answer as JSON (pings skipped); `None` when the server closed.
async fn answer(ws: &mut Ws) -> Option<serde_json::Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(60), ws.next()).await.expect("an answer within 60 s")? {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

fn enrolled_dir(tag: &str) -> std::path::PathBuf {
    let dir = crate::server::tmp(&format!("stream-{tag}"));
    let out = Command::new(env!("CARGO_BIN_EXE_siamface"))
        .args(["enroll", "Colin Powell", crate::common::lfw("Colin_Powell", 1).to_str().unwrap(), "--gallery", dir.join("g.sqlite").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    dir
}

#[tokio::test]
async fn the_stream_follows_and_names_the_enrolled_face() {
    let dir = enrolled_dir("names");
    let server = serve(&dir, &[]);
    let colin = image::open(crate::common::lfw("Colin_Powell", 3)).unwrap().to_rgb8();
    let frames = crate::video::clip(&[(&colin, 250.0)], 30, 9);
    let mut ws = open(&server.1, &format!("http://{}", server.1), &[]).await.expect("same-origin handshake");
    let (mut named, mut tracks) = (0, std::collections::HashSet::new());
    for (k, f) in frames.iter().enumerate() {
        ws.send(Message::Binary(jpeg(f).into())).await.unwrap();
        let a = answer(&mut ws).await.expect("an answer per frame");
        assert_eq!(a["frame"], k, "{a}");
        for face in a["faces"].as_array().unwrap() {
            tracks.insert(face["track"].as_u64().unwrap());
            assert_eq!(face["box"].as_array().unwrap().len(), 4);
            named += (face["state"] == "named" && face["name"] == "Colin Powell") as usize;
        }
    }
    eprintln!("named in {named} of 30 answers, tracks {tracks:?}");
    assert_eq!(tracks.len(), 1, "one face, one track");
    assert!(named >= 20, "named in {named} of 30 answers");
    // A frame that is not an image is answered with an error, and the stream goes on.
    ws.send(Message::Binary(b"not an image".to_vec().into())).await.unwrap();
    let a = answer(&mut ws).await.unwrap();
    assert!(a["error"].as_str().unwrap().starts_with("frame:"), "{a}");
}

#[tokio::test]
async fn another_sites_page_is_refused_and_the_token_is_required() {
    let dir = enrolled_dir("guard");
    let token = "stream-token-of-enough-length-7";
    std::fs::write(dir.join("token"), token).unwrap();
    let server = serve(&dir, &["--token-file", dir.join("token").to_str().unwrap()]);
    let own = format!("http://{}", server.1);
    match open(&server.1, "http://evil.example", &[]).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("a cross-site handshake must be refused: {other:?}"),
    }
    // No token: closed with 1008 after the wait, no frame answered.
    let mut ws = open(&server.1, &own, &[]).await.unwrap();
    ws.send(Message::Binary(b"x".to_vec().into())).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap();
    match closed {
        Some(Ok(Message::Close(Some(c)))) => assert_eq!(u16::from(c.code), 1008),
        other => panic!("expected a 1008 close: {other:?}"),
    }
    // A wrong header token is refused at the handshake; the right one as the first message works.
    match open(&server.1, &own, &[("authorization", "Bearer wrong-token-wrong-token")]).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("a wrong token must be refused: {other:?}"),
    }
    let mut ws = open(&server.1, &own, &[]).await.unwrap();
    ws.send(Message::Text(serde_json::json!({ "token": token }).to_string().into())).await.unwrap();
    let colin = image::open(crate::common::lfw("Colin_Powell", 3)).unwrap().to_rgb8();
    ws.send(Message::Binary(jpeg(&crate::video::clip(&[(&colin, 250.0)], 1, 1)[0]).into())).await.unwrap();
    assert_eq!(answer(&mut ws).await.unwrap()["frame"], 0);
}

#[tokio::test]
async fn a_client_sending_too_fast_gets_frames_dropped_and_oversized_frames_close_the_stream() {
    let dir = enrolled_dir("limits");
    let server = serve(&dir, &[]);
    let own = format!("http://{}", server.1);
    let colin = image::open(crate::common::lfw("Colin_Powell", 3)).unwrap().to_rgb8();
    let frames = crate::video::clip(&[(&colin, 250.0)], 40, 2);
    let mut ws = open(&server.1, &own, &[]).await.unwrap();
    for f in &frames {
        ws.send(Message::Binary(jpeg(f).into())).await.unwrap();
    }
    // Every frame sent at once: the server looks at some and drops the rest; the last answer
    // counts what it dropped, and answers plus drops account for every frame.
    let mut answers = Vec::new();
    while let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        answers.push(serde_json::from_str::<serde_json::Value>(t.as_str()).unwrap());
    }
    let dropped = answers.last().unwrap()["dropped"].as_u64().unwrap() as usize;
    eprintln!("{} answers, {dropped} frames dropped of 40", answers.len());
    assert!(dropped > 0 && answers.len() < 40, "{} answers, {dropped} dropped", answers.len());
    assert_eq!(answers.len() + dropped, 40);
    // A message over the frame limit ends the stream.
    let big = vec![0u8; siamface::server::stream::MAX_FRAME_BYTES + 1];
    let _ = ws.send(Message::Binary(big.into())).await;
    let end = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap();
    assert!(matches!(end, None | Some(Err(_)) | Some(Ok(Message::Close(_)))), "{end:?}");
}
