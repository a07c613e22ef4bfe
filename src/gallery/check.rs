//! The images of a gallery file the program could not use, for `gallery check`: SQLite's own
//! check finds pages that do not hold together, not rows that do but hold the wrong thing (a
//! "crop" of 40000000x1 pixels, an embedding of three values or of infinities) — the rows a
//! hand-made export, an edit with `sqlite3` or an older bug could leave. Each row is held to
//! `stored`'s rules and reported with its image id and person.
use rusqlite::types::ValueRef;
use rusqlite::OptionalExtension;
use serde::Serialize;

use super::{stored, Check, Gallery};
use crate::error::Result;

/// One image the program could not use, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub image: i64,
    pub person: String,
    pub problem: String,
}

impl Gallery {
    /// The number of values most embeddings have, if that is a whole number: the gallery's
    /// embedding length, against which the others are held.
    pub(super) fn common_dim(&self) -> Result<Option<usize>> {
        let common: Option<i64> = self
            .conn
            .query_row("SELECT length(embedding) FROM images GROUP BY 1 ORDER BY COUNT(*) DESC, 1 LIMIT 1", [], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(common.filter(|&b| b > 0 && b % 4 == 0).map(|b| b as usize / 4))
    }

    /// Every image whose crop or embedding breaks `stored`'s rules. `Quick` reads each crop's
    /// header, `Full` also decodes it; the embeddings' length is the one most of them have. No
    /// more of a blob is read than the longest one allowed.
    pub fn problems(&self, check: Check) -> Result<Vec<Finding>> {
        if check == Check::None {
            return Ok(Vec::new());
        }
        let have: i64 = self.conn.query_row("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('images', 'people')", [], |r| r.get(0)).map_err(|e| self.err(e))?;
        if have < 2 {
            return Ok(Vec::new());
        }
        let dim = self.common_dim()?;
        let mut st = self
            .conn
            .prepare(
                "SELECT i.id, p.name, length(i.crop), substr(i.crop, 1, ?1), substr(i.embedding, 1, ?2)
                 FROM images i JOIN people p ON p.id = i.person ORDER BY i.id",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = st.query([stored::MAX_CROP_BYTES as i64 + 1, 4 * stored::MAX_DIM as i64 + 4]).map_err(|e| self.err(e))?;
        let mut found = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let (image, person, len): (i64, String, i64) = (r.get(0).map_err(|e| self.err(e))?, r.get(1).map_err(|e| self.err(e))?, r.get(2).unwrap_or(0));
            let mut report = |problem: String| found.push(Finding { image, person: person.clone(), problem });
            let crop = match bytes(r.get_ref(3).map_err(|e| self.err(e))?) {
                None => Err("the crop is missing".to_string()),
                Some(_) if len as usize > stored::MAX_CROP_BYTES => Err(format!("{len} bytes; a stored crop is at most {}", stored::MAX_CROP_BYTES)),
                Some(png) if check == Check::Full => stored::crop(png).map(drop),
                Some(png) => stored::crop_header(png),
            };
            if let Err(why) = crop {
                report(format!("the stored crop: {why}"));
            }
            let embedding = match bytes(r.get_ref(4).map_err(|e| self.err(e))?) {
                None => Err("the embedding is missing".to_string()),
                Some(blob) => stored::embedding(blob, dim).map(drop),
            };
            if let Err(why) = embedding {
                report(why);
            }
        }
        Ok(found)
    }
}

/// `gallery check`: SQLite's verdict on the file and, if it holds together, every image the
/// program could not use.
#[derive(Serialize)]
pub struct FileCheck {
    /// SQLite's complaint, when the file does not hold together.
    pub damaged: Option<String>,
    pub gallery: std::path::PathBuf,
    pub images: Vec<Finding>,
    pub ok: bool,
}

/// Checks the gallery file at `path` as thorough as `check` says.
pub fn check_file(path: &std::path::Path, check: Check) -> Result<FileCheck> {
    let g = Gallery::open_with(path, Check::None)?;
    let (damaged, images) = match g.check_with(check) {
        Ok(()) => (None, g.problems(check)?),
        Err(e) => (Some(e.to_string()), Vec::new()),
    };
    Ok(FileCheck { ok: damaged.is_none() && images.is_empty(), damaged, gallery: path.to_path_buf(), images })
}

impl std::fmt::Display for FileCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let path = self.gallery.display();
        if let Some(d) = &self.damaged {
            return writeln!(f, "{d}");
        }
        if self.images.is_empty() {
            return writeln!(f, "{path}: ok");
        }
        writeln!(f, "{path}: {} images the program cannot use:", self.images.len())?;
        for x in &self.images {
            writeln!(f, "image {} of `{}`: {}", x.image, x.person, x.problem)?;
        }
        writeln!(f, "`siamface gallery repair` rebuilds the gallery without them; `siamface forget NAME` removes a person")
    }
}

/// A value's bytes, whether SQLite holds it as a blob or as text.
fn bytes(v: ValueRef<'_>) -> Option<&[u8]> {
    match v {
        ValueRef::Blob(b) | ValueRef::Text(b) => Some(b),
        _ => None,
    }
}
