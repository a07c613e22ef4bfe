//! HTTP errors: the library error's variant chooses the status (a bad field or file 400, a person
//! not enrolled 404, a name already taken 409); anything else is a 500 whose cause goes to the
//! server's log and whose answer says no more than "internal error", so no file path or database
//! detail of the server reaches a client.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::Error;

pub struct AppError {
    pub status: StatusCode,
    pub message: String,
}

impl AppError {
    pub fn bad(message: impl Into<String>) -> Self {
        AppError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    /// A 500: the cause is logged, the client gets the status and a fixed message.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        eprintln!("internal error: {cause}");
        AppError { status: StatusCode::INTERNAL_SERVER_ERROR, message: "internal error (the server's log says why)".into() }
    }
}

/// The status of each library error.
pub fn status(e: &Error) -> StatusCode {
    match e {
        Error::Input { .. } | Error::Data { .. } => StatusCode::BAD_REQUEST,
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::Unavailable { .. } | Error::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(serde_json::json!({ "error": self.message }))).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("2"));
        }
        r
    }
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        let status = status(&e);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // The cause names the database; the client learns only that it should retry.
            eprintln!("unavailable: {e}");
            let message = match e {
                Error::Busy { .. } => "the gallery is busy with another program's write; try again shortly",
                _ => "the gallery database is unreachable; try again shortly",
            };
            return AppError { status, message: message.into() };
        }
        if status.is_server_error() {
            return AppError::internal(&e);
        }
        AppError { status, message: e.to_string() }
    }
}

impl From<axum::extract::multipart::MultipartError> for AppError {
    fn from(e: axum::extract::multipart::MultipartError) -> Self {
        AppError { status: e.status(), message: format!("upload: {}", e.body_text()) }
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> Self {
        AppError::internal(&format_args!("model task failed: {e}"))
    }
}
