//! The gallery: enrolled people in a SQLite file — each person's enrolment crops (PNG, in the
//! canonical face frame) and their cached embeddings. Every write is one transaction, so a crash
//! at any moment leaves either the old or the new state. Because the crops are kept, a gallery
//! follows a model upgrade by re-embedding them (`reembed`), without asking anyone to re-enrol.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};

pub struct Gallery {
    conn: Connection,
    path: PathBuf,
    /// The embeddings as last read, with SQLite's `data_version` at the time: identification reads
    /// them for every camera frame, and they change only when someone enrols or forgets.
    cache: Option<(i64, Arc<Matrix>)>,
}

/// One enrolment image: its crop as PNG bytes and its embedding.
pub struct Enrolment {
    pub crop_png: Vec<u8>,
    pub embedding: Vec<f32>,
}

/// Every cached embedding, row by row, with whose it is.
pub struct Matrix {
    pub names: Vec<String>,
    /// For each row, the index of its person in `names`.
    pub owner: Vec<usize>,
    pub rows: Vec<f32>,
    pub dim: usize,
}

impl Matrix {
    /// The query's score against each enrolment image of `name`, the input of `verify_rule`;
    /// `None` when `name` is not enrolled.
    pub fn claim_scores(&self, net: &crate::model::Siamese, name: &str, query: &[f32]) -> Option<Vec<f32>> {
        let who = self.names.iter().position(|n| n == name)?;
        let d = self.dim;
        Some(self.owner.iter().enumerate().filter(|(_, &o)| o == who).map(|(i, _)| net.score(query, &self.rows[i * d..(i + 1) * d])).collect())
    }
}

fn db_err(path: &Path, e: rusqlite::Error) -> Error {
    Error::data(path, None, format!("gallery database: {e}"))
}

/// Names are shown in the app and used on the command line: 1 to 100 characters, no control
/// characters, no path separators, not `.` or `..`, no leading or trailing spaces.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name.chars().count() > 100 {
        return Err("a name has 1 to 100 characters".into());
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(format!("name {name:?} contains a control character"));
    }
    if name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(format!("name {name:?} contains a path character"));
    }
    if name.trim() != name {
        return Err(format!("name {name:?} starts or ends with a space"));
    }
    Ok(())
}

fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_blob(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

impl Gallery {
    /// Opens (or creates) the gallery file, creating its folder if needed.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let conn = Connection::open(path).map_err(|e| db_err(path, e))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA foreign_keys = ON;
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
             CREATE TABLE IF NOT EXISTS images (
                 id INTEGER PRIMARY KEY,
                 person INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
                 crop BLOB NOT NULL,
                 embedding BLOB NOT NULL
             );",
        )
        .map_err(|e| db_err(path, e))?;
        Ok(Gallery { conn, path: path.to_path_buf(), cache: None })
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        db_err(&self.path, e)
    }

    fn field(name: &str, reason: String) -> Error {
        Error::Config { field: format!("name `{name}`"), reason }
    }

    /// The model the cached embeddings were computed with (its fingerprint), if any.
    pub fn model(&self) -> Result<Option<String>> {
        self.conn.query_row("SELECT value FROM meta WHERE key = 'model'", [], |r| r.get(0)).optional().map_err(|e| self.err(e))
    }

    /// Enrols a new person, or with `add` adds images to an existing one. All or nothing.
    pub fn enroll(&mut self, name: &str, items: &[Enrolment], model: &str, add: bool) -> Result<()> {
        check_name(name).map_err(|r| Self::field(name, r))?;
        if items.is_empty() {
            return Err(Self::field(name, "enrolment needs at least one photo".into()));
        }
        if let Some(m) = self.model()?.filter(|m| m != model) {
            return Err(Error::data(&self.path, None, format!("embeddings were computed by model {m}; re-embed the gallery for model {model} first")));
        }
        self.cache = None;
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| db_err(&path, e))?;
        let existing: Option<i64> = tx.query_row("SELECT id FROM people WHERE name = ?1", [name], |r| r.get(0)).optional().map_err(|e| db_err(&path, e))?;
        let id = match (existing, add) {
            (Some(_), false) => return Err(Self::field(name, "is already enrolled (add images to it with --add)".into())),
            (None, true) => return Err(Self::field(name, "is not enrolled".into())),
            (Some(id), true) => id,
            (None, false) => {
                tx.execute("INSERT INTO people (name) VALUES (?1)", [name]).map_err(|e| db_err(&path, e))?;
                tx.last_insert_rowid()
            }
        };
        for it in items {
            tx.execute("INSERT INTO images (person, crop, embedding) VALUES (?1, ?2, ?3)", params![id, it.crop_png, to_blob(&it.embedding)])
                .map_err(|e| db_err(&path, e))?;
        }
        tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('model', ?1)", [model]).map_err(|e| db_err(&path, e))?;
        tx.commit().map_err(|e| db_err(&path, e))
    }

    /// SQLite's own consistency checks: the file's structure, and no image without its person.
    pub fn check(&self) -> Result<()> {
        let integrity: String = self.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(|e| self.err(e))?;
        if integrity != "ok" {
            return Err(Error::data(&self.path, None, format!("gallery database is damaged: {integrity}")));
        }
        let orphans: i64 =
            self.conn.query_row("SELECT COUNT(*) FROM images WHERE person NOT IN (SELECT id FROM people)", [], |r| r.get(0)).map_err(|e| self.err(e))?;
        if orphans > 0 {
            return Err(Error::data(&self.path, None, format!("gallery database has {orphans} images without a person")));
        }
        Ok(())
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

    pub fn rename(&mut self, old: &str, new: &str) -> Result<()> {
        check_name(new).map_err(|r| Self::field(new, r))?;
        self.cache = None;
        let n = self.conn.execute("UPDATE people SET name = ?2 WHERE name = ?1", [old, new]).map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => Self::field(new, "is already enrolled".into()),
            e => db_err(&self.path, e),
        })?;
        if n == 0 {
            return Err(Self::field(old, "is not enrolled".into()));
        }
        Ok(())
    }

    /// Deletes the person and everything stored for them.
    pub fn forget(&mut self, name: &str) -> Result<()> {
        self.cache = None;
        let n = self.conn.execute("DELETE FROM people WHERE name = ?1", [name]).map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(Self::field(name, "is not enrolled".into()));
        }
        Ok(())
    }

    /// All cached embeddings, for identification. Kept in memory and read again only when the
    /// file has changed since: by this connection's own writes (which drop the copy) or by another
    /// process's, which SQLite's `data_version` reveals.
    pub fn matrix(&mut self) -> Result<Arc<Matrix>> {
        let version: i64 = self.conn.query_row("PRAGMA data_version", [], |r| r.get(0)).map_err(|e| self.err(e))?;
        if let Some((v, m)) = &self.cache {
            if *v == version {
                return Ok(m.clone());
            }
        }
        let m = Arc::new(self.read_matrix()?);
        self.cache = Some((version, m.clone()));
        Ok(m)
    }

    fn read_matrix(&self) -> Result<Matrix> {
        let mut st = self.conn.prepare("SELECT p.name, i.embedding FROM images i JOIN people p ON p.id = i.person ORDER BY p.name, i.id").map_err(|e| self.err(e))?;
        let mut m = Matrix { names: Vec::new(), owner: Vec::new(), rows: Vec::new(), dim: 0 };
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))).map_err(|e| self.err(e))?;
        for row in rows {
            let (name, blob) = row.map_err(|e| self.err(e))?;
            let e = from_blob(&blob);
            if m.dim == 0 {
                m.dim = e.len();
            } else if e.len() != m.dim {
                return Err(Error::data(&self.path, None, format!("embedding of {name} has {} values, others {}", e.len(), m.dim)));
            }
            if m.names.last() != Some(&name) {
                m.names.push(name);
            }
            m.owner.push(m.names.len() - 1);
            m.rows.extend(e);
        }
        Ok(m)
    }

    /// The enrolment crops (PNG) of every image, with their row ids, to re-embed them.
    pub fn crops(&self) -> Result<Vec<(i64, Vec<u8>)>> {
        let mut st = self.conn.prepare("SELECT id, crop FROM images ORDER BY id").map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Replaces every cached embedding (one transaction) and records the model.
    pub fn reembed(&mut self, embeddings: &[(i64, Vec<f32>)], model: &str) -> Result<()> {
        self.cache = None;
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| db_err(&path, e))?;
        for (id, e) in embeddings {
            tx.execute("UPDATE images SET embedding = ?2 WHERE id = ?1", params![id, to_blob(e)]).map_err(|e| db_err(&path, e))?;
        }
        tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('model', ?1)", [model]).map_err(|e| db_err(&path, e))?;
        tx.commit().map_err(|e| db_err(&path, e))
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
    fn names_with_path_or_control_characters_are_refused() {
        for bad in ["", "a/b", "..", "a\\b", "tab\there", " lead", "new\nline"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["Ada Lovelace", "José", "O'Brien-2"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }
}

/// The best-matching person for a query embedding.
#[derive(Clone, Debug, PartialEq)]
pub struct Match {
    /// `None` when no one scores at or above the threshold ("unknown").
    pub name: Option<String>,
    /// The best score, whoever it belongs to.
    pub score: f32,
    pub nearest: Option<String>,
}

/// Scores `query` against every cached embedding at once (the learned head, vectorised and
/// spread over the model's threads); a person's score is their best image's.
pub fn identify(net: &crate::model::Siamese, m: &Matrix, query: &[f32], threshold: f32, scratch: &mut Vec<f32>) -> Result<Match> {
    if m.owner.is_empty() {
        return Ok(Match { name: None, score: 0.0, nearest: None });
    }
    scratch.resize(m.owner.len(), 0.0);
    net.score_many(query, &m.rows, scratch)?;
    let (best_row, best) = scratch.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &s)| if s > b.1 { (i, s) } else { b });
    let nearest = m.names[m.owner[best_row]].clone();
    Ok(Match { name: (best >= threshold).then(|| nearest.clone()), score: best, nearest: Some(nearest) })
}

/// The original app's verification rule: an enrolment image "detects" the face when its score
/// reaches `detection`; the claim is accepted when the fraction of detecting images reaches
/// `verification`. Returns (accepted, fraction).
pub fn verify_rule(scores: &[f32], detection: f32, verification: f32) -> (bool, f32) {
    if scores.is_empty() {
        return (false, 0.0);
    }
    let fraction = scores.iter().filter(|&&s| s >= detection).count() as f32 / scores.len() as f32;
    (fraction >= verification, fraction)
}

/// A short fingerprint of a model's weights (FNV-1a over their bits): cached embeddings are only
/// valid for the model that computed them.
pub fn fingerprint(params: &[f32]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in params {
        h ^= v.to_bits() as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod rule_tests {
    use super::*;

    #[test]
    fn verification_rule_counts_images_over_the_detection_threshold() {
        assert_eq!(verify_rule(&[0.9, 0.6, 0.2, 0.1], 0.5, 0.5), (true, 0.5));
        assert_eq!(verify_rule(&[0.9, 0.4, 0.2, 0.1], 0.5, 0.5), (false, 0.25));
        assert_eq!(verify_rule(&[], 0.5, 0.5), (false, 0.0));
    }

    #[test]
    fn fingerprint_changes_with_any_weight() {
        let a = fingerprint(&[0.1, 0.2, 0.3]);
        assert_eq!(a, fingerprint(&[0.1, 0.2, 0.3]));
        assert_ne!(a, fingerprint(&[0.1, 0.2, 0.30001]));
    }
}
