//! A gallery outside SQLite, and back: `export` writes every readable person to a folder
//! (`gallery.json` with names, embeddings and the model they came from, and each enrolment crop
//! as a PNG file), `import` enrols such a folder into a gallery in one transaction, and `repair`
//! does both to rebuild a damaged file from what can still be read, keeping the damaged file
//! beside the new one. The folder is a backup a person can read and copy; nothing in it depends on
//! SQLite.
use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::sqlite::db_err;
use super::{find, name, stored, to_blob, Check, Gallery, Tx};
use crate::error::{Error, Result};

/// The file in an export folder that lists its people.
pub const INDEX: &str = "gallery.json";
const FORMAT: &str = "siamface-gallery-1";

#[derive(Serialize, Deserialize)]
struct Index {
    format: String,
    /// Fingerprint of the model that computed the embeddings.
    model: Option<String>,
    people: Vec<Person>,
}

#[derive(Serialize, Deserialize)]
struct Person {
    name: String,
    images: Vec<Image>,
}

#[derive(Serialize, Deserialize)]
struct Image {
    /// The crop's file, relative to the folder.
    crop: String,
    embedding: Vec<f32>,
}

/// What an export, import or repair carried over, and what it could not read.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub people: usize,
    pub images: usize,
    /// One line per person or image left behind, saying why.
    pub unreadable: Vec<String>,
}

/// Writes every readable person and image of `g` into `dir` (created; it must not already hold
/// an export). Rows that SQLite cannot read, and images the program could not use (a crop or
/// embedding that breaks `stored`'s rules), are listed in the report and skipped.
pub fn export(g: &Gallery, dir: &Path) -> Result<Report> {
    let index_path = dir.join(INDEX);
    if index_path.exists() {
        return Err(Error::conflict(index_path.display().to_string(), "already exists; export into a new folder"));
    }
    let crops = dir.join("crops");
    std::fs::create_dir_all(&crops).map_err(|e| Error::io(&crops, e))?;
    let db = |e| db_err(g.path(), e);
    let people: Vec<(i64, String)> = {
        let mut st = g.conn.prepare("SELECT id, name FROM people ORDER BY name").map_err(db)?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db)?;
        rows.collect::<std::result::Result<_, _>>().map_err(db)?
    };
    let mut report = Report::default();
    let mut index = Index { format: FORMAT.into(), model: g.model().ok().flatten(), people: Vec::new() };
    let mut by_person: std::collections::HashMap<i64, Vec<Image>> = std::collections::HashMap::new();
    let dim = g.common_dim().ok().flatten();
    for id in image_ids(g, &mut report) {
        // No more of a blob than the longest one allowed, and a byte over to show it.
        let row: rusqlite::Result<(i64, Vec<u8>, Vec<u8>)> = g.conn.query_row(
            "SELECT person, substr(crop, 1, ?2), substr(embedding, 1, ?3) FROM images WHERE id = ?1",
            params![id, stored::MAX_CROP_BYTES as i64 + 1, 4 * stored::MAX_DIM as i64 + 4],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        );
        let (person, png, emb) = match row {
            Ok(r) => r,
            Err(rusqlite::Error::QueryReturnedNoRows) => continue,
            Err(e) => {
                report.unreadable.push(format!("image {id}: {e}"));
                continue;
            }
        };
        if let Err(why) = stored::crop(&png) {
            report.unreadable.push(format!("image {id}: the stored crop: {why}"));
            continue;
        }
        let embedding = match stored::embedding(&emb, dim) {
            Ok(e) => e,
            Err(why) => {
                report.unreadable.push(format!("image {id}: {why}"));
                continue;
            }
        };
        let file = format!("crops/{id:06}.png");
        let path = dir.join(&file);
        std::fs::write(&path, &png).map_err(|e| Error::io(&path, e))?;
        by_person.entry(person).or_default().push(Image { crop: file, embedding });
    }
    for (pid, pname) in people {
        let Some(images) = by_person.remove(&pid) else {
            report.unreadable.push(format!("{pname}: no readable image; left out"));
            continue;
        };
        report.people += 1;
        report.images += images.len();
        index.people.push(Person { name: pname, images });
    }
    let text = serde_json::to_string_pretty(&index).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(&index_path, text).map_err(|e| Error::io(&index_path, e))?;
    Ok(report)
}

/// The row ids of every image: from a scan of the table, or where the scan stops at a damaged
/// page, every id up to the largest one SQLite can still find (a lookup by id reads only the
/// pages on its own path, so rows on whole pages are still found).
fn image_ids(g: &Gallery, report: &mut Report) -> Vec<i64> {
    let scan = g.conn.prepare("SELECT id FROM images ORDER BY id").and_then(|mut st| st.query_map([], |r| r.get(0))?.collect());
    match scan {
        Ok(ids) => ids,
        Err(e) => {
            let pages: i64 = g.conn.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap_or(0);
            let last: i64 = g.conn.query_row("SELECT MAX(id) FROM images", [], |r| r.get(0)).unwrap_or(8 * pages + 1000);
            report.unreadable.push(format!("the list of images: {e}; looked up ids 1 to {last} one by one"));
            (1..=last).collect()
        }
    }
}

/// The crop file `rel` of the folder `root` (canonical), at most `stored::MAX_CROP_BYTES` read:
/// refused when it is not a plain file inside the folder, through `..` or a symbolic link.
fn crop_file(root: &Path, rel: &str, index_path: &Path) -> Result<(PathBuf, Vec<u8>)> {
    use std::io::Read;
    let outside = || Error::data(index_path, None, format!("crop `{rel}`: not a file inside the folder"));
    if rel.contains("..") || Path::new(rel).is_absolute() {
        return Err(outside());
    }
    let given = root.join(rel);
    let real = given.canonicalize().map_err(|e| Error::io(&given, e))?;
    if !real.starts_with(root) || !real.is_file() {
        return Err(outside());
    }
    let mut png = Vec::new();
    let file = std::fs::File::open(&real).map_err(|e| Error::io(&given, e))?;
    file.take(stored::MAX_CROP_BYTES as u64 + 1).read_to_end(&mut png).map_err(|e| Error::io(&given, e))?;
    Ok((given, png))
}

/// Enrols every person of an export folder into `g`, all in one transaction: a name already in
/// the gallery, a missing crop, a crop or embedding the program could not use (`stored`: a PNG
/// of the canonical frame's size, decoded under an upload's limits; finite values, as many for
/// every image and as the gallery's own), or embeddings of another model import nothing. The
/// error names the file or the person and image.
pub fn import(g: &mut Gallery, dir: &Path) -> Result<Report> {
    let index_path = dir.join(INDEX);
    let text = std::fs::read_to_string(&index_path).map_err(|e| Error::io(&index_path, e))?;
    let index: Index = serde_json::from_str(&text).map_err(|e| Error::data(&index_path, Some(e.line()), e.to_string()))?;
    if index.format != FORMAT {
        return Err(Error::data(&index_path, None, format!("format `{}`: expected `{FORMAT}`", index.format)));
    }
    let root = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    let mut people = Vec::new();
    let mut dim: Option<usize> = None;
    for p in &index.people {
        let stored = name::canonical(&p.name).map_err(|e| Error::data(&index_path, None, e.to_string()))?;
        let mut images = Vec::new();
        for (k, im) in p.images.iter().enumerate() {
            let (path, png) = crop_file(&root, &im.crop, &index_path)?;
            stored::crop(&png).map_err(|why| Error::data(&path, None, format!("not a crop this program stores: {why}")))?;
            stored::values(&im.embedding, dim).map_err(|why| Error::data(&index_path, None, format!("`{}`, image {} (`{}`): {why}", p.name, k + 1, im.crop)))?;
            dim = Some(im.embedding.len());
            images.push((png, to_blob(&im.embedding)));
        }
        people.push((stored, images));
    }
    g.transaction(|tx| {
        let stored_model = tx.model()?;
        let has_images: i64 = tx.tx.query_row("SELECT COUNT(*) FROM images", [], |r| r.get(0)).map_err(|e| tx.err(e))?;
        let have_bytes: Option<i64> = tx.tx.query_row("SELECT length(embedding) FROM images LIMIT 1", [], |r| r.get(0)).optional().map_err(|e| tx.err(e))?;
        if let (Some(have), Some(want)) = (have_bytes, dim) {
            if have != 4 * want as i64 {
                return Err(Error::conflict(
                    index_path.display().to_string(),
                    format!("its embeddings have {want} values, the gallery's {}; import into an empty gallery", have / 4),
                ));
            }
        }
        if let (Some(have), Some(want), true) = (&stored_model, &index.model, has_images > 0) {
            if have != want {
                return Err(Error::conflict(
                    index_path.display().to_string(),
                    format!("its embeddings come from model {want}, the gallery's from {have}; import into an empty gallery"),
                ));
            }
        }
        let mut report = Report::default();
        for (pname, images) in &people {
            if let Some((_, s)) = find(tx.names()?, pname) {
                return Err(Error::conflict(format!("name `{s}`"), "is already enrolled; nothing was imported"));
            }
            let id = tx.add_person(pname)?;
            for (png, emb) in images {
                tx.add_image(id, png, emb)?;
            }
            report.people += 1;
            report.images += images.len();
        }
        if let Some(m) = &index.model {
            tx.set_model(m)?;
        }
        Ok(report)
    })
}

/// Looking after a gallery file besides checking it (`siamface gallery repair|export|import`).
pub enum Task {
    /// `repair`: rebuild the file from every readable person.
    Repair,
    /// `export`: copy every readable person into this new folder.
    Export(PathBuf),
    /// `import`: enrol every person of this exported folder.
    Import(PathBuf),
}

/// What a task did: in JSON its `Repaired` or `Report`; as text the counts, and where the
/// people went or where the damaged file was kept.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Done {
    Repaired(Repaired),
    Exported {
        #[serde(flatten)]
        report: Report,
        #[serde(skip)]
        dir: PathBuf,
    },
    Imported(Report),
}

impl Done {
    /// The counts, and the people and images left behind.
    pub fn report(&self) -> &Report {
        match self {
            Done::Repaired(r) => &r.report,
            Done::Exported { report, .. } | Done::Imported(report) => report,
        }
    }
}

impl std::fmt::Display for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let r = self.report();
        match self {
            Done::Repaired(done) => {
                writeln!(f, "rebuilt with {} people, {} images", r.people, r.images)?;
                writeln!(f, "the damaged file is kept as {}", done.damaged.display())
            }
            Done::Exported { dir, .. } => writeln!(f, "exported to {}: {} people, {} images", dir.display(), r.people, r.images),
            Done::Imported(_) => writeln!(f, "imported {} people, {} images", r.people, r.images),
        }
    }
}

/// Does `task` on the gallery file at `path`. An export opens the file unchecked: it is how a
/// damaged file's people are saved.
pub fn perform(path: &Path, task: Task) -> Result<Done> {
    Ok(match task {
        Task::Repair => Done::Repaired(repair(path)?),
        Task::Export(dir) => Done::Exported { report: export(&Gallery::open_with(path, Check::None)?, &dir)?, dir },
        Task::Import(dir) => Done::Imported(import(&mut Gallery::open(path)?, &dir)?),
    })
}

/// What `repair` did: the report of the rebuild, and where the damaged file now is.
#[derive(Debug, Serialize)]
pub struct Repaired {
    pub report: Report,
    pub damaged: PathBuf,
}

/// Rebuilds the gallery at `path` from every readable person: exports them, moves the damaged
/// file (and its `-wal` and `-shm` companions) aside to `PATH.damaged-SECONDS`, and imports them
/// into a new file at `path`. Nothing is deleted.
pub fn repair(path: &Path) -> Result<Repaired> {
    if !path.exists() {
        return Err(Error::not_found(path.display().to_string(), "no gallery file there"));
    }
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let with = |suffix: &str| PathBuf::from(format!("{}{suffix}", path.display()));
    let rescue = with(&format!(".rescue-{stamp}"));
    let exported = {
        let g = Gallery::open_with(path, Check::None)?;
        export(&g, &rescue)?
    };
    let damaged = with(&format!(".damaged-{stamp}"));
    for ext in ["", "-wal", "-shm"] {
        let from = with(ext);
        if from.exists() {
            let to = PathBuf::from(format!("{}{ext}", damaged.display()));
            std::fs::rename(&from, &to).map_err(|e| Error::io(&from, e))?;
        }
    }
    let mut fresh = Gallery::open(path)?;
    let mut report = import(&mut fresh, &rescue)?;
    report.unreadable = exported.unreadable;
    std::fs::remove_dir_all(&rescue).map_err(|e| Error::io(&rescue, e))?;
    Ok(Repaired { report, damaged })
}
