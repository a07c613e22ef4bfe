//! The library's one error type: every variant says which file, tensor or field was wrong and
//! what was expected, so that a user can fix the input without reading the source.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("invalid configuration: field `{field}`: {reason}")]
    Config { field: String, reason: String },

    /// The I/O error is part of the message rather than a separate cause, so a chain printer
    /// (`{:#}`) does not repeat it.
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },

    #[error("{path}: not a valid model file: {reason}")]
    ModelFile { path: PathBuf, reason: String },

    #[error("{path}: tensor `{tensor}`: expected {expected}, found {found}")]
    Tensor {
        path: PathBuf,
        tensor: String,
        expected: String,
        found: String,
    },

    #[error("{}: {reason}", location(path, *line))]
    Data { path: PathBuf, line: Option<usize>, reason: String },

    #[error("{what}: expected {expected}, found {found}")]
    Shape {
        what: String,
        expected: String,
        found: String,
    },

    /// A request field (form field, command-line option, name) that cannot be used as given.
    #[error("{field}: {reason}")]
    Input { field: String, reason: String },

    /// What the request names does not exist (a person who is not enrolled).
    #[error("{what}: {reason}")]
    NotFound { what: String, reason: String },

    /// The request clashes with what is stored (a name already enrolled).
    #[error("{what}: {reason}")]
    Conflict { what: String, reason: String },

    /// The gallery file could not be read or written, or is damaged.
    #[error("{path}: gallery database: {reason}")]
    Database { path: PathBuf, reason: String },

    /// The gallery database cannot be reached (down, restarting, network lost); the same call
    /// can succeed once it is back.
    #[error("{what}: gallery database unreachable: {reason}")]
    Unavailable { what: String, reason: String },

    /// Another process has held the gallery's write lock for longer than a write waits; the same
    /// call can succeed once it is done.
    #[error("{what}: the gallery is busy: {reason}")]
    Busy { what: String, reason: String },

    /// A fault of the program or its environment, not of the request.
    #[error("internal error: {0}")]
    Internal(String),
}

fn location(path: &std::path::Path, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{}:{l}", path.display()),
        None => path.display().to_string(),
    }
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), err: source }
    }

    pub(crate) fn data(path: impl Into<PathBuf>, line: Option<usize>, reason: impl Into<String>) -> Self {
        Error::Data { path: path.into(), line, reason: reason.into() }
    }

    pub(crate) fn config(field: &str, reason: impl Into<String>) -> Self {
        Error::Config { field: field.to_string(), reason: reason.into() }
    }

    pub(crate) fn input(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Input { field: field.into(), reason: reason.into() }
    }

    pub(crate) fn not_found(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::NotFound { what: what.into(), reason: reason.into() }
    }

    pub(crate) fn conflict(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Conflict { what: what.into(), reason: reason.into() }
    }

    pub(crate) fn database(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Database { path: path.into(), reason: reason.into() }
    }

    pub(crate) fn shape(what: &str, expected: impl ToString, found: impl ToString) -> Self {
        Error::Shape { what: what.to_string(), expected: expected.to_string(), found: found.to_string() }
    }
}
