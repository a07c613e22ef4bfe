//! What stands between the router and any web page the user happens to open. A page on another
//! site can send simple cross-origin requests (a form POST needs no preflight), and a rebinding
//! host name makes a hostile page look same-origin; so every request must name this server in
//! `Host` (exactly one), every call other than GET must come from this server's own page or a
//! program (no cross-site `Origin` or `Sec-Fetch-Site`), every state-changing call must also
//! carry the `X-Siamface-Request` header, which a cross-site page cannot send without a CORS
//! preflight this server never grants, and with `--token` every API call must carry it in
//! `Authorization: Bearer`, compared in constant time. Identify, verify and compare change
//! nothing, so they need no extra header: a cross-site page that could send them (a form POST)
//! is refused by its `Origin`, which browsers send with every cross-site POST, and could not
//! read the answer anyway. Every answer carries security headers, and every error answer, the
//! framework's own included, is JSON.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The header the page sends on every call; a cross-site page can only add it after a CORS
/// preflight, and this server answers no preflight.
pub const REQUEST_HEADER: &str = "x-siamface-request";

/// The shortest token accepted: 16 characters, about 95 bits when drawn from printable ASCII.
pub const MIN_TOKEN_LEN: usize = 16;

/// Fewest different characters a token may use.
pub const MIN_DISTINCT: usize = 8;

/// Largest total size of a request's headers; bigger ones get 431 (hyper itself refuses far
/// bigger ones, over about 400 KB, before the app sees them).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Only this server's own files: no inline script or style, no framing, no form posts elsewhere.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
media-src 'self' blob: mediastream:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// An API token: printable ASCII, at least `MIN_TOKEN_LEN` characters.
pub struct Token(String);

impl Token {
    /// Checks a token given on the command line or in a token file; `source` names where it came
    /// from in the message.
    pub fn new(value: &str, source: &str) -> Result<Token, String> {
        if value.is_empty() {
            return Err(format!("{source}: the token is empty; an empty token would let anyone in"));
        }
        if value.chars().count() < MIN_TOKEN_LEN {
            return Err(format!("{source}: the token has {} characters; at least {MIN_TOKEN_LEN} are required", value.chars().count()));
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("{source}: the token must be printable ASCII without spaces (it travels in an HTTP header)"));
        }
        // Length alone lets `aaaaaaaaaaaaaaaa` through; a token of few distinct characters is
        // one a person typed, not one a generator made.
        let distinct = value.bytes().collect::<std::collections::HashSet<u8>>().len();
        if distinct < MIN_DISTINCT {
            return Err(format!("{source}: the token uses {distinct} different characters; at least {MIN_DISTINCT} are required (make one with `openssl rand -hex 24`)"));
        }
        Ok(Token(value.to_string()))
    }

    /// The token given as `--token` (or SIAMFACE_TOKEN), else in the file `--token-file` (one
    /// line), checked; `None` when neither is given.
    pub fn given(token: Option<&str>, file: Option<&std::path::Path>) -> Result<Option<Token>, String> {
        match (token, file) {
            (Some(t), _) => Token::new(t, "--token (or SIAMFACE_TOKEN)").map(Some),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("--token-file {}: cannot read it: {e}", path.display()))?;
                Token::new(text.trim_end_matches(['\n', '\r']), &format!("--token-file {}", path.display())).map(Some)
            }
            (None, None) => Ok(None),
        }
    }

    /// Whether `presented` is this token, in time that does not depend on where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq::constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

/// A host name the server also answers to (`--allow-host`): a host name or address as a Host
/// header carries it, optionally with `:PORT`. An empty name would match requests that send an
/// empty Host.
pub fn host_name(s: &str) -> Result<String, String> {
    let (name, port) = match s.rsplit_once(':') {
        Some((n, p)) if !s.ends_with(']') && !n.is_empty() && (!n.contains(':') || n.starts_with('[')) => (n, Some(p)),
        _ => (s, None),
    };
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Err(format!("`{s}`: the port after `:` must be a number from 0 to 65535"));
    }
    let name_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    let ipv6 = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')).is_some_and(|n| n.parse::<std::net::Ipv6Addr>().is_ok());
    if name.is_empty() || !(ipv6 || name.chars().all(name_ok)) {
        return Err(format!("`{s}`: a host name (letters, digits, `.`, `-`), an IPv4 address or a bracketed IPv6 one, optionally with `:PORT`"));
    }
    Ok(s.to_string())
}

/// The server's browser-facing rules and resource bounds, shared by its middleware.
pub struct Guard {
    /// `Host` values accepted, lower case with the port (`127.0.0.1:8080`, `localhost:8080`).
    pub hosts: Vec<String>,
    pub token: Option<Token>,
    /// Concurrent model requests (enrol, identify, verify, compare, collect).
    pub jobs: Arc<tokio::sync::Semaphore>,
    /// Megabytes of request bodies held at once (`limits::BODY_BUDGET_MB`).
    pub bodies: Arc<tokio::sync::Semaphore>,
    /// How long a request waits for a model slot or body budget before 503.
    pub queue_wait: Duration,
    /// How long a client may take to send a request body.
    pub body_timeout: Duration,
    /// How long a request body may go without a byte arriving: an upload stalled midway holds
    /// its megabytes of the shared budget only this long, not the whole `body_timeout`.
    pub body_idle: Duration,
    /// The collection folder and the most bytes it may hold.
    pub collect: Option<(std::path::PathBuf, u64)>,
}

impl Guard {
    /// Rules for a server bound to `bound`, also answering to the host names in `names` (with or
    /// without a port; without one, the bound port is meant). Defaults: 2 model requests at once,
    /// 10 s queue, 60 s per body and 10 s without a byte of it, no token, no collection.
    pub fn new(bound: SocketAddr, names: &[String]) -> Guard {
        let port = bound.port();
        let mut hosts = Vec::new();
        let ip = bound.ip();
        if ip.is_loopback() || ip.is_unspecified() {
            hosts.extend([format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}")]);
        }
        if !ip.is_unspecified() {
            hosts.push(SocketAddr::new(ip, port).to_string());
        }
        for n in names {
            let n = n.to_ascii_lowercase();
            let with_port = n.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) && !n.ends_with(']');
            hosts.push(if with_port { n } else { format!("{n}:{port}") });
        }
        if port == 80 {
            let bare: Vec<String> = hosts.iter().filter_map(|h| h.strip_suffix(":80").map(str::to_string)).collect();
            hosts.extend(bare);
        }
        Guard {
            hosts,
            token: None,
            jobs: Arc::new(tokio::sync::Semaphore::new(2)),
            bodies: Arc::new(tokio::sync::Semaphore::new(super::limits::BODY_BUDGET_MB)),
            queue_wait: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            body_idle: Duration::from_secs(10),
            collect: None,
        }
    }
}

/// A JSON error answer, as every refusal of this module is.
pub fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

fn header_text<'a>(h: &'a HeaderMap, name: impl header::AsHeaderName) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn changes_state(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A WebSocket handshake: a GET, but what it opens sends and receives, so cross-site pages are
/// refused as for state-changing calls.
fn is_websocket(h: &HeaderMap) -> bool {
    header_text(h, header::UPGRADE).is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
}

/// The POST calls that only read: they answer from the model and the gallery and change neither.
pub const READ_ONLY: [&str; 3] = ["/api/identify", "/api/verify", "/api/compare"];

fn read_only(m: &Method, path: &str) -> bool {
    *m == Method::POST && READ_ONLY.contains(&path)
}

/// Host (rebinding), header size, cross-site and CSRF checks, then the token on `/api/`.
pub async fn check(State(g): State<Arc<Guard>>, mut req: Request, next: Next) -> Response {
    let h = req.headers();
    let size: usize = h.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if size > MAX_HEADER_BYTES {
        return refuse(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, format!("request headers are {size} bytes; the limit is {MAX_HEADER_BYTES}"));
    }
    // Two Host headers may be read differently by a proxy in front and by this check.
    let hosts = h.get_all(header::HOST).iter().count();
    if hosts > 1 {
        return refuse(StatusCode::BAD_REQUEST, format!("the request has {hosts} Host headers; exactly one is allowed"));
    }
    let host = header_text(h, header::HOST).or_else(|| req.uri().authority().map(|a| a.as_str())).unwrap_or_default().to_ascii_lowercase();
    // A request target in absolute form (`GET http://name/...`) names the host too, and HTTP
    // says it wins over the Host header: it must be a name served here as well.
    if let Some(authority) = req.uri().authority().map(|a| a.as_str().to_ascii_lowercase()) {
        if !g.hosts.contains(&authority) {
            return refuse(StatusCode::MISDIRECTED_REQUEST, format!("the request target names host `{authority}`, which is not served here"));
        }
    }
    if !g.hosts.contains(&host) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            format!("host `{host}` is not served here (a name this server does not know may be a DNS rebinding attack); start serve with --allow-host NAME to answer to another name"),
        );
    }
    let websocket = is_websocket(h);
    if changes_state(req.method()) || websocket {
        if let Some(site) = header_text(h, "sec-fetch-site") {
            if site != "same-origin" && site != "none" {
                return refuse(StatusCode::FORBIDDEN, format!("a {site} request may not {} here (Sec-Fetch-Site: {site}): only this server's own page may", what_it_does(websocket, req.method())));
            }
        }
        if let Some(origin) = h.get(header::ORIGIN) {
            let same = origin.to_str().ok().is_some_and(|o| o == format!("http://{host}") || o == format!("https://{host}"));
            if !same {
                return refuse(StatusCode::FORBIDDEN, format!("requests from origin {origin:?} may not {} here: only this server's own page may", what_it_does(websocket, req.method())));
            }
        }
        // A browser cannot add headers to a WebSocket handshake; its Origin, always sent and
        // checked above, is what keeps other sites out.
        if header_text(h, REQUEST_HEADER) != Some("1") && !websocket && !read_only(req.method(), req.uri().path()) {
            return refuse(StatusCode::FORBIDDEN, "state-changing calls need the header `X-Siamface-Request: 1` (the page sends it; scripts must too)");
        }
    }
    if let Some(token) = &g.token {
        if req.uri().path().starts_with("/api/") {
            let ok = header_text(h, header::AUTHORIZATION).and_then(|v| v.strip_prefix("Bearer ")).is_some_and(|t| token.matches(t));
            if !ok && websocket && header_text(h, header::AUTHORIZATION).is_none() {
                // The stream asks for the token as its first message instead.
                req.extensions_mut().insert(super::stream::Authorized(false));
            } else if !ok {
                let mut r = refuse(StatusCode::UNAUTHORIZED, "missing or wrong API token (send it as `Authorization: Bearer TOKEN`)");
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return r;
            }
        }
    }
    next.run(req).await
}

/// Security headers on every answer; API answers are not cached.
pub async fn headers(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// The answer for a path no route serves.
pub async fn no_route(method: Method, uri: axum::http::Uri) -> Response {
    refuse(StatusCode::NOT_FOUND, format!("no such call: {method} {}", uri.path()))
}

/// Turns any error answer that is not JSON (the framework's 405, 413, 415 and multipart
/// rejections) into `{"error": "..."}`, keeping its status and headers such as `Allow`.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = header_text(resp.headers(), header::CONTENT_TYPE).is_some_and(|t| t.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.ok().and_then(|b| String::from_utf8(b.to_vec()).ok()).unwrap_or_default();
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            match header_text(&parts.headers, header::ALLOW).filter(|a| !a.is_empty()) {
                Some(allow) => format!("{method} is not allowed on {path}; allowed: {allow}"),
                None => format!("{method} is not allowed on {path}"),
            }
        }
        _ if !text.trim().is_empty() => text.trim().to_string(),
        _ => status.canonical_reason().unwrap_or("error").to_string(),
    };
    let body = serde_json::to_vec(&serde_json::json!({ "error": message })).unwrap_or_default();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// What a refused cross-site call would have done, for its message: every POST is guarded
/// (identifying a face reads the gallery, and its answer must not reach another site either).
fn what_it_does(websocket: bool, method: &Method) -> &'static str {
    if websocket {
        "open a video stream"
    } else if method == Method::POST {
        "send photos or change the gallery"
    } else {
        "change anything"
    }
}
