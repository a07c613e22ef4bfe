//! Omniglot as distributed in `images_background.npz` / `images_evaluation.npz`: an array
//! `(characters, 20 drawers, 105, 105)` of bytes, 0xFF for paper and 0x00 for ink.
use std::path::Path;

use super::npy;
use crate::error::{Error, Result};

pub const SIZE: usize = 105;

pub struct Omniglot {
    pub characters: usize,
    pub drawers: usize,
    pixels: Vec<u8>,
}

impl Omniglot {
    pub fn load(npz: &Path) -> Result<Self> {
        let a = npy::read_npz(npz, "images")?;
        match a.shape[..] {
            [c, d, h, w] if h == SIZE && w == SIZE && c > 0 && d > 0 => Ok(Omniglot { characters: c, drawers: d, pixels: a.data }),
            _ => Err(Error::data(npz, None, format!("images: expected shape (characters, drawers, 105, 105), found {:?}", a.shape))),
        }
    }

    /// The raw 105x105 image of `character` by `drawer`.
    pub fn raw(&self, character: usize, drawer: usize) -> &[u8] {
        let i = (character * self.drawers + drawer) * SIZE * SIZE;
        &self.pixels[i..i + SIZE * SIZE]
    }

    /// Writes the image as network input: ink 1.0, paper 0.0, averaged over `scale x scale`
    /// blocks (`scale = 1` keeps 105x105; 3 gives 35x35). `out` holds `(105 / scale)^2` floats.
    pub fn input(&self, character: usize, drawer: usize, scale: usize, out: &mut [f32]) {
        let side = SIZE / scale;
        assert_eq!(out.len(), side * side, "omniglot input length");
        let img = self.raw(character, drawer);
        let norm = 1.0 / (255.0 * (scale * scale) as f32);
        for (y, row) in out.chunks_exact_mut(side).enumerate() {
            for (x, o) in row.iter_mut().enumerate() {
                let mut paper = 0u32;
                for dy in 0..scale {
                    for dx in 0..scale {
                        paper += img[(y * scale + dy) * SIZE + x * scale + dx] as u32;
                    }
                }
                *o = 1.0 - paper as f32 * norm;
            }
        }
    }
}

/// One alphabet's row of `alphabets.tsv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alphabet {
    pub file: String,
    pub name: String,
    pub first_index: usize,
    pub last_index: usize,
    pub in_lake_runs: bool,
}

/// Parses `alphabets.tsv` strictly: a bad line is an error naming the file and line.
pub fn alphabets(path: &Path) -> Result<Vec<Alphabet>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let bad = |why: &str| Error::data(path, Some(n + 1), format!("{why}: `{line}`"));
        if f.len() != 7 {
            return Err(bad("expected 7 tab-separated fields"));
        }
        let num = |s: &str| s.parse::<usize>().map_err(|_| bad("index is not a number"));
        let in_lake_runs = match f[6] {
            "yes" => true,
            "no" => false,
            _ => return Err(bad("in_lake_runs must be yes or no")),
        };
        let (first_index, last_index) = (num(f[4])?, num(f[5])?);
        if last_index < first_index {
            return Err(bad("last_index before first_index"));
        }
        out.push(Alphabet { file: f[0].into(), name: f[1].into(), first_index, last_index, in_lake_runs });
    }
    Ok(out)
}

/// Koch et al.'s split of Omniglot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The 30 background alphabets, drawers 1-12.
    Train,
    /// The 10 evaluation alphabets that Lake's runs do not use, drawers 13-16.
    Validation,
    /// The 10 evaluation alphabets of Lake's runs, drawers 17-20.
    Test,
}

/// Loads a split from the dataset folder (`images_background.npz`, `images_evaluation.npz`,
/// `alphabets.tsv`), shrunk by `scale` (1 keeps 105x105). Ink is 255, so as input ink is 1.0.
pub fn load_split(dir: &Path, split: Split, scale: usize) -> Result<crate::data::imageset::ImageSet> {
    let (file, drawers, lake) = match split {
        Split::Train => ("images_background.npz", 0..12, None),
        Split::Validation => ("images_evaluation.npz", 12..16, Some(false)),
        Split::Test => ("images_evaluation.npz", 16..20, Some(true)),
    };
    let table = alphabets(&dir.join("alphabets.tsv"))?;
    let data = Omniglot::load(&dir.join(file))?;
    let side = SIZE / scale.max(1);
    let mut set = crate::data::imageset::ImageSet::new(side, side, 1);
    let mut buf = vec![0f32; side * side];
    let mut bytes = vec![0u8; side * side];
    for a in table.iter().filter(|a| a.file == file && lake.is_none_or(|l| a.in_lake_runs == l)) {
        if a.last_index >= data.characters {
            return Err(Error::data(dir.join("alphabets.tsv"), None, format!("{}: index {} beyond {} characters of {file}", a.name, a.last_index, data.characters)));
        }
        let g = set.group(&a.name);
        for ch in a.first_index..=a.last_index {
            let mut items = Vec::new();
            for d in drawers.clone().filter(|&d| d < data.drawers) {
                data.input(ch, d, scale.max(1), &mut buf);
                for (b, v) in bytes.iter_mut().zip(&buf) {
                    *b = (v * 255.0).round() as u8;
                }
                items.push(set.push_image(&bytes)?);
            }
            set.classes.push(crate::data::imageset::Class { name: format!("{}/{}", a.name, ch - a.first_index + 1), group: g, items });
        }
    }
    Ok(set)
}

/// One of Lake et al.'s 20-way one-shot runs: 20 class images, 20 test items and, for each
/// item, the index of its class.
pub struct Run {
    pub name: String,
    pub classes: Vec<Vec<u8>>,
    pub items: Vec<Vec<u8>>,
    pub answers: Vec<usize>,
}

/// Reads `all_runs/runNN/` (class_labels.txt and the PNGs it names), ink as 255.
pub fn lake_runs(dir: &Path) -> Result<Vec<Run>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("run"))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Error::data(dir, None, "no runNN folders"));
    }
    let mut runs = Vec::new();
    for name in names {
        let labels = dir.join(&name).join("class_labels.txt");
        let text = std::fs::read_to_string(&labels).map_err(|e| Error::io(&labels, e))?;
        let mut run = Run { name: name.clone(), classes: Vec::new(), items: Vec::new(), answers: Vec::new() };
        let mut class_files: Vec<String> = Vec::new();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() != 2 {
                return Err(Error::data(&labels, Some(n + 1), format!("expected `test/itemNN.png training/classNN.png`, found `{line}`")));
            }
            let class = match class_files.iter().position(|c| c == f[1]) {
                Some(i) => i,
                None => {
                    class_files.push(f[1].to_string());
                    class_files.len() - 1
                }
            };
            run.items.push(read_png(&dir.join(f[0]))?);
            run.answers.push(class);
        }
        // Every class image of the run is a candidate, also those no item points to.
        let train_dir = dir.join(&name).join("training");
        let mut all: Vec<String> = std::fs::read_dir(&train_dir)
            .map_err(|e| Error::io(&train_dir, e))?
            .filter_map(|e| e.ok())
            .map(|e| format!("{name}/training/{}", e.file_name().to_string_lossy()))
            .filter(|n| n.ends_with(".png"))
            .collect();
        all.sort();
        for c in &all {
            if !class_files.contains(c) {
                class_files.push(c.clone());
            }
        }
        for c in &class_files {
            run.classes.push(read_png(&dir.join(c))?);
        }
        runs.push(run);
    }
    Ok(runs)
}

/// Shrinks a 105x105 byte image by averaging `scale x scale` blocks.
pub fn shrink(img: &[u8], scale: usize) -> Vec<u8> {
    let side = SIZE / scale;
    let mut out = vec![0u8; side * side];
    for y in 0..side {
        for x in 0..side {
            let mut sum = 0u32;
            for dy in 0..scale {
                for dx in 0..scale {
                    sum += img[(y * scale + dy) * SIZE + x * scale + dx] as u32;
                }
            }
            out[y * side + x] = ((sum as f32) / (scale * scale) as f32).round() as u8;
        }
    }
    out
}

fn read_png(path: &Path) -> Result<Vec<u8>> {
    let img = image::open(path).map_err(|e| Error::data(path, None, format!("cannot read image: {e}")))?.to_luma8();
    if img.width() as usize != SIZE || img.height() as usize != SIZE {
        return Err(Error::data(path, None, format!("expected 105x105, found {}x{}", img.width(), img.height())));
    }
    Ok(img.into_raw().into_iter().map(|v| 255 - v).collect())
}
