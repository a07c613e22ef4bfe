//! The HTTP API (`siamface serve`): enrol, verify, identify, compare, list and forget, as JSON.
//! `app(state)` builds the router apart from any socket, so tests drive it directly. Model work
//! runs on blocking threads, never on the async ones. Each handler reads its fields, makes one
//! call of the face service (`crate::service`), which the command line calls too, and answers
//! with its result as JSON.
mod error;
pub mod guard;
pub mod limits;
pub mod listen;
mod page;
mod routes;
mod settings;
pub mod stream;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{delete, get, post};
use axum::Router;

pub use error::AppError;
pub use guard::Guard;
pub use settings::Settings;

use crate::service::FaceService;

/// Largest request body: a few photos of a phone camera.
pub const MAX_BODY: usize = 20 * 1024 * 1024;

pub struct Inner {
    /// Model, detector, model card and gallery: every route is one call of it.
    pub service: FaceService,
    /// Where the page's "save anchor/positive" buttons put frames (`anchor/`, `positive/`), as
    /// the original app collected them for fine-tuning; `None` turns collection off.
    pub collect_dir: Option<std::path::PathBuf>,
}

pub type AppState = Arc<Inner>;

/// The router: the API and the page, behind the guard's checks (host, cross-site, token), its
/// body deadline, the model-work slots, security headers and JSON errors.
pub fn app(state: AppState, guard: Arc<Guard>) -> Router {
    let g = || guard.clone();
    let model_work = Router::new()
        .route("/api/enroll", post(routes::enroll))
        .route("/api/identify", post(routes::identify))
        .route("/api/verify", post(routes::verify))
        .route("/api/compare", post(routes::compare))
        .route("/api/collect", post(routes::collect).layer(from_fn_with_state(g(), limits::collect_cap)))
        .route_layer(from_fn_with_state(g(), limits::jobs));
    Router::new()
        .route("/api/people", get(routes::people))
        .route("/api/people/{name}", delete(routes::forget))
        .route("/api/people/{name}/rename", post(routes::rename))
        .route("/api/config", get(routes::config))
        .route("/api/stream", get(stream::stream))
        .merge(model_work)
        .route("/", get(page::index))
        .route("/app.js", get(page::script))
        .route("/app.css", get(page::style))
        .fallback(guard::no_route)
        .layer(axum::Extension(guard.clone()))
        .layer(axum::Extension(stream::Slots(Arc::new(tokio::sync::Semaphore::new(stream::MAX_STREAMS)))))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(from_fn_with_state(g(), limits::body))
        .layer(from_fn_with_state(g(), guard::check))
        .layer(from_fn(guard::json_errors))
        .layer(from_fn(guard::headers))
        .with_state(state)
}
