//! The gallery: enrolled people in a SQLite file — each person's enrolment crops (PNG, in the
//! canonical face frame) and their cached embeddings. Every write is one IMMEDIATE transaction,
//! so a crash at any moment leaves either the old or the new state, and several processes
//! writing at once wait their turn (up to `BUSY_WAIT`) instead of failing. A file that SQLite's
//! quick check finds damaged is refused on open with the way to recover it (`archive::repair`).
//! Because the crops are kept, a gallery follows a model upgrade by re-embedding them
//! (`reembed`), without asking anyone to re-enrol.
pub mod archive;
mod check;
pub mod location;
mod matrix;
pub mod name;
pub mod postgres;
pub mod stored;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

pub use check::Finding;
pub use location::Location;
pub use matrix::{fingerprint, identify, verify_rule, Match, Matrix, Scorer};

use crate::error::{Error, Result};

/// How long a write waits for another process's write to finish before giving up.
pub const BUSY_WAIT: Duration = Duration::from_secs(30);

pub struct Gallery {
    conn: Connection,
    path: PathBuf,
    /// The embeddings as last read, with SQLite's `data_version` at the time: identification reads
    /// them for every camera frame, and they change only when someone enrols or forgets.
    cache: Option<(i64, Arc<Matrix>)>,
    /// The file's modification time and length as last seen, with `data_version` then
    /// (`Gallery::watch`).
    seen: Option<(Option<std::time::SystemTime>, u64, i64)>,
}

/// One enrolment image: its crop as PNG bytes and its embedding.
pub struct Enrolment {
    pub crop_png: Vec<u8>,
    pub embedding: Vec<f32>,
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

fn db_err(path: &Path, e: rusqlite::Error) -> Error {
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

fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_blob(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// The stored person whose name is `name` as names are compared (NFC, any case): (id, name).
fn find(conn: &Connection, path: &Path, name: &str) -> Result<Option<(i64, String)>> {
    let key = name::key(name);
    let mut st = conn.prepare_cached("SELECT id, name FROM people").map_err(|e| db_err(path, e))?;
    let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))).map_err(|e| db_err(path, e))?;
    for row in rows {
        let (id, stored) = row.map_err(|e| db_err(path, e))?;
        if name::key(&stored) == key {
            return Ok(Some((id, stored)));
        }
    }
    Ok(None)
}

/// The identification matrix from (name, embedding blob) rows sorted by name. An embedding that
/// is not finite numbers of the others' length is refused: compared with a query it would give
/// scores of nothing (another length) or of anything (infinite values).
fn matrix_from_rows(rows: impl Iterator<Item = (String, Vec<u8>)>, at: &Path) -> Result<Matrix> {
    let mut m = Matrix { names: Vec::new(), owner: Vec::new(), rows: Vec::new(), dim: 0 };
    for (name, blob) in rows {
        let e = stored::embedding(&blob, (m.dim > 0).then_some(m.dim)).map_err(|why| Error::database(at, format!("an image of {name}: {why}")))?;
        if m.dim == 0 {
            m.dim = e.len();
        }
        if m.names.last() != Some(&name) {
            m.names.push(name);
        }
        m.owner.push(m.names.len() - 1);
        m.rows.extend(e);
    }
    Ok(m)
}

/// An image the program cannot use, with what to do about it.
fn bad_image(at: &Path, id: i64, name: &str, why: &str) -> Error {
    Error::database(
        at,
        format!(
            "image {id} of `{name}`: {why}. `siamface gallery check` lists every such image; `siamface gallery repair` rebuilds the gallery \
             without them, or `siamface forget` removes the person"
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

fn not_enrolled(name: &str) -> Error {
    Error::not_found(format!("name `{name}`"), "is not enrolled")
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

    fn err(&self, e: rusqlite::Error) -> Error {
        db_err(&self.path, e)
    }

    fn write(&mut self) -> Result<rusqlite::Transaction<'_>> {
        let version = self.data_version()?;
        self.watch(version)?;
        self.cache = None;
        self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| db_err(&self.path, e))
    }

    /// The model the cached embeddings were computed with (its fingerprint), if any.
    pub fn model(&self) -> Result<Option<String>> {
        self.conn.query_row("SELECT value FROM meta WHERE key = 'model'", [], |r| r.get(0)).optional().map_err(|e| self.err(e))
    }

    /// Enrols a new person, or with `add` adds images to an existing one. All or nothing. The
    /// name is stored in NFC; a name equal to a stored one but for case or normalisation is that
    /// person. Returns the name as stored.
    pub fn enroll(&mut self, name: &str, items: &[Enrolment], model: &str, add: bool) -> Result<String> {
        let name = name::canonical(name)?;
        if items.is_empty() {
            return Err(Error::input("photo", "enrolment needs at least one photo"));
        }
        let path = self.path.clone();
        let tx = self.write()?;
        let stored_model: Option<String> = tx.query_row("SELECT value FROM meta WHERE key = 'model'", [], |r| r.get(0)).optional().map_err(|e| db_err(&path, e))?;
        if let Some(m) = stored_model.filter(|m| m != model) {
            return Err(Error::database(&path, format!("embeddings were computed by model {m}; re-embed the gallery for model {model} first")));
        }
        let (id, stored) = match (find(&tx, &path, &name)?, add) {
            (Some((_, s)), false) => return Err(Error::conflict(format!("name `{s}`"), "is already enrolled (to add images to them: --add, or add=true over the API)")),
            (None, true) => return Err(not_enrolled(&name)),
            (Some(found), true) => found,
            (None, false) => {
                tx.execute("INSERT INTO people (name) VALUES (?1)", [&name]).map_err(|e| db_err(&path, e))?;
                (tx.last_insert_rowid(), name)
            }
        };
        for it in items {
            tx.execute("INSERT INTO images (person, crop, embedding) VALUES (?1, ?2, ?3)", params![id, it.crop_png, to_blob(&it.embedding)])
                .map_err(|e| db_err(&path, e))?;
        }
        tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('model', ?1)", [model]).map_err(|e| db_err(&path, e))?;
        tx.commit().map_err(|e| db_err(&path, e))?;
        self.wrote()?;
        Ok(stored)
    }

    /// SQLite's full consistency check, and no image without its person.
    pub fn check(&self) -> Result<()> {
        self.check_with(Check::Full)
    }

    pub fn check_with(&self, check: Check) -> Result<()> {
        check_conn(&self.conn, &self.path, check)
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

    /// The stored form of `name`, if that person is enrolled.
    pub fn lookup(&self, name: &str) -> Result<Option<String>> {
        Ok(find(&self.conn, &self.path, name)?.map(|(_, s)| s))
    }

    /// Renames a person; `new` may differ from `old` only by case. Returns (old, new) as stored.
    pub fn rename(&mut self, old: &str, new: &str) -> Result<(String, String)> {
        let new = name::canonical(new)?;
        let path = self.path.clone();
        let tx = self.write()?;
        let (id, was) = find(&tx, &path, old)?.ok_or_else(|| not_enrolled(old))?;
        if let Some((other, s)) = find(&tx, &path, &new)? {
            if other != id {
                return Err(Error::conflict(format!("name `{s}`"), "is already enrolled"));
            }
        }
        tx.execute("UPDATE people SET name = ?2 WHERE id = ?1", params![id, new]).map_err(|e| db_err(&path, e))?;
        tx.commit().map_err(|e| db_err(&path, e))?;
        self.wrote()?;
        Ok((was, new))
    }

    /// Deletes the person and everything stored for them; returns the name as it was stored.
    pub fn forget(&mut self, name: &str) -> Result<String> {
        let path = self.path.clone();
        let tx = self.write()?;
        let (id, stored) = find(&tx, &path, name)?.ok_or_else(|| not_enrolled(name))?;
        tx.execute("DELETE FROM people WHERE id = ?1", [id]).map_err(|e| db_err(&path, e))?;
        tx.commit().map_err(|e| db_err(&path, e))?;
        self.wrote()?;
        Ok(stored)
    }

    /// All cached embeddings, for identification. Kept in memory and read again only when the
    /// file has changed since: by this connection's own writes (which drop the copy) or by another
    /// process's, which SQLite's `data_version` reveals.
    pub fn matrix(&mut self) -> Result<Arc<Matrix>> {
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

    /// The enrolment crops (PNG) of every image, with their row ids, to re-embed them.
    pub fn crops(&self) -> Result<Vec<(i64, Vec<u8>)>> {
        let mut st = self.conn.prepare("SELECT id, crop FROM images ORDER BY id").map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Every image's row id, in order.
    pub fn image_ids(&self) -> Result<Vec<i64>> {
        let mut st = self.conn.prepare("SELECT id FROM images ORDER BY id").map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// The stored crop of image `id`, decoded as an upload is (`stored::crop`), reading no more
    /// of it than a crop may hold; else an error naming the image, its person and what to do.
    pub fn crop(&self, id: i64) -> Result<image::RgbImage> {
        let (name, len, png): (String, i64, Vec<u8>) = self
            .conn
            .query_row(
                "SELECT p.name, length(i.crop), substr(i.crop, 1, ?2) FROM images i JOIN people p ON p.id = i.person WHERE i.id = ?1",
                params![id, stored::MAX_CROP_BYTES as i64 + 1],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| self.err(e))?;
        let why = if len as usize > stored::MAX_CROP_BYTES { Err(format!("{len} bytes; a stored crop is at most {}", stored::MAX_CROP_BYTES)) } else { stored::crop(&png) };
        why.map_err(|why| bad_image(&self.path, id, &name, &format!("the stored crop: {why}")))
    }

    /// The images whose embedding a model of `dim`-value embeddings cannot have made: another
    /// length, or a value that is not a finite number.
    pub fn unusable(&self, dim: usize) -> Result<Vec<i64>> {
        let mut st = self.conn.prepare("SELECT id, CASE WHEN length(embedding) = ?1 THEN embedding END FROM images ORDER BY id").map_err(|e| self.err(e))?;
        let rows = st.query_map([4 * dim as i64], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<Vec<u8>>>(1)?))).map_err(|e| self.err(e))?;
        let mut bad = Vec::new();
        for row in rows {
            let (id, blob) = row.map_err(|e| self.err(e))?;
            if blob.is_none_or(|b| stored::embedding(&b, Some(dim)).is_err()) {
                bad.push(id);
            }
        }
        Ok(bad)
    }

    /// Replaces every cached embedding (one transaction) and records the model.
    pub fn reembed(&mut self, embeddings: &[(i64, Vec<f32>)], model: &str) -> Result<()> {
        let path = self.path.clone();
        let tx = self.write()?;
        for (id, e) in embeddings {
            tx.execute("UPDATE images SET embedding = ?2 WHERE id = ?1", params![id, to_blob(e)]).map_err(|e| db_err(&path, e))?;
        }
        tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('model', ?1)", [model]).map_err(|e| db_err(&path, e))?;
        tx.commit().map_err(|e| db_err(&path, e))?;
        self.wrote()
    }
}

/// A gallery wherever it lives: the SQLite file (`Gallery`) or a PostgreSQL database shared by
/// several servers. The face service sees only this.
pub enum Store {
    File(Gallery),
    Postgres(postgres::PgGallery),
}

macro_rules! each {
    ($s:expr, $g:ident => $e:expr) => {
        match $s {
            Store::File($g) => $e,
            Store::Postgres($g) => $e,
        }
    };
}

impl Store {
    /// Opens the gallery at `at`; a file is checked (SQLite's quick check) before use.
    pub fn open(at: &Location) -> Result<Store> {
        Ok(match at {
            Location::File(p) => Store::File(Gallery::open(p)?),
            Location::Postgres(url) => Store::Postgres(postgres::PgGallery::open(url)?),
        })
    }

    /// The file's path, or the database URL without its password: what errors name.
    pub fn shown(&self) -> &Path {
        match self {
            Store::File(g) => g.path(),
            Store::Postgres(g) => g.shown(),
        }
    }

    pub fn model(&mut self) -> Result<Option<String>> {
        each!(self, g => g.model())
    }

    pub fn enroll(&mut self, name: &str, items: &[Enrolment], model: &str, add: bool) -> Result<String> {
        each!(self, g => g.enroll(name, items, model, add))
    }

    pub fn people(&mut self) -> Result<Vec<(String, usize)>> {
        each!(self, g => g.people())
    }

    pub fn lookup(&mut self, name: &str) -> Result<Option<String>> {
        each!(self, g => g.lookup(name))
    }

    pub fn rename(&mut self, old: &str, new: &str) -> Result<(String, String)> {
        each!(self, g => g.rename(old, new))
    }

    pub fn forget(&mut self, name: &str) -> Result<String> {
        each!(self, g => g.forget(name))
    }

    pub fn matrix(&mut self) -> Result<Arc<Matrix>> {
        each!(self, g => g.matrix())
    }

    pub fn crops(&mut self) -> Result<Vec<(i64, Vec<u8>)>> {
        each!(self, g => g.crops())
    }

    pub fn image_ids(&mut self) -> Result<Vec<i64>> {
        each!(self, g => g.image_ids())
    }

    pub fn crop(&mut self, id: i64) -> Result<image::RgbImage> {
        each!(self, g => g.crop(id))
    }

    pub fn unusable(&mut self, dim: usize) -> Result<Vec<i64>> {
        each!(self, g => g.unusable(dim))
    }

    pub fn reembed(&mut self, embeddings: &[(i64, Vec<f32>)], model: &str) -> Result<()> {
        each!(self, g => g.reembed(embeddings, model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gallery(tag: &str) -> (PathBuf, Gallery) {
        let path = std::env::temp_dir().join(format!("siamface-gallery-unit-{}-{tag}.sqlite", std::process::id()));
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
        }
        let g = Gallery::open(&path).unwrap();
        (path, g)
    }

    fn item(v: f32) -> Enrolment {
        Enrolment { crop_png: vec![1, 2, 3], embedding: vec![v; 4] }
    }

    #[test]
    fn embeddings_are_read_once_and_again_after_any_change() {
        let (path, mut g) = gallery("cache");
        g.enroll("Ada", &[item(0.1)], "m", false).unwrap();
        let first = g.matrix().unwrap();
        assert!(Arc::ptr_eq(&first, &g.matrix().unwrap()), "unchanged file: the copy in memory is reused");
        // Own write.
        g.enroll("Bob", &[item(0.2), item(0.3)], "m", false).unwrap();
        let second = g.matrix().unwrap();
        assert_eq!((second.names.len(), second.owner.len()), (2, 3));
        // Another connection (as another process would) forgets Ada.
        Gallery::open(&path).unwrap().forget("Ada").unwrap();
        let third = g.matrix().unwrap();
        assert_eq!(third.names, vec!["Bob".to_string()]);
        assert_eq!(third.rows, vec![0.2, 0.2, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3]);
        // A refused write leaves the same state.
        assert!(g.enroll("Bob", &[item(0.9)], "m", false).is_err());
        assert_eq!(g.matrix().unwrap().rows, third.rows);
    }

    #[test]
    fn names_differing_by_case_or_normalisation_are_one_person() {
        let (_, mut g) = gallery("names");
        assert_eq!(g.enroll("Jose\u{301}", &[item(0.1)], "m", false).unwrap(), "José");
        assert!(matches!(g.enroll("JOSÉ", &[item(0.2)], "m", false), Err(Error::Conflict { .. })));
        assert_eq!(g.enroll("josé", &[item(0.2)], "m", true).unwrap(), "José");
        assert_eq!(g.people().unwrap(), vec![("José".to_string(), 2)]);
        assert_eq!(g.rename("JOSE\u{301}", "José María").unwrap(), ("José".to_string(), "José María".to_string()));
        g.enroll("Ada", &[item(0.3)], "m", false).unwrap();
        assert!(matches!(g.rename("ada", "JOSÉ MARÍA"), Err(Error::Conflict { .. })));
        g.rename("ada", "ADA").unwrap();
        assert!(matches!(g.forget("Nobody"), Err(Error::NotFound { .. })));
        assert_eq!(g.forget("josé maría").unwrap(), "José María");
        assert_eq!(g.people().unwrap(), vec![("ADA".to_string(), 1)]);
    }
}
