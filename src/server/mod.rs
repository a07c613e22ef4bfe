//! The HTTP API (`siamface serve`): enrol, verify, identify, compare, list and forget, as JSON.
//! `app(state)` builds the router apart from any socket, so tests drive it directly. Model work
//! runs on blocking threads, never on the async ones. The model and detector are shared read-only
//! by every request (each request thread borrows its own buffers from a pool), so requests run
//! side by side; the gallery file is behind a lock so writes stay one transaction at a time.
mod error;
mod routes;

use std::sync::{Arc, Mutex};

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;

pub use error::AppError;

use crate::config::ModelConfig;
use crate::face::Detector;
use crate::gallery::Gallery;
use crate::model::{Scratch, Siamese};

/// Largest request body: a few photos of a phone camera.
pub const MAX_BODY: usize = 20 * 1024 * 1024;

pub struct Inner {
    pub net: Siamese,
    /// Inference buffers, one taken per request for its duration; grows to the number of
    /// requests that ever ran at once.
    pub scratch: Mutex<Vec<Scratch>>,
    pub cfg: ModelConfig,
    pub model_id: String,
    pub det: Detector,
    pub gallery: Mutex<Gallery>,
    /// Lowest score that names someone, and the per-image threshold of verification.
    pub threshold: f32,
    /// Fraction of a claimed person's enrolment images that must accept the face.
    pub verification: f32,
    /// Required as `Authorization: Bearer TOKEN` when set.
    pub token: Option<String>,
    /// Where the page's "save anchor/positive" buttons put frames (`anchor/`, `positive/`), as
    /// the original app collected them for fine-tuning; `None` turns collection off.
    pub collect_dir: Option<std::path::PathBuf>,
}

pub type AppState = Arc<Inner>;

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/api/people", get(routes::people))
        .route("/api/people/{name}", delete(routes::forget))
        .route("/api/enroll", post(routes::enroll))
        .route("/api/identify", post(routes::identify))
        .route("/api/verify", post(routes::verify))
        .route("/api/compare", post(routes::compare))
        .route("/api/collect", post(routes::collect))
        .route("/api/config", get(routes::config))
        .layer(axum::middleware::from_fn_with_state(state.clone(), routes::auth))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .route("/", get(routes::page))
        .with_state(state)
}

impl Inner {
    /// The embedding of one face crop, on the calling thread, with a pooled buffer.
    pub fn embed(&self, input: &[u8]) -> crate::error::Result<Vec<f32>> {
        let mut s = self.scratch.lock().expect("scratch pool lock").pop().unwrap_or_else(|| self.net.scratch());
        let e = self.net.embed_bytes_with(input, &mut s);
        self.scratch.lock().expect("scratch pool lock").push(s);
        e
    }
}
