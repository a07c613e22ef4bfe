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
