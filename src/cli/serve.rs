use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;

use crate::face::Detector;
use crate::gallery::{self, Gallery};
use crate::model::{io, Siamese};
use crate::server::{self, Inner};

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
    #[arg(long, default_value = "models/face")]
    model: PathBuf,
    /// Lowest score that names someone; default: the model card's threshold, else 0.5.
    #[arg(long)]
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
    let ck = io::load(&a.model).with_context(|| format!("loading the face model {}", a.model.display()))?;
    let model_id = gallery::fingerprint(&ck.params.data);
    let cfg = ck.config.clone();
    let threshold = a.threshold.or_else(|| super::compare::card_threshold(&a.model).map(|t| t as f32)).unwrap_or(0.5);
    let gpath = a.gallery.clone().unwrap_or_else(super::people::default_gallery);
    let state = Arc::new(Inner {
        net: Siamese::new(ck.config, ck.params, a.threads)?,
        scratch: Mutex::new(Vec::new()),
        cfg,
        model_id,
        det: Detector::new()?,
        gallery: Mutex::new(Gallery::open(&gpath)?),
        threshold,
        verification: super::compare::card_value(&a.model, "verification").map_or(0.5, |v| v as f32),
        token: a.token,
        collect_dir: a.collect,
    });
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.addr).await.with_context(|| format!("binding {}", a.addr))?;
        println!("siamface is serving on http://{} (gallery {})", listener.local_addr()?, gpath.display());
        axum::serve(listener, server::app(state)).with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; }).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
