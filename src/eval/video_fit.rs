//! Fitting and measuring the track rule on degraded sequences of held-out people
//! (`eval::video` makes them). Frame by frame, each track's evidence so far is pooled as the
//! tracker pools it and judged against the gallery, so the rates below are those of the live
//! stream: a stranger's track counts as falsely named if any of its frames carries a name.
use serde::Serialize;

use super::calibrate::threshold_at_far;
use super::verification;
use super::video::{pooled, TrackRun, FRAMES};
use crate::face::track::{Rule, Settings};
use crate::model::Siamese;

/// A gallery (one clean photo's embedding per enrolled person) and tracks of enrolled people and
/// of strangers.
pub struct Setup {
    pub enrolled: Vec<(String, Vec<f32>)>,
    pub tracks: Vec<TrackRun>,
}

/// Frame 15 is half a second into a track at 30 frames a second.
pub const HALF_SECOND: usize = 15;

#[derive(Clone, Debug, Serialize)]
pub struct Rates {
    pub genuine_tracks: usize,
    pub stranger_tracks: usize,
    /// Genuine pairs' TAR at FAR 1e-3 and 1e-4: single embedded frames, and whole tracks pooled.
    pub frame_tar_at_far_1e3: f64,
    pub frame_tar_at_far_1e4: f64,
    pub track_tar_at_far_1e3: f64,
    pub track_tar_at_far_1e4: f64,
    /// With the rule: genuine frames from half a second on that carry the right name.
    pub named_after_half_second: f64,
    /// Genuine frames (any time) that carry the right name, and another person's name.
    pub named_right: f64,
    pub named_wrong: f64,
    /// Stranger frames that carry a name, and stranger tracks named at least once.
    pub stranger_frames_named: f64,
    pub stranger_tracks_named: f64,
    /// Frames from the first frame to the first right name, median over genuine tracks named.
    pub median_frames_to_name: Option<usize>,
}

impl Setup {
    fn owner(&self, t: &TrackRun) -> Option<usize> {
        self.enrolled.iter().position(|(n, _)| n == &t.person)
    }

    /// (score, genuine) of every embedded frame and of every whole pooled track against every
    /// enrolled person.
    pub fn pairs(&self, net: &Siamese, whole: bool) -> (Vec<f64>, Vec<bool>) {
        let (mut s, mut y) = (Vec::new(), Vec::new());
        for t in &self.tracks {
            let own = self.owner(t);
            let probes: Vec<Vec<f32>> = if whole { pooled(&t.shots, FRAMES, usize::MAX).map(|p| p.0).into_iter().collect() } else { t.shots.iter().map(|s| s.embedding.clone()).collect() };
            for p in &probes {
                for (i, (_, e)) in self.enrolled.iter().enumerate() {
                    s.push(net.score(p, e) as f64);
                    y.push(own == Some(i));
                }
            }
        }
        (s, y)
    }

    /// Per track, per frame: the best enrolled person and score of the evidence pooled so far,
    /// and its weight (`None` before the first embedding).
    fn replay(&self, net: &Siamese, window: usize) -> Vec<Vec<Option<(usize, f32, f32)>>> {
        self.tracks
            .iter()
            .map(|t| {
                (0..FRAMES)
                    .map(|f| {
                        let (p, w) = pooled(&t.shots, f + 1, window)?;
                        let best = self.enrolled.iter().enumerate().map(|(i, (_, e))| (i, net.score(&p, e))).max_by(|a, b| a.1.total_cmp(&b.1))?;
                        Some((best.0, best.1, w))
                    })
                    .collect()
            })
            .collect()
    }

    /// The rule's rates on these tracks.
    pub fn rates(&self, net: &Siamese, rule: &Rule) -> Rates {
        let window = Settings::default().window;
        let replay = self.replay(net, window);
        let (fs, fy) = self.pairs(net, false);
        let (ts, ty) = self.pairs(net, true);
        let (fc, tc) = (verification::roc(&fs, &fy), verification::roc(&ts, &ty));
        let (mut right, mut wrong, mut genuine_frames, mut late_right, mut late_frames) = (0usize, 0usize, 0usize, 0usize, 0usize);
        let (mut stranger_named, mut stranger_frames, mut stranger_tracks_named) = (0usize, 0usize, 0usize);
        let mut to_name = Vec::new();
        let (mut genuine_tracks, mut stranger_tracks) = (0, 0);
        for (t, frames) in self.tracks.iter().zip(&replay) {
            let own = self.owner(t);
            let mut named_once = false;
            match own {
                Some(_) => genuine_tracks += 1,
                None => stranger_tracks += 1,
            }
            for (f, state) in frames.iter().enumerate() {
                let name = state.filter(|s| s.2 >= rule.min_weight && s.1 >= rule.name_at).map(|s| s.0);
                match own {
                    Some(o) => {
                        genuine_frames += 1;
                        right += (name == Some(o)) as usize;
                        wrong += (name.is_some() && name != Some(o)) as usize;
                        if f >= HALF_SECOND {
                            late_frames += 1;
                            late_right += (name == Some(o)) as usize;
                        }
                        if name == Some(o) && !named_once {
                            named_once = true;
                            to_name.push(f);
                        }
                    }
                    None => {
                        stranger_frames += 1;
                        stranger_named += name.is_some() as usize;
                        named_once |= name.is_some();
                    }
                }
            }
            if own.is_none() && named_once {
                stranger_tracks_named += 1;
            }
        }
        to_name.sort();
        let r = |a: usize, b: usize| a as f64 / b.max(1) as f64;
        Rates {
            genuine_tracks,
            stranger_tracks,
            frame_tar_at_far_1e3: verification::tar_at_far(&fc, 1e-3),
            frame_tar_at_far_1e4: verification::tar_at_far(&fc, 1e-4),
            track_tar_at_far_1e3: verification::tar_at_far(&tc, 1e-3),
            track_tar_at_far_1e4: verification::tar_at_far(&tc, 1e-4),
            named_after_half_second: r(late_right, late_frames),
            named_right: r(right, genuine_frames),
            named_wrong: r(wrong, genuine_frames),
            stranger_frames_named: r(stranger_named, stranger_frames),
            stranger_tracks_named: r(stranger_tracks_named, stranger_tracks),
            median_frames_to_name: to_name.get(to_name.len() / 2).copied(),
        }
    }

    /// The highest pooled score each (track, other person) pair reaches at any frame whose
    /// evidence weighs at least `min_weight`: the pair is falsely accepted if the threshold is
    /// at or under it.
    fn impostor_peaks(&self, net: &Siamese, min_weight: f32) -> Vec<f64> {
        let window = Settings::default().window;
        let mut peaks = Vec::new();
        for t in &self.tracks {
            let own = self.owner(t);
            let mut peak = vec![f64::NEG_INFINITY; self.enrolled.len()];
            for f in 0..FRAMES {
                let Some((p, w)) = pooled(&t.shots, f + 1, window) else { continue };
                if w < min_weight {
                    continue;
                }
                for (i, (_, e)) in self.enrolled.iter().enumerate() {
                    if own != Some(i) {
                        peak[i] = peak[i].max(net.score(&p, e) as f64);
                    }
                }
            }
            peaks.extend(peak.into_iter().enumerate().filter(|(i, v)| own != Some(*i) && v.is_finite()).map(|(_, v)| v));
        }
        peaks
    }

    /// The rule for a false-accept rate of `far` per (track, enrolled person) pair: for each
    /// candidate evidence weight, the lowest threshold that meets `far` on these tracks; the
    /// weight that then names the most genuine frames after half a second wins. `split_at` is
    /// the score that 1% of strangers' single frames reach against someone else's enrolment: a
    /// frame under it, against its own track's evidence, is someone else. (Not fitted on
    /// genuine frames against their own track: these tracks are made from one photo each, so
    /// their frames agree far more closely than a real face's frames do.)
    pub fn fit(&self, net: &Siamese, far: f64) -> Rule {
        let mut best: Option<(f64, Rule)> = None;
        for min_weight in [0.5f32, 1.0, 1.5, 2.0, 3.0] {
            let peaks = self.impostor_peaks(net, min_weight);
            let no = vec![false; peaks.len()];
            let name_at = (threshold_at_far(&peaks, &no, far) as f32).min(1.0);
            let rule = Rule { name_at, min_weight, unknown_weight: 2.0 * min_weight + 1.0, split_at: 0.0 };
            let got = self.rates(net, &rule).named_after_half_second;
            if best.as_ref().is_none_or(|b| got > b.0) {
                best = Some((got, rule));
            }
        }
        let (_, mut rule) = best.expect("five candidates");
        let (fs, fy) = self.pairs(net, false);
        rule.split_at = (threshold_at_far(&fs, &fy, 1e-2) as f32).clamp(0.0, 1.0);
        rule
    }

    /// The same people and only the tracks `keep` says.
    pub fn only(&self, keep: impl Fn(&TrackRun) -> bool) -> Setup {
        Setup { enrolled: self.enrolled.clone(), tracks: self.tracks.iter().filter(|t| keep(t)).cloned().collect() }
    }
}
