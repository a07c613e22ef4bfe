use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::server::{self, Inner};
use crate::service::{FaceService, Model, Options};

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on. Anything but loopback requires --token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// API token clients send as `Authorization: Bearer TOKEN`.
    #[arg(long, env = "SIAMFACE_TOKEN")]
    token: Option<String>,
    /// Gallery file (SQLite); default as for `enroll`.
    #[arg(long)]
    gallery: Option<PathBuf>,
    /// Face model directory or .safetensors file; default: the model built into the binary.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Lowest score that names someone, from 0 to 1; default: the model card's threshold, else 0.5.
    #[arg(long, value_parser = super::people::unit)]
    threshold: Option<f32>,
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Folder where the page's buttons save anchor/ and positive/ pictures for fine-tuning.
    #[arg(long)]
    collect: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    if !a.addr.ip().is_loopback() && a.token.is_none() {
        anyhow::bail!("--addr {}: serving beyond this machine requires --token (or SIAMFACE_TOKEN)", a.addr);
    }
    let gpath = a.gallery.clone().unwrap_or_else(super::people::default_gallery);
    // Opening re-embeds a gallery made with another model, before the first request.
    let service = FaceService::open(&Options { model: Some(Model::from_arg(a.model.clone())), gallery: gpath.clone(), threads: a.threads, threshold: a.threshold })?;
    let state = Arc::new(Inner { service, token: a.token, collect_dir: a.collect });
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.addr).await.with_context(|| format!("binding {}", a.addr))?;
        println!("siamface is serving on http://{} (gallery {})", listener.local_addr()?, gpath.display());
        axum::serve(listener, server::app(state)).with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; }).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
