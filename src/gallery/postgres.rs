//! The gallery in PostgreSQL, for several servers sharing one set of people (cameras at several
//! doors, a service that outlives one machine). The contract is the SQLite file's: every write
//! is one transaction, so a server killed mid-enrolment leaves the old state or the whole new
//! one; writes take their turn through a transaction-scoped advisory lock, so two servers
//! enrolling "Ann" and "ANN" at once cannot both succeed. Each server keeps the embeddings in
//! memory and checks the one-row `version` table, bumped by every write, before using them: a
//! person enrolled through one server is known to the very next identification on any other,
//! with no notification that a dropped connection could lose. What changed is read from a short
//! change log (enrolled or forgotten names), so catching up costs the new rows, not a re-read of
//! a million embeddings; renames, re-embeddings and a log that has moved on too far re-read all.
//! A lost database makes calls fail as `Error::Unavailable` (HTTP 503); the next call reconnects
//! by itself.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use postgres::{Client, IsolationLevel, NoTls, Transaction};

use super::{location, matrix_from_rows, stored, Backend, Change, Matrix, Tx};
use crate::error::{Error, Result};

/// Key of the advisory lock every write (and every schema migration) holds while it runs.
const WRITE_LOCK: i64 = 0x5349_414d_4641_4345;

/// How long opening a connection may take before the database counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema, one step per version; a database is brought to the last one on open, and one set
/// up by a newer program (more steps than these) is refused rather than written.
const MIGRATIONS: &[&str] = &["CREATE TABLE siamface_people (
         id bigserial PRIMARY KEY,
         name text NOT NULL UNIQUE,
         created timestamptz NOT NULL DEFAULT now()
     );
     CREATE TABLE siamface_images (
         id bigserial PRIMARY KEY,
         person bigint NOT NULL REFERENCES siamface_people(id) ON DELETE CASCADE,
         crop bytea NOT NULL,
         embedding bytea NOT NULL
     );
     CREATE INDEX siamface_images_person ON siamface_images(person);
     CREATE TABLE siamface_meta (key text PRIMARY KEY, value text NOT NULL);
     CREATE TABLE siamface_version (id integer PRIMARY KEY CHECK (id = 1), version bigint NOT NULL);
     INSERT INTO siamface_version VALUES (1, 0);",
    // 2: what each version changed, so other servers catch up by reading only that.
    "CREATE TABLE siamface_changes (version bigint PRIMARY KEY, kind text NOT NULL, name text NOT NULL);"];

/// Change-log entries kept; a server further behind re-reads everything.
const KEPT_CHANGES: i64 = 10_000;

/// A change as the log holds it: its kind and the name it concerns. Readers re-read everything
/// after an `other` (a rename, a re-embedding).
fn logged(change: &Change) -> (&'static str, &str) {
    match change {
        Change::Enrolled(name) => ("enrolled", name),
        Change::Forgotten(name) => ("forgotten", name),
        Change::Renamed(name) => ("other", name),
        Change::Reembedded => ("other", ""),
    }
}

/// The embeddings in memory: the matrix, the image id of each row, and the version read.
#[derive(Clone)]
struct Cached {
    version: i64,
    matrix: Arc<Matrix>,
    ids: Vec<i64>,
}

pub struct PgGallery {
    url: String,
    /// The URL without its password, for messages.
    shown: PathBuf,
    client: Option<Client>,
    cache: Option<Cached>,
}

/// A PostgreSQL error as the library's: the connection's loss or refusal is `Unavailable`,
/// anything the server answered is a database error naming the database.
fn pg_err(shown: &Path, e: postgres::Error) -> Error {
    let code = e.code().map(|c| c.code().to_string());
    let lost = e.is_closed()
        || match &code {
            // Connection exceptions, and a server shutting down or starting up.
            Some(c) => c.starts_with("08") || matches!(c.as_str(), "57P01" | "57P02" | "57P03"),
            None => e.as_db_error().is_none(),
        };
    let reason = match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    };
    if lost {
        Error::Unavailable { what: shown.display().to_string(), reason }
    } else {
        Error::database(shown, reason)
    }
}

/// A write transaction, and the database URL (without its password) its errors name.
struct PgTx<'a, 'b> {
    tx: &'a mut Transaction<'b>,
    shown: &'a Path,
}

impl Tx for PgTx<'_, '_> {
    fn shown(&self) -> &Path {
        self.shown
    }

    fn model(&mut self) -> Result<Option<String>> {
        let row = self.tx.query_opt("SELECT value FROM siamface_meta WHERE key = 'model'", &[]).map_err(|e| pg_err(self.shown, e))?;
        Ok(row.map(|r| r.get(0)))
    }

    fn set_model(&mut self, model: &str) -> Result<()> {
        self.tx
            .execute("INSERT INTO siamface_meta (key, value) VALUES ('model', $1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", &[&model])
            .map_err(|e| pg_err(self.shown, e))?;
        Ok(())
    }

    fn names(&mut self) -> Result<Vec<(i64, String)>> {
        let rows = self.tx.query("SELECT id, name FROM siamface_people", &[]).map_err(|e| pg_err(self.shown, e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn add_person(&mut self, name: &str) -> Result<i64> {
        Ok(self.tx.query_one("INSERT INTO siamface_people (name) VALUES ($1) RETURNING id", &[&name]).map_err(|e| pg_err(self.shown, e))?.get(0))
    }

    fn add_image(&mut self, person: i64, crop_png: &[u8], embedding: &[u8]) -> Result<()> {
        self.tx
            .execute("INSERT INTO siamface_images (person, crop, embedding) VALUES ($1, $2, $3)", &[&person, &crop_png, &embedding])
            .map_err(|e| pg_err(self.shown, e))?;
        Ok(())
    }

    fn rename(&mut self, person: i64, name: &str) -> Result<()> {
        self.tx.execute("UPDATE siamface_people SET name = $2 WHERE id = $1", &[&person, &name]).map_err(|e| pg_err(self.shown, e))?;
        Ok(())
    }

    fn delete(&mut self, person: i64) -> Result<()> {
        self.tx.execute("DELETE FROM siamface_people WHERE id = $1", &[&person]).map_err(|e| pg_err(self.shown, e))?;
        Ok(())
    }

    fn set_embedding(&mut self, image: i64, embedding: &[u8]) -> Result<()> {
        self.tx.execute("UPDATE siamface_images SET embedding = $2 WHERE id = $1", &[&image, &embedding]).map_err(|e| pg_err(self.shown, e))?;
        Ok(())
    }
}

fn migrate(c: &mut Client, shown: &Path) -> Result<()> {
    let err = |e| pg_err(shown, e);
    let mut tx = c.transaction().map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]).map_err(err)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS siamface_schema (version integer NOT NULL)").map_err(err)?;
    let at: Option<i32> = tx.query_opt("SELECT version FROM siamface_schema", &[]).map_err(err)?.map(|r| r.get(0));
    let at = at.unwrap_or(0) as usize;
    if at > MIGRATIONS.len() {
        return Err(Error::database(
            shown,
            format!("the database holds gallery schema {at}, made by a newer siamface; this one knows up to {}", MIGRATIONS.len()),
        ));
    }
    for step in &MIGRATIONS[at..] {
        tx.batch_execute(step).map_err(err)?;
    }
    if at < MIGRATIONS.len() {
        tx.execute("DELETE FROM siamface_schema", &[]).map_err(err)?;
        tx.execute("INSERT INTO siamface_schema VALUES ($1)", &[&(MIGRATIONS.len() as i32)]).map_err(err)?;
    }
    tx.commit().map_err(err)
}

impl PgGallery {
    /// Connects, and creates or migrates the schema. An unreachable database is `Unavailable`.
    pub fn open(url: &str) -> Result<PgGallery> {
        let shown = PathBuf::from(location::redact(url));
        // A malformed URL is the user's to fix, before any connection is tried.
        url.parse::<postgres::Config>().map_err(|e| Error::input("gallery", format!("{}: {e}", shown.display())))?;
        let mut g = PgGallery { url: url.to_string(), shown, client: None, cache: None };
        g.client()?;
        Ok(g)
    }

    /// The connection, opened again if the last one was lost.
    fn client(&mut self) -> Result<&mut Client> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            self.client = None;
            let mut cfg: postgres::Config = self.url.parse().map_err(|e| Error::input("gallery", format!("{}: {e}", self.shown.display())))?;
            cfg.connect_timeout(CONNECT_TIMEOUT);
            if cfg.get_application_name().is_none() {
                cfg.application_name("siamface");
            }
            let mut c = cfg.connect(NoTls).map_err(|e| pg_err(&self.shown, e))?;
            migrate(&mut c, &self.shown)?;
            self.client = Some(c);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }
}

impl Backend for PgGallery {
    fn shown(&self) -> &Path {
        &self.shown
    }

    /// Also bumps the version other servers watch and logs what `f` says it changed.
    fn write(&mut self, f: &mut dyn FnMut(&mut dyn Tx) -> Result<Change>) -> Result<()> {
        let shown = self.shown.clone();
        let err = |e| pg_err(&shown, e);
        let c = self.client()?;
        let mut tx = c.transaction().map_err(err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]).map_err(err)?;
        let change = f(&mut PgTx { tx: &mut tx, shown: &shown })?;
        let (kind, name) = logged(&change);
        let v: i64 = tx.query_one("UPDATE siamface_version SET version = version + 1 WHERE id = 1 RETURNING version", &[]).map_err(err)?.get(0);
        tx.execute("INSERT INTO siamface_changes (version, kind, name) VALUES ($1, $2, $3)", &[&v, &kind, &name]).map_err(err)?;
        tx.execute("DELETE FROM siamface_changes WHERE version <= $1", &[&(v - KEPT_CHANGES)]).map_err(err)?;
        tx.commit().map_err(err)
    }

    fn model(&mut self) -> Result<Option<String>> {
        let shown = self.shown.clone();
        let row = self.client()?.query_opt("SELECT value FROM siamface_meta WHERE key = 'model'", &[]).map_err(|e| pg_err(&shown, e))?;
        Ok(row.map(|r| r.get(0)))
    }

    fn people(&mut self) -> Result<Vec<(String, usize)>> {
        let shown = self.shown.clone();
        let rows = self
            .client()?
            .query(
                "SELECT p.name, COUNT(i.id) FROM siamface_people p LEFT JOIN siamface_images i ON i.person = p.id
                 GROUP BY p.id, p.name ORDER BY p.name COLLATE \"C\"",
                &[],
            )
            .map_err(|e| pg_err(&shown, e))?;
        Ok(rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as usize)).collect())
    }

    fn names(&mut self) -> Result<Vec<(i64, String)>> {
        let shown = self.shown.clone();
        let rows = self.client()?.query("SELECT id, name FROM siamface_people", &[]).map_err(|e| pg_err(&shown, e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The copy in memory when the version has not moved, else brought up to date from the
    /// change log, else read whole.
    fn matrix(&mut self) -> Result<Arc<Matrix>> {
        let shown = self.shown.clone();
        let err = |e| pg_err(&shown, e);
        let cached = self.cache.take();
        let c = self.client()?;
        let version: i64 = c.query_one("SELECT version FROM siamface_version WHERE id = 1", &[]).map_err(err)?.get(0);
        if let Some(k) = cached.as_ref().filter(|k| k.version == version) {
            let m = k.matrix.clone();
            self.cache = cached;
            return Ok(m);
        }
        // The version, the changes and the rows from one snapshot.
        let mut tx = c.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().map_err(err)?;
        let version: i64 = tx.query_one("SELECT version FROM siamface_version WHERE id = 1", &[]).map_err(err)?.get(0);
        let fresh = match cached {
            Some(k) => catch_up(&mut tx, &shown, k, version)?,
            None => None,
        };
        let fresh = match fresh {
            Some(f) => f,
            None => {
                let rows = tx
                    .query(
                        "SELECT p.name, i.id, substring(i.embedding from 1 for $1) FROM siamface_images i JOIN siamface_people p ON p.id = i.person
                         ORDER BY p.name COLLATE \"C\", i.id",
                        &[&(4 * stored::MAX_DIM as i32 + 4)],
                    )
                    .map_err(err)?;
                let ids = rows.iter().map(|r| r.get::<_, i64>(1)).collect();
                let matrix = Arc::new(matrix_from_rows(rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, Vec<u8>>(2))), &shown)?);
                Cached { version, matrix, ids }
            }
        };
        tx.commit().map_err(err)?;
        let m = fresh.matrix.clone();
        self.cache = Some(fresh);
        Ok(m)
    }

    fn crops(&mut self) -> Result<Vec<(i64, Vec<u8>)>> {
        let shown = self.shown.clone();
        let rows = self.client()?.query("SELECT id, crop FROM siamface_images ORDER BY id", &[]).map_err(|e| pg_err(&shown, e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn image_ids(&mut self) -> Result<Vec<i64>> {
        let shown = self.shown.clone();
        let rows = self.client()?.query("SELECT id FROM siamface_images ORDER BY id", &[]).map_err(|e| pg_err(&shown, e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn crop(&mut self, id: i64, max_bytes: usize) -> Result<(String, i64, Vec<u8>)> {
        let shown = self.shown.clone();
        let row = self
            .client()?
            .query_one(
                "SELECT p.name, octet_length(i.crop), substring(i.crop from 1 for $2) FROM siamface_images i
                 JOIN siamface_people p ON p.id = i.person WHERE i.id = $1",
                &[&id, &(max_bytes as i32)],
            )
            .map_err(|e| pg_err(&shown, e))?;
        Ok((row.get(0), row.get::<_, i32>(1).into(), row.get(2)))
    }

    fn embeddings_of(&mut self, bytes: usize) -> Result<Vec<(i64, Option<Vec<u8>>)>> {
        let shown = self.shown.clone();
        let rows = self
            .client()?
            .query("SELECT id, CASE WHEN octet_length(embedding) = $1 THEN embedding END FROM siamface_images ORDER BY id", &[&(bytes as i32)])
            .map_err(|e| pg_err(&shown, e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

/// Where a row of the caught-up matrix comes from: the held copy's row, or a row just read.
enum Row {
    Held(usize),
    New(usize),
}

/// The copy `k` brought to `version` from the change log: forgotten names' rows dropped, enrolled
/// names' new rows read and merged in name order (bytewise, as `COLLATE "C"` sorts). `None` when
/// the log cannot say (a rename or re-embedding, or entries already pruned): read everything.
fn catch_up(tx: &mut Transaction, shown: &Path, k: Cached, version: i64) -> Result<Option<Cached>> {
    let err = |e| pg_err(shown, e);
    let log = tx.query("SELECT kind, name FROM siamface_changes WHERE version > $1 AND version <= $2 ORDER BY version", &[&k.version, &version]).map_err(err)?;
    if log.len() as i64 != version - k.version {
        return Ok(None);
    }
    let mut gone = std::collections::HashSet::new();
    let mut added = std::collections::HashSet::new();
    for r in &log {
        let (kind, name): (String, String) = (r.get(0), r.get(1));
        match kind.as_str() {
            "enrolled" => {
                added.insert(name);
            }
            "forgotten" => {
                added.remove(&name);
                gone.insert(name);
            }
            _ => return Ok(None),
        }
    }
    // Rows of enrolled names newer than any row held (ids only grow); a name forgotten and then
    // enrolled again is read whole.
    let newest = k.ids.iter().copied().max().unwrap_or(0);
    let names: Vec<String> = added.iter().cloned().collect();
    let again: Vec<String> = names.iter().filter(|n| gone.contains(*n)).cloned().collect();
    let rows = tx
        .query(
            "SELECT p.name, i.id, substring(i.embedding from 1 for $4) FROM siamface_images i JOIN siamface_people p ON p.id = i.person
             WHERE p.name = ANY($1) AND (i.id > $2 OR p.name = ANY($3))",
            &[&names, &newest, &again, &(4 * stored::MAX_DIM as i32 + 4)],
        )
        .map_err(err)?;
    let m = &k.matrix;
    let mut new: Vec<(String, i64, Vec<f32>)> = Vec::with_capacity(rows.len());
    for r in &rows {
        let (name, blob): (String, Vec<u8>) = (r.get(0), r.get(2));
        let d = if m.dim > 0 { Some(m.dim) } else { new.first().map(|r| r.2.len()) };
        let e = stored::embedding(&blob, d).map_err(|why| Error::database(shown, format!("an image of {name}: {why}")))?;
        new.push((name, r.get(1), e));
    }
    let d = if m.dim > 0 { m.dim } else { new.first().map_or(0, |r| r.2.len()) };
    // (name, id, where the row is: held row i, or new row i), in the order a full read gives.
    let mut order: Vec<(&str, i64, Row)> = Vec::with_capacity(m.owner.len() + new.len());
    for (i, (&o, &id)) in m.owner.iter().zip(&k.ids).enumerate() {
        if !gone.contains(&m.names[o]) {
            order.push((&m.names[o], id, Row::Held(i)));
        }
    }
    order.extend(new.iter().enumerate().map(|(i, (n, id, _))| (n.as_str(), *id, Row::New(i))));
    order.sort_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(&b.1)));
    let mut matrix = Matrix { names: Vec::new(), owner: Vec::with_capacity(order.len()), rows: Vec::with_capacity(order.len() * d), dim: d };
    let mut ids = Vec::with_capacity(order.len());
    for (name, id, at) in order {
        if matrix.names.last().map(String::as_str) != Some(name) {
            matrix.names.push(name.to_string());
        }
        matrix.owner.push(matrix.names.len() - 1);
        ids.push(id);
        match at {
            Row::Held(i) => matrix.rows.extend_from_slice(&m.rows[i * d..(i + 1) * d]),
            Row::New(i) => matrix.rows.extend_from_slice(&new[i].2),
        }
    }
    if matrix.owner.is_empty() {
        matrix.dim = 0;
    }
    Ok(Some(Cached { version, matrix: Arc::new(matrix), ids }))
}
