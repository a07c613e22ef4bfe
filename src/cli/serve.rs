//! `siamface serve`: reads the server's settings (`server::Settings` checks them), loads the
//! model and gallery, binds, and serves the router with its guard.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::options::{FaceModel, GalleryArg};
use crate::server::guard::{self, Token};
use crate::server::{self, listen, Inner, Settings};

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
    #[arg(long, value_name = "NAME", value_parser = guard::host_name)]
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
    /// Seconds a request body may go without a byte arriving before it is refused (408) and
    /// its share of the upload budget given back.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    body_idle: u64,
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

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let Args { addr, token, token_file, allow_host, jobs, queue_wait, header_timeout, body_timeout, body_idle, max_connections, collect_cap_mb, gallery, model, threshold, collect } = a;
    // On the command line (rather than from SIAMFACE_TOKEN) the token shows in the process list.
    if token.is_some() && std::env::args_os().any(|a| a == "--token" || a.to_string_lossy().starts_with("--token=")) {
        eprintln!("warning: --token on the command line can be read by every user of this machine in the process list; use --token-file or SIAMFACE_TOKEN");
    }
    let token = Token::given(token.as_deref(), token_file.as_deref()).map_err(anyhow::Error::msg)?;
    let settings = Settings { addr, token, allow_host, jobs, queue_wait, header_timeout, body_timeout, body_idle, max_connections, collect: collect.clone(), collect_cap_mb };
    settings.check().map_err(anyhow::Error::msg)?;
    let gallery = gallery.location();
    // Opening re-embeds a gallery made with another model, before the first request.
    let state = Arc::new(Inner { service: model.service(gallery.clone(), threshold, true)?, collect_dir: collect });
    listen::run(addr, settings.limits(), |bound| {
        println!("siamface is serving on http://{bound} (gallery {gallery})");
        server::app(state, Arc::new(settings.guard(bound)))
    })?;
    Ok(ExitCode::SUCCESS)
}
