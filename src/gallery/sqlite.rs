//! The gallery in a SQLite file (`Gallery`), the backend of one machine. Every write is one
//! IMMEDIATE transaction, so a crash at any moment leaves either the old or the new state, and
//! several processes writing at once wait their turn (up to `BUSY_WAIT`) instead of failing. A
//! file that SQLite's quick check finds damaged is refused on open with the way to recover it
//! (`archive::repair`), and so is one damaged later, behind SQLite's back, while a server has it
//! open (`Gallery::watch`). The rules of enrolment live in `gallery`; this file only runs their
//! statements.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{matrix_from_rows, stored, Backend, Change, Matrix, Tx};
use crate::error::{Error, Result};

/// How long a write waits for another process's write to finish before giving up.
pub const BUSY_WAIT: Duration = Duration::from_secs(30);

pub struct Gallery {
    pub(super) conn: Connection,
    path: PathBuf,
    /// The embeddings as last read, with SQLite's `data_version` at the time: identification reads
    /// them for every camera frame, and they change only when someone enrols or forgets.
    cache: Option<(i64, Arc<Matrix>)>,
    /// The file's modification time and length as last seen, with `data_version` then
    /// (`Gallery::watch`).
    seen: Option<(Option<std::time::SystemTime>, u64, i64)>,
}

/// How much of the file `Gallery::open_with` checks before using it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// SQLite's `quick_check`: every page and record is well formed (the default on open).
    Quick,
    /// SQLite's `integrity_check`, which also compares every index with its table.
    Full,
    /// No check: for reading what is left of a damaged file.
    None,
}

pub(super) fn db_err(path: &Path, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::DatabaseCorrupt | C::NotADatabase) => damaged(path, &e.to_string()),
        Some(C::DatabaseBusy | C::DatabaseLocked) => Error::Busy {
            what: path.display().to_string(),
            reason: format!("another process held its write lock for more than {} s ({e})", BUSY_WAIT.as_secs()),
        },
        _ => Error::database(path, e.to_string()),
    }
}

/// The error of a damaged file: what SQLite found, and how to get the people back.
fn damaged(path: &Path, detail: &str) -> Error {
    let p = path.display();
    Error::database(
        path,
        format!(
            "the file is damaged ({detail}); nothing was changed. `siamface gallery repair --gallery {p}` keeps the damaged file \
             beside it and rebuilds the gallery from every readable person, or `siamface gallery export --gallery {p} DIR` \
             copies them out"
        ),
    )
}

/// `Gallery::check_with` on the connection `conn` to the file at `path`.
fn check_conn(conn: &Connection, path: &Path, check: Check) -> Result<()> {
    let pragma = match check {
        Check::Quick => "PRAGMA quick_check",
        Check::Full => "PRAGMA integrity_check",
        Check::None => return Ok(()),
    };
    let mut st = conn.prepare(pragma).map_err(|e| db_err(path, e))?;
    let found: Vec<String> = st.query_map([], |r| r.get(0)).and_then(|r| r.collect()).map_err(|e| db_err(path, e))?;
    if found != ["ok"] {
        let mut detail = found.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
        if found.len() > 3 {
            detail.push_str(&format!("; {} more", found.len() - 3));
        }
        return Err(damaged(path, &detail));
    }
    let has_tables: i64 = conn.query_row("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('images', 'people')", [], |r| r.get(0)).map_err(|e| db_err(path, e))?;
    if has_tables == 2 {
        let orphans: i64 = conn
            .query_row("SELECT COUNT(*) FROM images WHERE person NOT IN (SELECT id FROM people)", [], |r| r.get(0))
            .map_err(|e| db_err(path, e))?;
        if orphans > 0 {
            return Err(damaged(path, &format!("{orphans} images without a person")));
        }
    }
    Ok(())
}

/// A write transaction on the file, and the path its errors name.
pub(super) struct Txn<'a> {
    pub(super) tx: rusqlite::Transaction<'a>,
    path: &'a Path,
}

impl Txn<'_> {
    pub(super) fn err(&self, e: rusqlite::Error) -> Error {
        db_err(self.path, e)
    }
}

impl Tx for Txn<'_> {
    fn shown(&self) -> &Path {
        self.path
    }

    fn model(&mut self) -> Result<Option<String>> {
        self.tx.query_row("SELECT value FROM meta WHERE key = 'model'", [], |r| r.get(0)).optional().map_err(|e| self.err(e))
    }

    fn set_model(&mut self, model: &str) -> Result<()> {
        self.tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('model', ?1)", [model]).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn names(&mut self) -> Result<Vec<(i64, String)>> {
        names(&self.tx, self.path)
    }

    fn add_person(&mut self, name: &str) -> Result<i64> {
        self.tx.execute("INSERT INTO people (name) VALUES (?1)", [name]).map_err(|e| self.err(e))?;
        Ok(self.tx.last_insert_rowid())
    }

    fn add_image(&mut self, person: i64, crop_png: &[u8], embedding: &[u8]) -> Result<()> {
        self.tx.execute("INSERT INTO images (person, crop, embedding) VALUES (?1, ?2, ?3)", params![person, crop_png, embedding]).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn rename(&mut self, person: i64, name: &str) -> Result<()> {
        self.tx.execute("UPDATE people SET name = ?2 WHERE id = ?1", params![person, name]).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn delete(&mut self, person: i64) -> Result<()> {
        self.tx.execute("DELETE FROM people WHERE id = ?1", [person]).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn set_embedding(&mut self, image: i64, embedding: &[u8]) -> Result<()> {
        self.tx.execute("UPDATE images SET embedding = ?2 WHERE id = ?1", params![image, embedding]).map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// Every person: (id, name as stored).
fn names(conn: &Connection, path: &Path) -> Result<Vec<(i64, String)>> {
    let mut st = conn.prepare_cached("SELECT id, name FROM people").map_err(|e| db_err(path, e))?;
    let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))).map_err(|e| db_err(path, e))?;
    rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| db_err(path, e))
}

impl Gallery {
    /// Opens (or creates) the gallery file, creating its folder if needed, and refuses it if
    /// SQLite's quick check finds it damaged.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, Check::Quick)
    }

    pub fn open_with(path: &Path, check: Check) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let conn = Connection::open(path).map_err(|e| db_err(path, e))?;
        conn.busy_timeout(BUSY_WAIT).map_err(|e| db_err(path, e))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;").map_err(|e| db_err(path, e))?;
        let mut g = Gallery { conn, path: path.to_path_buf(), cache: None, seen: None };
        if check != Check::None {
            g.check_with(check)?;
        }
        // The tables, created by the first writer; a read that finds them saves a write lock.
        let have: i64 = g.conn.query_row("SELECT COUNT(*) FROM sqlite_master WHERE name = 'images'", [], |r| r.get(0)).map_err(|e| db_err(path, e))?;
        if have == 0 {
            let tx = g.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| db_err(path, e))?;
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
                 CREATE TABLE IF NOT EXISTS images (
                     id INTEGER PRIMARY KEY,
                     person INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
                     crop BLOB NOT NULL,
                     embedding BLOB NOT NULL
                 );",
            )
            .map_err(|e| db_err(path, e))?;
            tx.commit().map_err(|e| db_err(path, e))?;
        }
        let version = g.data_version()?;
        g.watch(version)?;
        Ok(g)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn err(&self, e: rusqlite::Error) -> Error {
        db_err(&self.path, e)
    }

    /// Runs `f` in one IMMEDIATE transaction and commits it; an error from `f` rolls it back.
    pub(super) fn transaction<T>(&mut self, f: impl FnOnce(&mut Txn) -> Result<T>) -> Result<T> {
        let version = self.data_version()?;
        self.watch(version)?;
        self.cache = None;
        let out = {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| db_err(&self.path, e))?;
            let mut txn = Txn { tx, path: &self.path };
            let out = f(&mut txn)?;
            txn.tx.commit().map_err(|e| db_err(&self.path, e))?;
            out
        };
        self.wrote()?;
        Ok(out)
    }

    /// The model the cached embeddings were computed with (its fingerprint), if any.
    pub fn model(&self) -> Result<Option<String>> {
        self.conn.query_row("SELECT value FROM meta WHERE key = 'model'", [], |r| r.get(0)).optional().map_err(|e| self.err(e))
    }

    /// (name, number of enrolment images), by name.
    pub fn people(&self) -> Result<Vec<(String, usize)>> {
        let mut st = self
            .conn
            .prepare("SELECT p.name, COUNT(i.id) FROM people p LEFT JOIN images i ON i.person = p.id GROUP BY p.id ORDER BY p.name")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as usize))).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// SQLite's full consistency check, and no image without its person.
    pub fn check(&self) -> Result<()> {
        self.check_with(Check::Full)
    }

    pub fn check_with(&self, check: Check) -> Result<()> {
        check_conn(&self.conn, &self.path, check)
    }

    /// SQLite's count of commits by other connections.
    fn data_version(&self) -> Result<i64> {
        self.conn.query_row("PRAGMA data_version", [], |r| r.get(0)).map_err(|e| self.err(e))
    }

    /// Notices a file changed behind SQLite's back: its modification time or length moved while
    /// `data_version`, which every commit of another connection moves, did not (this
    /// connection's commits go to the write-ahead log and leave the file alone until a
    /// checkpoint, after which `wrote` looks again). Then SQLite's quick check runs again, so a
    /// file damaged while a server runs is refused as on open, rather than read and written on
    /// as if it were whole.
    fn watch(&mut self, version: i64) -> Result<()> {
        let meta = std::fs::metadata(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let now = (meta.modified().ok(), meta.len(), version);
        if let Some(was) = self.seen {
            if was.2 == version && (was.0, was.1) != (now.0, now.1) {
                // A connection of its own: this one's page cache may still hold the pages as
                // they were. On failure the old state stays, so the next call checks again.
                let fresh = Connection::open_with_flags(&self.path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| self.err(e))?;
                check_conn(&fresh, &self.path, Check::Quick)?;
            }
        }
        self.seen = Some(now);
        Ok(())
    }

    /// After a commit of this connection: the file as it is now is the one to compare with, a
    /// checkpoint of the commit included.
    fn wrote(&mut self) -> Result<()> {
        self.seen = None;
        let version = self.data_version()?;
        self.watch(version)
    }

    fn read_matrix(&self) -> Result<Matrix> {
        // Read no more of an embedding than the longest one allowed, and a byte over to show it.
        let mut st = self
            .conn
            .prepare("SELECT p.name, substr(i.embedding, 1, ?1) FROM images i JOIN people p ON p.id = i.person ORDER BY p.name, i.id")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([4 * stored::MAX_DIM as i64 + 4], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))).map_err(|e| self.err(e))?;
        let rows = rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))?;
        matrix_from_rows(rows.into_iter(), &self.path)
    }
}

impl Backend for Gallery {
    fn shown(&self) -> &Path {
        &self.path
    }

    fn write(&mut self, f: &mut dyn FnMut(&mut dyn Tx) -> Result<Change>) -> Result<()> {
        self.transaction(|tx| f(tx).map(drop))
    }

    fn model(&mut self) -> Result<Option<String>> {
        Gallery::model(self)
    }

    fn people(&mut self) -> Result<Vec<(String, usize)>> {
        Gallery::people(self)
    }

    fn names(&mut self) -> Result<Vec<(i64, String)>> {
        names(&self.conn, &self.path)
    }

    /// Kept in memory and read again only when the file has changed since: by this connection's
    /// own writes (which drop the copy) or by another process's, which SQLite's `data_version`
    /// reveals.
    fn matrix(&mut self) -> Result<Arc<Matrix>> {
        let version = self.data_version()?;
        self.watch(version)?;
        if let Some((v, m)) = &self.cache {
            if *v == version {
                return Ok(m.clone());
            }
        }
        let m = Arc::new(self.read_matrix()?);
        self.cache = Some((version, m.clone()));
        Ok(m)
    }

    fn crops(&mut self) -> Result<Vec<(i64, Vec<u8>)>> {
        let mut st = self.conn.prepare("SELECT id, crop FROM images ORDER BY id").map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    fn image_ids(&mut self) -> Result<Vec<i64>> {
        let mut st = self.conn.prepare("SELECT id FROM images ORDER BY id").map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    fn crop(&mut self, id: i64, max_bytes: usize) -> Result<(String, i64, Vec<u8>)> {
        self.conn
            .query_row(
                "SELECT p.name, length(i.crop), substr(i.crop, 1, ?2) FROM images i JOIN people p ON p.id = i.person WHERE i.id = ?1",
                params![id, max_bytes as i64],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| self.err(e))
    }

    fn embeddings_of(&mut self, bytes: usize) -> Result<Vec<(i64, Option<Vec<u8>>)>> {
        let mut st = self.conn.prepare("SELECT id, CASE WHEN length(embedding) = ?1 THEN embedding END FROM images ORDER BY id").map_err(|e| self.err(e))?;
        let rows = st.query_map([bytes as i64], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<Vec<u8>>>(1)?))).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}
