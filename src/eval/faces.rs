//! LFW photos through the whole face pipeline (detection, five landmarks, the model's crop,
//! embedding), computed once and reused by every protocol: the ten folds of View 2, a head
//! trained per fold, and thresholds calibrated on held-out people. Embeddings can be kept in a
//! cache file keyed by the model's fingerprint, since the detector is most of the time; the
//! cache names how its detections and crops were made, and is reused only by the same pipeline,
//! so that a cached run measures what `eval lfw` and the app compute today.
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::lfw::Face;
use crate::data::photo;
use crate::error::{Error, Result};
use crate::face::{self, Detector, Pick};
use crate::model::Siamese;

/// How a photo becomes the network's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Align {
    /// Find the face (YuNet) and align it by its own landmarks, as the app does with any photo.
    Detect,
    /// Take LFW's deep-funneled frame as the canonical frame (no detection): how the Koch face
    /// models were trained.
    Frame,
}

#[derive(Serialize, Deserialize)]
pub struct Embeddings {
    pub model: String,
    pub align: Align,
    pub dim: usize,
    pub faces: Vec<(String, usize)>,
    pub rows: Vec<f32>,
    /// Photos where no face was found: embedded from the frame instead, and counted.
    pub missed: Vec<(String, usize)>,
    /// Mean single-thread time per face (decode, detect, align, embed), in milliseconds.
    pub ms_per_face: f64,
    /// What the detector found in each photo (none: no face), so a change of model or crop
    /// re-embeds without detecting again.
    #[serde(default)]
    pub detections: Vec<Option<crate::face::Face>>,
    /// How `detections` were made (`detection_revision`); empty in caches that did not say.
    #[serde(default)]
    pub detection: String,
    /// How a photo and its detection became the network's input (`face::align::REVISION`).
    #[serde(default)]
    pub crop: String,
    #[serde(skip)]
    index: HashMap<(String, usize), usize>,
}

/// The face of an LFW photo the protocols take: the one nearest the centre, as LFW names its
/// photos (whoever else is larger).
const PICK: Pick = Pick::Centre;

/// Names how the detections are made: the detector (`face::detect::REVISION`) and which face of
/// a photo is taken. Kept detections made otherwise are found again.
pub fn detection_revision() -> String {
    format!("{}; {PICK:?}", face::detect::REVISION)
}

impl Embeddings {
    fn reindex(&mut self) {
        self.index = self.faces.iter().enumerate().map(|(i, f)| (f.clone(), i)).collect();
    }

    pub fn row(&self, f: &Face) -> Option<&[f32]> {
        let i = *self.index.get(&(f.name.clone(), f.number))?;
        Some(&self.rows[i * self.dim..(i + 1) * self.dim])
    }

    pub fn contains(&self, f: &Face) -> bool {
        self.index.contains_key(&(f.name.clone(), f.number))
    }
}

/// Embeds `faces` (photos under `root`) through the pipeline, on all threads; reuses and updates
/// `cache` when given: its detections when today's detector and pick made them, its embeddings
/// when besides they are this model's, cut by today's crop, and `reembed` is off. A cache made
/// by another pipeline is made again: reused, it would report the numbers of that pipeline.
#[allow(clippy::too_many_arguments)]
pub fn embed(net: &Siamese, det: &Detector, root: &Path, faces: &[Face], align: Align, model: &str, cache: Option<&Path>, reembed: bool) -> Result<Embeddings> {
    let detection = detection_revision();
    let fresh = || Embeddings {
        model: model.to_string(),
        align,
        dim: net.embedding_len(),
        faces: Vec::new(),
        rows: Vec::new(),
        missed: Vec::new(),
        ms_per_face: 0.0,
        detections: Vec::new(),
        detection: detection.clone(),
        crop: face::align::REVISION.to_string(),
        index: HashMap::new(),
    };
    let mut found: HashMap<(String, usize), Option<crate::face::Face>> = HashMap::new();
    let mut have = match cache.filter(|p| p.exists()) {
        Some(p) => {
            let text = std::fs::read(p).map_err(|e| Error::io(p, e))?;
            let mut e: Embeddings = serde_json::from_slice(&text).map_err(|e| Error::data(p, None, format!("embedding cache: {e}")))?;
            let same_detection = e.detection == detection;
            if same_detection && e.detections.len() == e.faces.len() {
                found = e.faces.iter().cloned().zip(e.detections.iter().copied()).collect();
            }
            if reembed || !same_detection || e.crop != face::align::REVISION || e.model != model || e.align != align || e.dim != net.embedding_len() {
                fresh()
            } else {
                e.reindex();
                e
            }
        }
        None => fresh(),
    };
    let mut todo: Vec<&Face> = faces.iter().filter(|f| !have.contains(f)).collect();
    todo.sort_by(|a, b| (&a.name, a.number).cmp(&(&b.name, b.number)));
    todo.dedup();
    let cfg = net.config().clone();
    type Done = (Vec<f32>, Option<crate::face::Face>, bool, f64);
    let done: Vec<Result<Done>> = todo
        .par_iter()
        .map_init(
            || net.scratch(),
            |s, f| {
                let path = f.path(root);
                let t = Instant::now();
                let img = photo::open(&path)?.to_rgb8();
                let detection = match (align, found.get(&(f.name.clone(), f.number))) {
                    (Align::Frame, _) => None,
                    (Align::Detect, Some(known)) => *known,
                    (Align::Detect, None) => crate::face::pipeline::pick(&det.detect(&img)?, img.width(), img.height(), PICK),
                };
                let input = match detection {
                    Some(face) => face::input_from_photo(&img, &face, &cfg),
                    None => face::to_input(&img, &cfg),
                };
                let e = net.embed_bytes_with(&input, s)?;
                Ok((e, detection, align == Align::Frame || detection.is_some(), t.elapsed().as_secs_f64() * 1e3))
            },
        )
        .collect();
    let before = have.faces.len() as f64;
    let mut ms = 0.0;
    for (f, r) in todo.iter().zip(done) {
        let (e, detection, found, t) = r?;
        have.faces.push((f.name.clone(), f.number));
        have.rows.extend(e);
        have.detections.push(detection);
        if !found {
            have.missed.push((f.name.clone(), f.number));
        }
        ms += t;
    }
    let n = have.faces.len() as f64;
    if n > 0.0 {
        have.ms_per_face = (have.ms_per_face * before + ms) / n;
    }
    have.reindex();
    if let Some(p) = cache.filter(|_| !todo.is_empty()) {
        let text = serde_json::to_vec(&have).expect("embeddings serialise");
        std::fs::write(p, text).map_err(|e| Error::io(p, e))?;
    }
    Ok(have)
}

/// Network inputs (as `Siamese::embed` takes them) of up to `limit` photos under `dir` (its own
/// images and its sub-folders', one level down, as in `root/PERSON/*.jpg`), spread evenly over
/// the sorted list so that many people are seen: the sample an int8 calibration measures.
/// Each photo goes through the pipeline as `align` says; photos without a face are skipped.
/// Returns the inputs, how many photos they came from, and how many were skipped.
pub fn sample_inputs(net: &Siamese, det: &Detector, dir: &Path, limit: usize, align: Align) -> Result<(Vec<f32>, usize, usize)> {
    let mut files = crate::data::folder::images_in(dir)?;
    let mut subs: Vec<_> = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
    subs.sort();
    for s in subs {
        files.extend(crate::data::folder::images_in(&s)?);
    }
    if files.is_empty() || limit == 0 {
        return Err(Error::data(dir, None, "no photos (.jpg, .png, ...) here or in its sub-folders to calibrate on"));
    }
    let stride = files.len().div_ceil(limit).max(1);
    let picked: Vec<_> = files.iter().step_by(stride).take(limit).collect();
    let cfg = net.config().clone();
    let inputs: Vec<Option<Vec<u8>>> = picked
        .par_iter()
        .map(|path| {
            let img = photo::open(path)?.to_rgb8();
            Ok(match align {
                Align::Frame => Some(face::to_input(&img, &cfg)),
                Align::Detect => crate::face::pipeline::pick(&det.detect(&img)?, img.width(), img.height(), crate::face::Pick::Centre).map(|f| face::input_from_photo(&img, &f, &cfg)),
            })
        })
        .collect::<Result<_>>()?;
    let used = inputs.iter().flatten().count();
    let floats = inputs.iter().flatten().flat_map(|b| cfg.input.floats(b, cfg.channels)).collect();
    Ok((floats, used, picked.len() - used))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConvLayer, ModelConfig};
    use crate::model::Params;

    fn tiny_net() -> Siamese {
        let cfg = ModelConfig::koch(13, 12, 3, vec![ConvLayer { filters: 3, kernel: 3, pool: true }, ConvLayer { filters: 2, kernel: 2, pool: false }], 5);
        Siamese::new(cfg.clone(), Params::zeros(&cfg).unwrap(), 1).unwrap()
    }

    /// A cache as an earlier version of the pipeline left it: rows of this model, a face found
    /// in the photo, and no word on how either was made.
    fn earlier_cache(path: &Path, model: &str, dim: usize) {
        let face = serde_json::json!({
            "rect": [60.0, 60.0, 100.0, 120.0], "score": 0.95,
            "landmarks": [[95.0, 110.0], [145.0, 110.0], [120.0, 140.0], [100.0, 160.0], [140.0, 160.0]], "points": null
        });
        let v = serde_json::json!({
            "model": model, "align": "detect", "dim": dim, "faces": [["Some_One", 1]], "rows": vec![7.0f32; dim],
            "missed": [], "ms_per_face": 1.0, "detections": [face]
        });
        std::fs::write(path, serde_json::to_vec(&v).unwrap()).unwrap();
    }

    #[test]
    fn a_cache_of_another_pipeline_is_detected_and_embedded_again() {
        let dir = std::env::temp_dir().join(format!("siamface-faces-cache-{}", std::process::id()));
        let root = dir.join("images");
        std::fs::create_dir_all(root.join("Some_One")).unwrap();
        // A plain grey photo: the detector finds no face in it, whatever the cache says.
        image::RgbImage::from_pixel(250, 250, image::Rgb([128, 128, 128])).save(root.join("Some_One/Some_One_0001.jpg")).unwrap();
        let (net, det) = (tiny_net(), Detector::new().unwrap());
        let dim = net.embedding_len();
        let faces = [Face { name: "Some_One".into(), number: 1 }];
        let cache = dir.join("cache.json");
        for reembed in [false, true] {
            earlier_cache(&cache, "m", dim);
            let e = embed(&net, &det, &root, &faces, Align::Detect, "m", Some(&cache), reembed).unwrap();
            assert_eq!(e.detections, vec![None], "reembed {reembed}: the earlier detection was reused");
            assert_eq!(e.missed, vec![("Some_One".to_string(), 1)], "reembed {reembed}");
            assert_ne!(e.row(&faces[0]).unwrap(), &vec![7.0f32; dim][..], "reembed {reembed}: the earlier embedding was reused");
        }
        // What this version kept, it reuses: its rows, marked, come back.
        let mut kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
        kept["rows"] = serde_json::json!(vec![7.0f32; dim]);
        std::fs::write(&cache, serde_json::to_vec(&kept).unwrap()).unwrap();
        let e = embed(&net, &det, &root, &faces, Align::Detect, "m", Some(&cache), false).unwrap();
        assert_eq!(e.row(&faces[0]).unwrap(), &vec![7.0f32; dim][..]);
        std::fs::remove_dir_all(&dir).ok();
    }
}
