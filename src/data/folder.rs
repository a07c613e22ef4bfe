//! Image folders anyone can make: one folder per identity (`root/PERSON/*.jpg`), and the original
//! face app's collection layout (`anchor/`, `positive/`, `negative/`).
use std::path::{Path, PathBuf};

use super::imageset::{Class, ImageSet};
use super::photo::{self, Crop};
use crate::error::{Error, Result};

pub fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && photo::is_image(p))
        .collect();
    files.sort();
    Ok(files)
}

/// `root/PERSON/*.{jpg,png,pgm,webp}`: each sub-folder is a class; every image is cropped by
/// `crop` and resized to `w x h x channels`.
pub fn identities(root: &Path, crop: Crop, w: usize, h: usize, channels: usize) -> Result<ImageSet> {
    let mut people: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(|e| Error::io(root, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    people.sort();
    let mut set = ImageSet::new(h, w, channels);
    let g = set.group("all");
    for dir in people {
        let mut items = Vec::new();
        for f in images_in(&dir)? {
            items.push(set.push_image(&photo::load(&f, crop, w, h, channels)?)?);
        }
        if !items.is_empty() {
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            set.classes.push(Class { name, group: g, items });
        }
    }
    if set.classes.is_empty() {
        return Err(Error::data(root, None, "no PERSON/ folders with images"));
    }
    Ok(set)
}

/// The face app's layout: `anchor/` and `positive/` hold the user (one class, "self"), and
/// every image of `negative/` is someone else (a class of its own).
pub fn app_layout(root: &Path, crop: Crop, w: usize, h: usize, channels: usize) -> Result<ImageSet> {
    let mut set = ImageSet::new(h, w, channels);
    let g = set.group("app");
    let mut me = Vec::new();
    for sub in ["anchor", "positive"] {
        for f in images_in(&root.join(sub))? {
            me.push(set.push_image(&photo::load(&f, crop, w, h, channels)?)?);
        }
    }
    if me.len() < 2 {
        return Err(Error::data(root, None, "anchor/ and positive/ need at least two images together"));
    }
    set.classes.push(Class { name: "self".into(), group: g, items: me });
    for (k, f) in images_in(&root.join("negative"))?.into_iter().enumerate() {
        let i = set.push_image(&photo::load(&f, crop, w, h, channels)?)?;
        set.classes.push(Class { name: format!("negative/{k}"), group: g, items: vec![i] });
    }
    if set.classes.len() < 2 {
        return Err(Error::data(root.join("negative"), None, "no negative images"));
    }
    Ok(set)
}
