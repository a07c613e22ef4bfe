//! dlib's 5-point face shape predictor (`shape_predictor_5_face_landmarks.dat`), read from dlib's
//! own file and run here: the outer and inner corners of both eyes and the base of the nose,
//! placed inside a face box by a cascade of regression trees (Kazemi & Sullivan 2014).
//!
//! Why: a detector's own landmarks drift towards an upright face when the head rolls, and the
//! face chip is defined by exactly these five points, so a tilted head gives a tilted, too tight
//! chip. The predictor starts from a mean shape and corrects it cascade by cascade from pixel
//! differences sampled relative to the current shape, so it follows the roll.
//!
//! The algorithm is dlib's (`dlib/image_processing/shape_predictor.h`), step for step, so the
//! points agree with dlib's to the rounding of its integer output (`tests/shape_predictor.rs`):
//! - the shape lives in the box's unit square; at each cascade the similarity (rotation and
//!   scale, least squares) from the initial shape to the current one moves each feature pixel's
//!   offset from its anchor point, computed in `f32` as dlib does;
//! - a feature pixel is mapped into the image, rounded to the nearest pixel (`floor(v + 0.5)`),
//!   and read as dlib reads an RGB pixel's intensity, `(r + g + b) / 3` truncated; outside the
//!   image it reads 0;
//! - a tree goes left (node `i` to `2i + 1`) when `f[idx1] - f[idx2] > thresh`, else right, and
//!   its leaf vector is added to the shape.
//!
//! # The box
//! A dlib rectangle's right and bottom are inclusive and its `width()` is `right - left + 1`;
//! the unit square maps `(0, 0)` to its top-left pixel and `(1, 1)` to its bottom-right pixel.
//! Our box `[x, y, w, h]` is the dlib rectangle `left = x, top = y, right = x + w - 1,
//! bottom = y + h - 1`, used unrounded: for a whole-pixel box it is exactly
//! `dlib.rectangle(x, y, x + w - 1, y + h - 1)`, for any other it is that map continued.
//!
//! # The file
//! `int version (1)`, `matrix<float,0,1> initial_shape`, `vector<vector<regression_tree>>
//! forests`, `vector<vector<unsigned long>> anchor_idx`, `vector<vector<vector<float,2>>> deltas`.
//! A tree is `vector<split_feature>` (`unsigned long idx1, idx2; float thresh`) then
//! `vector<matrix<float,0,1>>` leaf values. A matrix is `-nr, -nc` then its elements, a
//! `std::vector` its length then its elements, a `dlib::vector<float,2>` x then y (two
//! components). Integers and reals use dlib's encoding (`model::dlib::Reader`).
use std::path::Path;
use std::sync::OnceLock;

use image::RgbImage;

use crate::error::{Error, Result};
use crate::model::dlib::Reader;

/// Points the model places.
pub const PARTS: usize = 5;

/// Where the compiled-in model came from, for its error messages.
const BUILTIN_PATH: &str = "models/dlib/shape_predictor_5_face_landmarks.dat";

/// Feature pixels one cascade may sample (so a split's indices fit 16 bits, 8 bytes a split);
/// dlib's 5-point model samples 800.
const MAX_FEATURES: usize = 1 << 16;

#[derive(Clone, Copy, Debug)]
struct Split {
    idx1: u16,
    idx2: u16,
    thresh: f32,
}

/// One tree: `splits` complete levels of `Split`s from `first_split` in `ShapePredictor::splits`,
/// then `splits + 1` leaves from `first_leaf` in `ShapePredictor::leaves` (each `2 * PARTS` wide).
#[derive(Clone, Copy, Debug)]
struct Tree {
    first_split: usize,
    splits: usize,
    first_leaf: usize,
}

/// One level of the cascade: the pixels it samples, relative to the initial shape, and its trees.
#[derive(Debug)]
struct Cascade {
    anchors: Vec<usize>,
    deltas: Vec<[f32; 2]>,
    trees: Vec<Tree>,
}

/// dlib's shape predictor as read from its file; immutable, shared read-only.
#[derive(Debug)]
pub struct ShapePredictor {
    /// The mean shape in the box's unit square, `x0, y0, x1, y1, ...`.
    initial: [f32; 2 * PARTS],
    cascades: Vec<Cascade>,
    splits: Vec<Split>,
    leaves: Vec<f32>,
    max_features: usize,
    max_trees: usize,
}

/// Reads a length and checks it against what the rest of the file can hold, at least
/// `min_bytes` bytes for each element.
fn len(r: &mut Reader, what: &str, min_bytes: usize) -> Result<usize> {
    let at = r.pos();
    let n = r.count(what)?;
    if n > r.remaining() / min_bytes {
        return Err(r.err(at, format!("{what}: {n} elements cannot fit in the {} bytes left", r.remaining())));
    }
    Ok(n)
}

fn float(r: &mut Reader, what: &str) -> Result<f32> {
    let at = r.pos();
    let v = r.real(what)? as f32;
    if !v.is_finite() {
        return Err(r.err(at, format!("{what}: {v} is not a finite f32")));
    }
    Ok(v)
}

/// A `matrix<float,0,1>` of `want` rows, appended to `out`.
fn column(r: &mut Reader, what: &str, want: usize, out: &mut Vec<f32>) -> Result<()> {
    let at = r.pos();
    let (nr, nc) = (r.int(what)?, r.int(what)?);
    if (nr, nc) != (-(want as i64), -1) {
        return Err(r.err(at, format!("{what}: a {want}x1 matrix is written (-{want}, -1), found ({nr}, {nc})")));
    }
    for _ in 0..want {
        out.push(float(r, what)?);
    }
    Ok(())
}

/// Bytes each element takes at least: an integer is 1 byte, a real 2 (mantissa and exponent).
const SPLIT_BYTES: usize = 4;
const TREE_BYTES: usize = 2;
const LEAF_BYTES: usize = 2 + 2 * 2 * PARTS;

/// Reads dlib's serialized shape predictor, every byte of it; `path` names the file in errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<ShapePredictor> {
    let mut r = Reader::new(bytes, path);
    r.expect("shape predictor version", 1)?;
    let mut initial = Vec::with_capacity(2 * PARTS);
    column(&mut r, "initial shape", 2 * PARTS, &mut initial)?;

    let (mut splits, mut leaves) = (Vec::new(), Vec::new());
    let n_cascades = len(&mut r, "cascade count", 1)?;
    // Per cascade, the largest feature index its splits use and where: checked once the
    // feature count (the length of anchor_idx) is known.
    let mut forests = Vec::with_capacity(n_cascades);
    for c in 0..n_cascades {
        let n_trees = len(&mut r, &format!("cascade {c}: tree count"), TREE_BYTES)?;
        let mut trees = Vec::with_capacity(n_trees);
        let mut widest: Option<(u16, usize)> = None;
        for t in 0..n_trees {
            let what = format!("cascade {c}, tree {t}");
            let n = len(&mut r, &format!("{what}: split count"), SPLIT_BYTES)?;
            let first_split = splits.len();
            for _ in 0..n {
                let at = r.pos();
                let (idx1, idx2) = (r.count(&what)?, r.count(&what)?);
                let (Ok(idx1), Ok(idx2)) = (u16::try_from(idx1), u16::try_from(idx2)) else {
                    return Err(r.err(at, format!("{what}: feature index {} out of range", idx1.max(idx2))));
                };
                if widest.is_none_or(|(w, _)| idx1.max(idx2) > w) {
                    widest = Some((idx1.max(idx2), at));
                }
                splits.push(Split { idx1, idx2, thresh: float(&mut r, &what)? });
            }
            let at = r.pos();
            let n_leaves = len(&mut r, &format!("{what}: leaf count"), LEAF_BYTES)?;
            if n_leaves != n + 1 || !n_leaves.is_power_of_two() {
                return Err(r.err(at, format!("{what}: {n_leaves} leaves under {n} splits; a complete tree has splits + 1, a power of two")));
            }
            let first_leaf = leaves.len() / (2 * PARTS);
            for _ in 0..n_leaves {
                column(&mut r, &format!("{what}: leaf"), 2 * PARTS, &mut leaves)?;
            }
            trees.push(Tree { first_split, splits: n, first_leaf });
        }
        forests.push((trees, widest));
    }

    let at = r.pos();
    let n = len(&mut r, "anchor_idx count", 1)?;
    if n != n_cascades {
        return Err(r.err(at, format!("anchor_idx: {n} lists for {n_cascades} cascades")));
    }
    let mut anchors = Vec::with_capacity(n);
    for c in 0..n {
        let what = format!("cascade {c}: anchor");
        let at = r.pos();
        let m = len(&mut r, &what, 1)?;
        if m > MAX_FEATURES {
            return Err(r.err(at, format!("{what}: {m} feature pixels, at most {MAX_FEATURES} are read")));
        }
        let mut a = Vec::with_capacity(m);
        for _ in 0..m {
            let at = r.pos();
            let i = r.count(&what)?;
            if i >= PARTS {
                return Err(r.err(at, format!("{what}: point {i} of a {PARTS}-point shape")));
            }
            a.push(i);
        }
        anchors.push(a);
    }

    let at = r.pos();
    let n = len(&mut r, "deltas count", 1)?;
    if n != n_cascades {
        return Err(r.err(at, format!("deltas: {n} lists for {n_cascades} cascades")));
    }
    let mut cascades = Vec::with_capacity(n);
    let (mut max_features, mut max_trees) = (0, 0);
    for (c, (a, (trees, widest))) in anchors.into_iter().zip(forests).enumerate() {
        let what = format!("cascade {c}: delta");
        let at = r.pos();
        let m = len(&mut r, &what, 4)?;
        if m != a.len() {
            return Err(r.err(at, format!("{what}: {m} offsets for {} anchors", a.len())));
        }
        if let Some((idx, at)) = widest.filter(|(idx, _)| *idx as usize >= m) {
            return Err(r.err(at, format!("cascade {c}: a split reads feature {idx} of {m}")));
        }
        let mut deltas = Vec::with_capacity(m);
        for _ in 0..m {
            deltas.push([float(&mut r, &what)?, float(&mut r, &what)?]);
        }
        max_features = max_features.max(m);
        max_trees = max_trees.max(trees.len());
        cascades.push(Cascade { anchors: a, deltas, trees });
    }
    if r.remaining() != 0 {
        return Err(r.err(r.pos(), format!("{} bytes after the model's end", r.remaining())));
    }
    let mut init = [0.0; 2 * PARTS];
    init.copy_from_slice(&initial);
    Ok(ShapePredictor { initial: init, cascades, splits, leaves, max_features, max_trees })
}

/// The model compiled into the binary (`models/dlib/shape_predictor_5_face_landmarks.dat`),
/// parsed on first use.
pub fn builtin() -> Result<&'static ShapePredictor> {
    // The error is kept as its reason, since `Error` is not `Clone`.
    static MODEL: OnceLock<std::result::Result<ShapePredictor, String>> = OnceLock::new();
    let bytes = include_bytes!("../../models/dlib/shape_predictor_5_face_landmarks.dat");
    let parsed = MODEL.get_or_init(|| {
        parse(bytes, Path::new(BUILTIN_PATH)).map_err(|e| match e {
            Error::ModelFile { reason, .. } => reason,
            other => other.to_string(),
        })
    });
    parsed.as_ref().map_err(|reason| Error::ModelFile { path: BUILTIN_PATH.into(), reason: reason.clone() })
}

/// dlib's `unnormalizing_tform` for our box: the unit square onto the box's pixels.
#[derive(Clone, Copy)]
struct BoxMap {
    origin: [f64; 2],
    scale: [f64; 2],
}

impl BoxMap {
    fn new([x, y, w, h]: [f32; 4]) -> Self {
        BoxMap { origin: [x as f64, y as f64], scale: [w as f64 - 1.0, h as f64 - 1.0] }
    }

    fn apply(&self, p: [f32; 2]) -> [f64; 2] {
        [self.scale[0] * p[0] as f64 + self.origin[0], self.scale[1] * p[1] as f64 + self.origin[1]]
    }
}

/// The least-squares similarity (rotation and scale, no translation) taking `from`'s points,
/// centred, onto `to`'s: dlib's `find_tform_between_shapes`, Umeyama's solution, which in 2-D is
/// `[[p, -q], [q, p]]` with `p = sum(a.b) / sum(|a|^2)`, `q = sum(a x b) / sum(|a|^2)`. Worked in
/// f64 and rounded to f32 as dlib does (`align::similarity` works in f32, which would move a
/// feature pixel across a rounding edge now and then).
fn similarity(from: &[f32; 2 * PARTS], to: &[f32; 2 * PARTS]) -> [[f32; 2]; 2] {
    let mean = |s: &[f32; 2 * PARTS]| {
        let (mut mx, mut my) = (0.0f64, 0.0f64);
        for p in s.chunks_exact(2) {
            mx += p[0] as f64;
            my += p[1] as f64;
        }
        [mx / PARTS as f64, my / PARTS as f64]
    };
    let (mf, mt) = (mean(from), mean(to));
    let (mut norm, mut dot, mut cross) = (0.0f64, 0.0f64, 0.0f64);
    for (a, b) in from.chunks_exact(2).zip(to.chunks_exact(2)) {
        let (ax, ay) = (a[0] as f64 - mf[0], a[1] as f64 - mf[1]);
        let (bx, by) = (b[0] as f64 - mt[0], b[1] as f64 - mt[1]);
        norm += ax * ax + ay * ay;
        dot += ax * bx + ay * by;
        cross += ax * by - ay * bx;
    }
    if norm == 0.0 {
        return [[1.0, 0.0], [0.0, 1.0]];
    }
    let (p, q) = ((dot / norm) as f32, (cross / norm) as f32);
    [[p, -q], [q, p]]
}

impl ShapePredictor {
    /// The five points of the face in `rect` (`x, y, w, h`, see the module's note on the box),
    /// in image pixels, in dlib's order: the outer then inner corner of the eye on the image's
    /// right (the person's left eye), the outer then inner corner of the eye on the image's left,
    /// the base of the nose.
    pub fn predict(&self, img: &RgbImage, rect: [f32; 4]) -> [[f32; 2]; PARTS] {
        let to_img = BoxMap::new(rect);
        let (w, h) = (img.width() as f64, img.height() as f64);
        let mut shape = self.initial;
        // The one allocation: feature values, then the leaf each tree ends in.
        let mut features = vec![0.0f32; self.max_features];
        let mut leaves = vec![0usize; self.max_trees];
        for c in &self.cascades {
            let m = similarity(&self.initial, &shape);
            for ((f, &a), d) in features.iter_mut().zip(&c.anchors).zip(&c.deltas) {
                // f32 throughout, in dlib's order: the rotated offset, then the anchor.
                let p = [m[0][0] * d[0] + m[0][1] * d[1] + shape[2 * a], m[1][0] * d[0] + m[1][1] * d[1] + shape[2 * a + 1]];
                let [x, y] = to_img.apply(p);
                // The pixel is floor(v + 0.5); inside the image exactly when 0 <= v + 0.5 < side,
                // and then truncation is that floor (NaN is outside).
                let (x, y) = (x + 0.5, y + 0.5);
                *f = if x >= 0.0 && x < w && y >= 0.0 && y < h {
                    let px = img.get_pixel(x as u32, y as u32).0;
                    ((px[0] as u32 + px[1] as u32 + px[2] as u32) / 3) as f32
                } else {
                    0.0
                };
            }
            // All the walks first, then the sums in tree order: the leaf loads (the model is
            // larger than the caches) no longer wait behind the walks and overlap each other.
            for (leaf, t) in leaves.iter_mut().zip(&c.trees) {
                let splits = &self.splits[t.first_split..t.first_split + t.splits];
                let mut i = 0;
                while i < splits.len() {
                    let s = splits[i];
                    // Left (2i + 1) when above the threshold, else right, without a branch.
                    let left = features[s.idx1 as usize] - features[s.idx2 as usize] > s.thresh;
                    i = 2 * i + 2 - left as usize;
                }
                *leaf = (t.first_leaf + i - splits.len()) * 2 * PARTS;
            }
            for &leaf in &leaves[..c.trees.len()] {
                for (v, d) in shape.iter_mut().zip(&self.leaves[leaf..leaf + 2 * PARTS]) {
                    *v += d;
                }
            }
        }
        let mut out = [[0.0; 2]; PARTS];
        for (o, p) in out.iter_mut().zip(shape.chunks_exact(2)) {
            let [x, y] = to_img.apply([p[0], p[1]]);
            *o = [x as f32, y as f32];
        }
        out
    }

    /// Cascade levels and trees in all, for a summary line.
    pub fn size(&self) -> (usize, usize) {
        (self.cascades.len(), self.cascades.iter().map(|c| c.trees.len()).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::dlib::encode_int as int;

    /// A real as dlib writes it: an integer mantissa and exponent (here exponent -8, so `v`
    /// must be a multiple of 1/256).
    fn real(v: f32) -> Vec<u8> {
        let mut b = int((v * 256.0) as i64);
        b.extend(int(-8));
        b
    }

    fn column(v: &[f32]) -> Vec<u8> {
        let mut b = int(-(v.len() as i64));
        b.extend(int(-1));
        v.iter().for_each(|x| b.extend(real(*x)));
        b
    }

    /// A one-cascade model of one depth-1 tree over two feature pixels, with the given version,
    /// split indices and second anchor.
    fn tiny(version: i64, idx: [i64; 2], anchor: i64) -> Vec<u8> {
        let mut b = int(version);
        b.extend(column(&[0.25, 0.5, 0.75, 0.5, 0.25, 0.25, 0.75, 0.25, 0.5, 0.75]));
        b.extend(int(1)); // cascades
        b.extend(int(1)); // trees
        b.extend(int(1)); // splits
        b.extend(int(idx[0]));
        b.extend(int(idx[1]));
        b.extend(real(10.0));
        b.extend(int(2)); // leaves
        b.extend(column(&[0.0; 10]));
        b.extend(column(&[0.0625; 10]));
        b.extend(int(1)); // anchor lists
        b.extend(int(2));
        b.extend(int(0));
        b.extend(int(anchor));
        b.extend(int(1)); // delta lists
        b.extend(int(2));
        for v in [0.0, 0.0, 0.125, -0.125] {
            b.extend(real(v));
        }
        b
    }

    #[test]
    fn tiny_model_parses_and_predicts_inside_the_box() {
        let sp = parse(&tiny(1, [0, 1], 4), Path::new("t.dat")).unwrap();
        assert_eq!(sp.size(), (1, 1));
        let img = RgbImage::from_pixel(40, 30, image::Rgb([90, 120, 150]));
        // A flat image: both features read 120, the difference 0 is not above 10, right leaf.
        let pts = sp.predict(&img, [10.0, 5.0, 21.0, 11.0]);
        assert!((pts[0][0] - (10.0 + 20.0 * 0.3125)).abs() < 1e-4, "{pts:?}");
        assert!((pts[0][1] - (5.0 + 10.0 * 0.5625)).abs() < 1e-4, "{pts:?}");
    }

    #[test]
    fn tiny_model_goes_left_on_a_bright_anchor() {
        // Feature 0 sits on point 0 at (15, 10); feature 1 is read off point 4, away from it.
        let sp = parse(&tiny(1, [0, 1], 4), Path::new("t.dat")).unwrap();
        let mut img = RgbImage::new(40, 30);
        img.put_pixel(15, 10, image::Rgb([200, 200, 201]));
        let pts = sp.predict(&img, [10.0, 5.0, 21.0, 11.0]);
        assert!((pts[0][0] - 15.0).abs() < 1e-4, "{pts:?}");
    }

    #[test]
    fn wrong_version_is_refused_at_byte_0() {
        let err = parse(&tiny(2, [0, 1], 4), Path::new("t.dat")).unwrap_err().to_string();
        assert!(err.contains("t.dat") && err.contains("at byte 0") && err.contains("expected 1"), "{err}");
    }

    #[test]
    fn split_index_past_the_features_is_refused() {
        let err = parse(&tiny(1, [0, 2], 4), Path::new("t.dat")).unwrap_err().to_string();
        assert!(err.contains("reads feature 2 of 2"), "{err}");
    }

    #[test]
    fn anchor_past_the_points_is_refused() {
        let err = parse(&tiny(1, [0, 1], 5), Path::new("t.dat")).unwrap_err().to_string();
        assert!(err.contains("point 5 of a 5-point shape"), "{err}");
    }

    #[test]
    fn every_truncation_is_an_error() {
        let data = tiny(1, [0, 1], 4);
        for n in 0..data.len() {
            let err = parse(&data[..n], Path::new("t.dat")).unwrap_err().to_string();
            assert!(err.contains("at byte"), "{n}: {err}");
        }
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut data = tiny(1, [0, 1], 4);
        let end = data.len();
        data.push(0);
        let err = parse(&data, Path::new("t.dat")).unwrap_err().to_string();
        assert!(err.contains(&format!("at byte {end}: 1 bytes after")), "{err}");
    }

    #[test]
    fn huge_counts_are_refused_before_allocating() {
        let mut data = int(1);
        data.extend(column(&[0.5; 10]));
        data.extend(int(1 << 40));
        let err = parse(&data, Path::new("t.dat")).unwrap_err().to_string();
        assert!(err.contains("cannot fit"), "{err}");
    }

    #[test]
    fn a_68_point_model_is_refused() {
        let mut data = int(1);
        data.extend(column(&[0.5; 136]));
        let err = parse(&data, Path::new("t.dat")).unwrap_err().to_string();
        assert!(err.contains("found (-136, -1)"), "{err}");
    }

    #[test]
    fn builtin_model_is_dlibs_five_point_cascade() {
        let sp = builtin().unwrap();
        // 15 cascades of 500 depth-4 trees, each cascade sampling 800 pixels.
        assert_eq!(sp.size(), (15, 7500));
        assert_eq!((sp.max_features, sp.max_trees), (800, 500));
        assert!(sp.splits.iter().all(|s| s.thresh.is_finite()) && sp.splits.len() == 7500 * 15);
        assert_eq!(sp.leaves.len(), 7500 * 16 * 2 * PARTS);
    }
}
