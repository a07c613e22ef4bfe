//! HTTP errors: bad input is a 4xx with a JSON message saying what was wrong; anything else is a
//! 500 whose details go to the log, not to the client.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

pub struct AppError {
    pub status: StatusCode,
    pub message: String,
}

impl AppError {
    pub fn bad(message: impl Into<String>) -> Self {
        AppError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}

impl From<crate::Error> for AppError {
    fn from(e: crate::Error) -> Self {
        use crate::Error as E;
        let text = e.to_string();
        let status = match &e {
            E::Config { reason, .. } if reason.contains("not enrolled") => StatusCode::NOT_FOUND,
            E::Config { reason, .. } if reason.contains("already enrolled") => StatusCode::CONFLICT,
            E::Config { .. } | E::Data { .. } | E::Shape { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            eprintln!("internal error: {text}");
            return AppError { status, message: "internal error".into() };
        }
        AppError { status, message: text }
    }
}

impl From<axum::extract::multipart::MultipartError> for AppError {
    fn from(e: axum::extract::multipart::MultipartError) -> Self {
        AppError { status: e.status(), message: format!("upload: {}", e.body_text()) }
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> Self {
        eprintln!("internal error: model task failed: {e}");
        AppError { status: StatusCode::INTERNAL_SERVER_ERROR, message: "internal error".into() }
    }
}
