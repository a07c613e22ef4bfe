//! The gallery: enrolled people — each person's enrolment crops (PNG, in the canonical face
//! frame) and their cached embeddings — in a SQLite file (`sqlite`) or a PostgreSQL database
//! shared by several servers (`postgres`). The rules (a name is stored in NFC and equal to
//! another but for case is that person; embeddings of one model only; every write all or
//! nothing; the messages that say so) are written once here, in `Store`, over `Backend`, which
//! only runs statements. Because the crops are kept, a gallery follows a model upgrade by
//! re-embedding them (`Store::reembed`), without asking anyone to re-enrol.
pub mod archive;
mod check;
pub mod location;
mod matrix;
pub mod name;
pub mod postgres;
mod sqlite;
pub mod stored;

use std::path::Path;
use std::sync::Arc;

pub use check::{check_file, FileCheck, Finding};
pub use location::Location;
pub use matrix::{fingerprint, identify, verify_rule, Match, Matrix, Scorer};
pub use sqlite::{Check, Gallery, BUSY_WAIT};

use crate::error::{Error, Result};

/// One enrolment image: its crop as PNG bytes and its embedding.
pub struct Enrolment {
    pub crop_png: Vec<u8>,
    pub embedding: Vec<f32>,
}

fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_blob(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// What a write changed, for the copies of the embeddings other servers hold (`postgres` logs
/// it; a file's readers see SQLite's own count of commits).
pub enum Change {
    /// New images of the named person (a new person, or images added).
    Enrolled(String),
    Forgotten(String),
    /// The person now named so.
    Renamed(String),
    Reembedded,
}

/// The statements of one write transaction, on whichever database holds the gallery.
pub trait Tx {
    /// What errors name: the file, or the database URL without its password.
    fn shown(&self) -> &Path;
    /// The model the stored embeddings were computed with (its fingerprint), if any.
    fn model(&mut self) -> Result<Option<String>>;
    fn set_model(&mut self, model: &str) -> Result<()>;
    /// Every person: (id, name as stored).
    fn names(&mut self) -> Result<Vec<(i64, String)>>;
    /// A new person; returns their id.
    fn add_person(&mut self, name: &str) -> Result<i64>;
    fn add_image(&mut self, person: i64, crop_png: &[u8], embedding: &[u8]) -> Result<()>;
    fn rename(&mut self, person: i64, name: &str) -> Result<()>;
    /// The person and all their images.
    fn delete(&mut self, person: i64) -> Result<()>;
    fn set_embedding(&mut self, image: i64, embedding: &[u8]) -> Result<()>;
}

/// A database that holds a gallery: it runs statements and keeps the embeddings in memory while
/// they have not changed; the rules are `Store`'s.
pub trait Backend: Send {
    /// What errors name: the file, or the database URL without its password.
    fn shown(&self) -> &Path;
    /// Runs `f` as one write transaction, in turn with every other writer, and commits it; an
    /// error anywhere rolls everything back.
    fn write(&mut self, f: &mut dyn FnMut(&mut dyn Tx) -> Result<Change>) -> Result<()>;
    fn model(&mut self) -> Result<Option<String>>;
    /// (name, number of enrolment images), by name.
    fn people(&mut self) -> Result<Vec<(String, usize)>>;
    /// Every person: (id, name as stored).
    fn names(&mut self) -> Result<Vec<(i64, String)>>;
    /// All embeddings, as of the latest write of anyone.
    fn matrix(&mut self) -> Result<Arc<Matrix>>;
    /// The enrolment crops (PNG) of every image, with their row ids.
    fn crops(&mut self) -> Result<Vec<(i64, Vec<u8>)>>;
    /// Every image's row id, in order.
    fn image_ids(&mut self) -> Result<Vec<i64>>;
    /// Image `id`'s person, its crop's length in bytes, and at most `max_bytes` of the crop.
    fn crop(&mut self, id: i64, max_bytes: usize) -> Result<(String, i64, Vec<u8>)>;
    /// Every image's row id, in order, with its embedding when that is `bytes` long.
    fn embeddings_of(&mut self, bytes: usize) -> Result<Vec<(i64, Option<Vec<u8>>)>>;
}

/// The stored person whose name is `name` as names are compared (NFC, any case): (id, name).
fn find(names: Vec<(i64, String)>, name: &str) -> Option<(i64, String)> {
    let key = name::key(name);
    names.into_iter().find(|(_, stored)| name::key(stored) == key)
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

fn not_enrolled(name: &str) -> Error {
    Error::not_found(format!("name `{name}`"), "is not enrolled")
}

/// A gallery wherever it lives, and its rules. The face service sees only this.
pub struct Store {
    db: Box<dyn Backend>,
}

impl From<Gallery> for Store {
    fn from(g: Gallery) -> Store {
        Store { db: Box::new(g) }
    }
}

impl Store {
    /// Opens the gallery at `at`; a file is checked (SQLite's quick check) before use.
    pub fn open(at: &Location) -> Result<Store> {
        let db: Box<dyn Backend> = match at {
            Location::File(p) => Box::new(Gallery::open(p)?),
            Location::Postgres(url) => Box::new(postgres::PgGallery::open(url)?),
        };
        Ok(Store { db })
    }

    /// Runs `f` as one write of the backend and returns what it returns.
    fn write<T>(&mut self, f: impl FnOnce(&mut dyn Tx) -> Result<(T, Change)>) -> Result<T> {
        let (mut f, mut out) = (Some(f), None);
        self.db.write(&mut |tx| {
            let (t, change) = f.take().expect("a write runs its statements once")(tx)?;
            out = Some(t);
            Ok(change)
        })?;
        Ok(out.expect("a committed write ran its statements"))
    }

    /// The model the cached embeddings were computed with (its fingerprint), if any.
    pub fn model(&mut self) -> Result<Option<String>> {
        self.db.model()
    }

    /// Enrols a new person, or with `add` adds images to an existing one. All or nothing. The
    /// name is stored in NFC; a name equal to a stored one but for case or normalisation is that
    /// person. Returns the name as stored.
    pub fn enroll(&mut self, name: &str, items: &[Enrolment], model: &str, add: bool) -> Result<String> {
        let name = name::canonical(name)?;
        if items.is_empty() {
            return Err(Error::input("photo", "enrolment needs at least one photo"));
        }
        self.write(|tx| {
            if let Some(m) = tx.model()?.filter(|m| m != model) {
                return Err(Error::database(tx.shown(), format!("embeddings were computed by model {m}; re-embed the gallery for model {model} first")));
            }
            let (id, stored) = match (find(tx.names()?, &name), add) {
                (Some((_, s)), false) => return Err(Error::conflict(format!("name `{s}`"), "is already enrolled (to add images to them: --add, or add=true over the API)")),
                (None, true) => return Err(not_enrolled(&name)),
                (Some(found), true) => found,
                (None, false) => (tx.add_person(&name)?, name),
            };
            for it in items {
                tx.add_image(id, &it.crop_png, &to_blob(&it.embedding))?;
            }
            tx.set_model(model)?;
            Ok((stored.clone(), Change::Enrolled(stored)))
        })
    }

    /// (name, number of enrolment images), by name.
    pub fn people(&mut self) -> Result<Vec<(String, usize)>> {
        self.db.people()
    }

    /// The stored form of `name`, if that person is enrolled.
    pub fn lookup(&mut self, name: &str) -> Result<Option<String>> {
        Ok(find(self.db.names()?, name).map(|(_, s)| s))
    }

    /// Renames a person; `new` may differ from `old` only by case. Returns (old, new) as stored.
    pub fn rename(&mut self, old: &str, new: &str) -> Result<(String, String)> {
        let new = name::canonical(new)?;
        self.write(|tx| {
            let names = tx.names()?;
            let (id, was) = find(names.clone(), old).ok_or_else(|| not_enrolled(old))?;
            if let Some((other, s)) = find(names, &new) {
                if other != id {
                    return Err(Error::conflict(format!("name `{s}`"), "is already enrolled"));
                }
            }
            tx.rename(id, &new)?;
            Ok(((was, new.clone()), Change::Renamed(new)))
        })
    }

    /// Deletes the person and everything stored for them; returns the name as it was stored.
    pub fn forget(&mut self, name: &str) -> Result<String> {
        self.write(|tx| {
            let (id, stored) = find(tx.names()?, name).ok_or_else(|| not_enrolled(name))?;
            tx.delete(id)?;
            Ok((stored.clone(), Change::Forgotten(stored)))
        })
    }

    /// All cached embeddings, for identification, read again only when someone has written.
    pub fn matrix(&mut self) -> Result<Arc<Matrix>> {
        self.db.matrix()
    }

    /// The enrolment crops (PNG) of every image, with their row ids, to re-embed them.
    pub fn crops(&mut self) -> Result<Vec<(i64, Vec<u8>)>> {
        self.db.crops()
    }

    /// Every image's row id, in order.
    pub fn image_ids(&mut self) -> Result<Vec<i64>> {
        self.db.image_ids()
    }

    /// The stored crop of image `id`, decoded as an upload is (`stored::crop`), reading no more
    /// of it than a crop may hold; else an error naming the image, its person and what to do.
    pub fn crop(&mut self, id: i64) -> Result<image::RgbImage> {
        let (name, len, png) = self.db.crop(id, stored::MAX_CROP_BYTES + 1)?;
        let why = if len as usize > stored::MAX_CROP_BYTES { Err(format!("{len} bytes; a stored crop is at most {}", stored::MAX_CROP_BYTES)) } else { stored::crop(&png) };
        why.map_err(|why| bad_image(self.db.shown(), id, &name, &format!("the stored crop: {why}")))
    }

    /// The images whose embedding a model of `dim`-value embeddings cannot have made: another
    /// length, or a value that is not a finite number.
    pub fn unusable(&mut self, dim: usize) -> Result<Vec<i64>> {
        let rows = self.db.embeddings_of(4 * dim)?;
        Ok(rows.into_iter().filter(|(_, blob)| blob.as_ref().is_none_or(|b| stored::embedding(b, Some(dim)).is_err())).map(|(id, _)| id).collect())
    }

    /// Replaces every cached embedding (one transaction) and records the model.
    pub fn reembed(&mut self, embeddings: &[(i64, Vec<f32>)], model: &str) -> Result<()> {
        self.write(|tx| {
            for (id, e) in embeddings {
                tx.set_embedding(*id, &to_blob(e))?;
            }
            tx.set_model(model)?;
            Ok(((), Change::Reembedded))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn gallery(tag: &str) -> (PathBuf, Store) {
        let path = std::env::temp_dir().join(format!("siamface-gallery-unit-{}-{tag}.sqlite", std::process::id()));
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
        }
        let g = Store::from(Gallery::open(&path).unwrap());
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
        Store::from(Gallery::open(&path).unwrap()).forget("Ada").unwrap();
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
