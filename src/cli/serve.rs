//! `siamface serve`: validates the server's options (token, host names, limits), loads the model
//! and gallery, binds, and serves the router with its guard.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::options::{FaceModel, GalleryArg};
use crate::server::guard::{Guard, Token};
use crate::server::listen::{self, Limits};
use crate::server::{self, Inner};

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on. Anything but loopback requires --token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// API token clients send as `Authorization: Bearer TOKEN` (at least 16 printable characters,
    /// 8 of them different).
    /// Prefer --token-file or SIAMFACE_TOKEN: a command-line argument shows in the process list.
    #[arg(long, env = "SIAMFACE_TOKEN", conflicts_with = "token_file")]
    token: Option<String>,
    /// File holding the API token (one line).
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Another host name the server answers to (as `NAME` or `NAME:PORT`); repeatable. Requests
    /// whose Host header names anything else are refused, against DNS rebinding.
    #[arg(long, value_name = "NAME", value_parser = host_name)]
    allow_host: Vec<String>,
    /// Model requests (enrol, identify, verify, compare, collect) run at once; each may hold a
    /// decoded photo of up to 40 megapixels.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Seconds a model request waits for a free slot before it is answered 503.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    queue_wait: u64,
    /// Seconds a connection may take to send a request's headers, may stay idle between
    /// requests, or may leave an answer unread, before it is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    header_timeout: u64,
    /// Seconds a client may take to send a request body.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    body_timeout: u64,
    /// Connections open at once; more wait to be accepted.
    #[arg(long, default_value_t = 128)]
    max_connections: usize,
    /// Megabytes the --collect folder may hold; collecting stops there.
    #[arg(long, default_value_t = 1000)]
    collect_cap_mb: u64,
    #[command(flatten)]
    gallery: GalleryArg,
    #[command(flatten)]
    model: FaceModel,
    /// Lowest score that names someone, from 0 to 1; default: the model card's threshold, else 0.5.
    #[arg(long, value_parser = super::options::unit)]
    threshold: Option<f32>,
    /// Folder where the page's buttons save anchor/ and positive/ pictures for fine-tuning.
    #[arg(long)]
    collect: Option<PathBuf>,
}

/// An `--allow-host` value: a host name or address as a Host header carries it, optionally with
/// `:PORT`. An empty name would match requests that send an empty Host.
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

/// Whether the token came as `--token` on this process's command line (where every user of the
/// machine can read it in the process list), rather than from SIAMFACE_TOKEN or a file.
fn token_in_argv() -> bool {
    std::env::args_os().any(|a| a == "--token" || a.to_string_lossy().starts_with("--token="))
}

/// The token from --token, SIAMFACE_TOKEN or --token-file, checked.
fn token(a: &Args) -> anyhow::Result<Option<Token>> {
    let (text, source) = match (&a.token, &a.token_file) {
        (Some(t), _) => {
            if token_in_argv() {
                eprintln!("warning: --token on the command line can be read by every user of this machine in the process list; use --token-file or SIAMFACE_TOKEN");
            }
            (t.clone(), "--token (or SIAMFACE_TOKEN)".to_string())
        }
        (None, Some(p)) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("--token-file {}: cannot read it", p.display()))?;
            (text.trim_end_matches(['\n', '\r']).to_string(), format!("--token-file {}", p.display()))
        }
        (None, None) => return Ok(None),
    };
    Token::new(&text, &source).map(Some).map_err(anyhow::Error::msg)
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let token = token(&a)?;
    if !a.addr.ip().is_loopback() && token.is_none() {
        anyhow::bail!("--addr {}: serving beyond this machine requires --token, --token-file or SIAMFACE_TOKEN", a.addr);
    }
    if a.jobs == 0 || a.max_connections == 0 {
        anyhow::bail!("--jobs and --max-connections must be at least 1");
    }
    let gpath = a.gallery.location();
    // Opening re-embeds a gallery made with another model, before the first request.
    let state = Arc::new(Inner { service: a.model.service(gpath.clone(), a.threshold, true)?, collect_dir: a.collect.clone() });
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.addr).await.with_context(|| format!("binding {}", a.addr))?;
        let bound = listener.local_addr()?;
        let mut guard = Guard::new(bound, &a.allow_host);
        guard.token = token;
        guard.jobs = Arc::new(tokio::sync::Semaphore::new(a.jobs));
        guard.queue_wait = Duration::from_secs(a.queue_wait);
        guard.body_timeout = Duration::from_secs(a.body_timeout);
        guard.collect = a.collect.clone().map(|d| (d, a.collect_cap_mb * 1_000_000));
        println!("siamface is serving on http://{bound} (gallery {gpath})");
        let t = Duration::from_secs(a.header_timeout.max(1));
        let limits = Limits { header_timeout: t, write_timeout: t, max_connections: a.max_connections };
        listen::serve(listener, server::app(state, Arc::new(guard)), limits, stop()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM, which service managers (systemd, docker, `kill`)
/// send to stop a server: either way the server drains and exits 0.
async fn stop() {
    wait_for_signal().await;
    eprintln!("siamface: stopping; requests in progress get up to {} s", listen::DRAIN.as_secs());
}

async fn wait_for_signal() {
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
}
