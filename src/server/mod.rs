//! The HTTP API (`siamface serve`): enrol, verify, identify, compare, list and forget, as JSON.
//! `app(state)` builds the router apart from any socket, so tests drive it directly. Model work
//! runs on blocking threads, never on the async ones. Each handler reads its fields, makes one
//! call of the face service (`crate::service`), which the command line calls too, and answers
//! with its result as JSON.
mod error;
mod routes;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;

pub use error::AppError;

use crate::service::FaceService;

/// Largest request body: a few photos of a phone camera.
pub const MAX_BODY: usize = 20 * 1024 * 1024;

pub struct Inner {
    /// Model, detector, model card and gallery: every route is one call of it.
    pub service: FaceService,
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
        .route("/api/rename", post(routes::rename))
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
