//! The web page and its script and style, embedded in the binary and served from this origin
//! only: the page has no inline script or style, so the Content-Security-Policy can forbid both.
use axum::http::header;
use axum::response::IntoResponse;

/// The page: live camera, boxes and names, enrolment, verification, rename, forget, collection.
pub async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], include_str!("assets/index.html"))
}

pub async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("assets/app.js"))
}

pub async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("assets/app.css"))
}
