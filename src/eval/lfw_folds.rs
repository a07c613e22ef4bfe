//! LFW's View 2 protocol: for each of the 10 folds, the threshold is chosen on the other nine
//! folds' pairs and the accuracy measured on the fold; the result is the mean over folds with its
//! standard error.
use serde::Serialize;

use super::verification;

#[derive(Clone, Debug, Serialize)]
pub struct Fold {
    /// 1-based, as LFW numbers them.
    pub fold: usize,
    pub pairs: usize,
    pub threshold: f64,
    pub accuracy: f64,
    pub auc: f64,
    pub eer: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Protocol {
    pub folds: Vec<Fold>,
    pub mean_accuracy: f64,
    /// Standard error of the mean over the folds.
    pub standard_error: f64,
}

/// `scores[f]` and `same[f]` hold fold `f`'s pairs.
pub fn run(scores: &[Vec<f64>], same: &[Vec<bool>]) -> Protocol {
    let folds: Vec<Fold> = (0..scores.len())
        .map(|f| {
            let (mut s, mut y) = (Vec::new(), Vec::new());
            for g in (0..scores.len()).filter(|&g| g != f) {
                s.extend_from_slice(&scores[g]);
                y.extend_from_slice(&same[g]);
            }
            let (threshold, _) = verification::best_threshold(&s, &y);
            let (accuracy, _, _) = verification::at_threshold(&scores[f], &same[f], threshold);
            let curve = verification::roc(&scores[f], &same[f]);
            Fold { fold: f + 1, pairs: scores[f].len(), threshold, accuracy, auc: verification::auc(&curve), eer: verification::eer(&curve) }
        })
        .collect();
    let n = folds.len().max(1) as f64;
    let mean = folds.iter().map(|f| f.accuracy).sum::<f64>() / n;
    let var = folds.iter().map(|f| (f.accuracy - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    Protocol { folds, mean_accuracy: mean, standard_error: (var / n).sqrt() }
}

/// Every pair of LFW View 2 (`pairs.txt` under `lfw`) scored by `net`, fold by fold, with its
/// label: the material of `run`. Each photo is embedded once, through the face pipeline
/// (`Align::Detect`: the face nearest the centre found, aligned and cropped as any user's photo
/// is; a photo without a face falls back to its frame and is counted) or from LFW's frame
/// (`Align::Frame`). Returns the scores, the labels and the photos without a detected face.
pub fn view2_scores(net: &crate::model::Siamese, lfw: &std::path::Path, align: super::faces::Align) -> crate::error::Result<(Vec<Vec<f64>>, Vec<Vec<bool>>, usize)> {
    use crate::data::lfw::{Face, Pairs};
    let pairs = Pairs::parse(&lfw.join("pairs.txt"))?;
    let faces: Vec<Face> = pairs.folds.iter().flatten().flat_map(|p| [p.a.clone(), p.b.clone()]).collect();
    let det = crate::face::Detector::new()?;
    let emb = super::faces::embed(net, &det, &lfw.join("images_deepfunneled"), &faces, align, "", None, false)?;
    let row = |f: &Face| emb.row(f).expect("every photo of pairs.txt was embedded");
    let scores = pairs.folds.iter().map(|fold| fold.iter().map(|p| net.score(row(&p.a), row(&p.b)) as f64).collect()).collect();
    let same = pairs.folds.iter().map(|fold| fold.iter().map(|p| p.same).collect()).collect();
    Ok((scores, same, emb.missed.len()))
}

/// Embeddings of LFW photos, row by row in `faces`' order, each cut from the deep-funneled
/// image as from the canonical face frame (the model's own crop of it, no detection), 256 at
/// a time on the network's threads.
pub fn embed_frames(net: &crate::model::Siamese, root: &std::path::Path, faces: &[crate::data::lfw::Face]) -> crate::error::Result<Vec<f32>> {
    let c = net.config().clone();
    let (il, d) = (c.input_len(), c.embedding);
    let mut out = vec![0f32; faces.len() * d];
    let mut images = Vec::with_capacity(256 * il);
    for (chunk, o) in faces.chunks(256).zip(out.chunks_mut(256 * d)) {
        images.clear();
        for f in chunk {
            let img = crate::data::photo::open(&f.path(root))?.to_rgb8();
            images.extend(c.input.floats(&crate::face::to_input(&img, &c), c.channels));
        }
        net.embed(&images, o)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_comes_from_the_other_folds() {
        // Folds 1 and 2 separate at 0.5; fold 3 would separate at 0.85 but must use the others'
        // threshold, so its positive at 0.4 is missed and its negative at 0.8 falsely accepted.
        let scores = vec![vec![0.9, 0.1], vec![0.7, 0.3], vec![0.9, 0.8, 0.4, 0.2]];
        let same = vec![vec![true, false], vec![true, false], vec![true, false, true, false]];
        let p = run(&scores, &same);
        assert_eq!(p.folds[2].accuracy, 0.5);
        assert!(p.folds[2].threshold > 0.3 && p.folds[2].threshold < 0.7);
        assert_eq!(p.folds[0].accuracy, 1.0);
        let mean = (1.0 + p.folds[1].accuracy + 0.5) / 3.0;
        assert!((p.mean_accuracy - mean).abs() < 1e-12);
    }
}

/// `siamface eval lfw`: View 2's ten folds for one model, one fold (`fold`, 1-based) or their
/// mean at the top level, and every pair's score for `siamface plot`.
#[derive(Serialize)]
pub struct View2 {
    pub fold: Option<usize>,
    pub accuracy: f64,
    pub threshold: Option<f64>,
    pub auc: f64,
    pub eer: f64,
    pub pairs: usize,
    pub mean_accuracy: f64,
    pub standard_error: f64,
    pub setting: &'static str,
    /// How photos became inputs, and how many had no face found (their frame used instead).
    pub align: super::faces::Align,
    pub faces_missed: usize,
    pub folds: Vec<Fold>,
    pub model: String,
    /// Every pair's score and label, fold by fold, for `siamface plot`.
    pub scores: Vec<Vec<f32>>,
    pub same: Vec<Vec<bool>>,
}

/// Runs View 2 on the LFW folder `lfw` for the model at `model` (on `threads`, in `precision`),
/// reporting `fold` at the top level when one is chosen.
pub fn view2(model: &std::path::Path, threads: usize, precision: crate::engine::gemm::Precision, lfw: &std::path::Path, align: super::faces::Align, fold: Option<usize>) -> crate::error::Result<View2> {
    let folds = crate::data::lfw::Pairs::parse(&lfw.join("pairs.txt"))?.folds.len();
    if let Some(f) = fold.filter(|&f| f == 0 || f > folds) {
        return Err(crate::Error::input(format!("--fold {f}"), format!("pairs.txt has folds 1 to {folds}")));
    }
    let ck = crate::model::io::load(model)?;
    let net = crate::model::Siamese::load(ck, threads, precision)?;
    let (scores, same, missed) = view2_scores(&net, lfw, align)?;
    let proto = run(&scores, &same);
    let chosen = fold.map(|f| proto.folds[f - 1].clone());
    let mean = |f: &dyn Fn(&Fold) -> f64| proto.folds.iter().map(f).sum::<f64>() / proto.folds.len() as f64;
    Ok(View2 {
        fold,
        accuracy: chosen.as_ref().map_or(proto.mean_accuracy, |f| f.accuracy),
        threshold: chosen.as_ref().map(|f| f.threshold),
        auc: chosen.as_ref().map_or_else(|| mean(&|f| f.auc), |f| f.auc),
        eer: chosen.as_ref().map_or_else(|| mean(&|f| f.eer), |f| f.eer),
        pairs: chosen.as_ref().map_or(scores.iter().map(Vec::len).sum(), |f| f.pairs),
        mean_accuracy: proto.mean_accuracy,
        standard_error: proto.standard_error,
        setting: "threshold from the other nine folds; one network for all folds",
        align,
        faces_missed: missed,
        folds: proto.folds,
        model: model.display().to_string(),
        scores: scores.iter().map(|f| f.iter().map(|s| *s as f32).collect()).collect(),
        same,
    })
}

impl std::fmt::Display for View2 {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        for x in &self.folds {
            writeln!(f, "fold {:>2}: accuracy {:.1}% at {:.3}, AUC {:.4}, EER {:.1}%", x.fold, 100.0 * x.accuracy, x.threshold, x.auc, 100.0 * x.eer)?;
        }
        let how = match self.align {
            super::faces::Align::Detect => format!("face pipeline, {} photo(s) without a face", self.faces_missed),
            super::faces::Align::Frame => "LFW's frame, no detection".to_string(),
        };
        writeln!(f, "mean accuracy {:.2}% +- {:.2}% (standard error, {} folds; {how})", 100.0 * self.mean_accuracy, 100.0 * self.standard_error, self.folds.len())
    }
}
