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

    pub(crate) fn shape(what: &str, expected: impl ToString, found: impl ToString) -> Self {
        Error::Shape { what: what.to_string(), expected: expected.to_string(), found: found.to_string() }
    }
}
