//! Where a gallery lives, as typed after `--gallery` or in `SIAMFACE_GALLERY`: a file path
//! (SQLite, the default) or a `postgres://` URL. Anything else that looks like a URL is refused
//! before anything is created, so a mistyped or unsupported database never turns into a folder
//! called `mysql:` with an SQLite file deep inside it.
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What the program can open, for error messages.
pub const SUPPORTED: &str = "a file path (SQLite), sqlite:///path/to/file, or postgres://user@host/database";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file, created with its folder on first use.
    File(PathBuf),
    /// A PostgreSQL database, by its connection URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl Location {
    /// Reads a location as typed. A `scheme://` prefix (letters, digits, `+ - .`, starting with a
    /// letter) makes it a URL; a path such as `./a://b` or `C:\x` stays a path.
    pub fn parse(text: &str) -> Result<Location> {
        if text.trim().is_empty() {
            return Err(Error::input("gallery", format!("empty; expected {SUPPORTED}")));
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Ok(Location::File(PathBuf::from(text)));
        };
        let url_like = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !url_like {
            return Ok(Location::File(PathBuf::from(text)));
        }
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Ok(Location::Postgres(text.to_string())),
            "sqlite" | "file" if !rest.is_empty() => Ok(Location::File(PathBuf::from(rest))),
            "sqlite" | "file" => Err(Error::input("gallery", format!("`{text}` names no file; expected {SUPPORTED}"))),
            _ => Err(Error::input("gallery", format!("`{scheme}://` is not a gallery this program can open; expected {SUPPORTED}"))),
        }
    }

    /// The gallery used when none is named: `gallery.sqlite` in `siamface/` under
    /// `$XDG_DATA_HOME` (given as `xdg_data_home`), else under `~/.local/share` (`home`), else
    /// under the working directory.
    pub fn default_file(xdg_data_home: Option<PathBuf>, home: Option<PathBuf>) -> Location {
        let base = xdg_data_home.or_else(|| home.map(|h| h.join(".local/share"))).unwrap_or_else(|| PathBuf::from("."));
        Location::File(base.join("siamface").join("gallery.sqlite"))
    }

    /// The SQLite file, for the tools that check, repair, export and import a file (a file can
    /// be damaged and need them; a PostgreSQL gallery has the database's own: `pg_dump`,
    /// `amcheck`).
    pub fn sqlite_file(&self) -> Result<&Path> {
        match self {
            Location::File(p) => Ok(p),
            Location::Postgres(url) => Err(Error::input(
                format!("--gallery {}", redact(url)),
                "`siamface gallery` checks, repairs, exports and imports SQLite files; back up a PostgreSQL gallery with pg_dump",
            )),
        }
    }
}

impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Location {
        Location::File(p)
    }
}

/// For messages: a URL without its password.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(p) => write!(f, "{}", p.display()),
            Location::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

/// `postgres://user:secret@host/db` as `postgres://user:***@host/db`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (auth, tail) = match rest.find('@') {
        Some(at) if !rest[..at].contains('/') => (&rest[..at], &rest[at..]),
        _ => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{tail}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_urls_and_unsupported_schemes() {
        assert_eq!(Location::parse("g.sqlite").unwrap(), Location::File("g.sqlite".into()));
        assert_eq!(Location::parse("./odd://name").unwrap(), Location::File("./odd://name".into()));
        assert_eq!(Location::parse("sqlite:///tmp/g.sqlite").unwrap(), Location::File("/tmp/g.sqlite".into()));
        assert_eq!(Location::parse("postgres://u@h/db").unwrap(), Location::Postgres("postgres://u@h/db".into()));
        assert_eq!(Location::parse("PostgreSQL://u@h/db").unwrap(), Location::Postgres("PostgreSQL://u@h/db".into()));
        for bad in ["mysql://u@h/db", "http://x", "sqlite://", ""] {
            let e = Location::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("gallery: ") && e.contains("postgres://"), "{bad}: {e}");
        }
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(Location::parse("postgres://ann:s3cret@db:5432/faces").unwrap().to_string(), "postgres://ann:***@db:5432/faces");
        assert_eq!(redact("postgres://ann@db/faces"), "postgres://ann@db/faces");
    }
}
