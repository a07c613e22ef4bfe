//! Faces followed across the frames of a video, each named on the evidence of its whole track.
//!
//! A person in front of a camera is seen many times a second, and no single frame is reliable:
//! the same face scores high in one frame and low in the next as it blurs, turns or darkens. So
//! the decision belongs to the track. Each frame's detections are linked to live tracks by box
//! overlap (greedily, best overlap first, against each track's box moved by its last motion);
//! a track survives a few missed frames, and a face that comes back after leaving gets its old
//! track again when its embedding matches what that track had seen. The tracker says which
//! faces need an embedding this frame (a new track at once, then every few frames, within a
//! budget), so several faces cost little more than one.
//!
//! Evidence: the track's recent embeddings are pooled, each weighted by its sighting's quality
//! (`face::quality`), and the pooled embedding is judged against the gallery. Averaging
//! embeddings of one face cancels what varies from frame to frame (blur, noise, expression)
//! and keeps what does not (the person), so the pooled embedding is closer to the person's
//! enrolment than most single frames, and strangers' pooled embeddings stay as far. Frames of
//! one track are strongly correlated, so the thresholds are not derived as if they were
//! independent trials: they are fitted on whole tracks of held-out people (`eval::video`).
//! A track is `named` once its pooled evidence weighs at least `Rule::min_weight` and scores at
//! least `Rule::name_at`; `unknown` once it weighs `Rule::unknown_weight` without that; else
//! `identifying`. The pool is a sliding window, so a name is withdrawn when the evidence turns.
use std::collections::VecDeque;

use serde::Serialize;

/// What a track's evidence says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Identifying,
    Named,
    Unknown,
}

/// When evidence names a track: the model card's `video` section (`model::card`), fitted on
/// held-out people's degraded sequences by `eval video`.
pub use crate::model::card::VideoRule as Rule;

/// How tracks are followed and how often they are embedded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Frames a track survives without a detection.
    pub max_missed: u32,
    /// Least box overlap (intersection over union) that links a detection to a track.
    pub min_iou: f32,
    /// A track is embedded again after this many frames while it is not yet decided...
    pub embed_every: u32,
    /// ...and after this many once it is named or unknown.
    pub embed_every_settled: u32,
    /// Most embeddings per frame; the tracks waiting longest go first.
    pub budget: usize,
    /// Embeddings pooled per track (the most recent).
    pub window: usize,
    /// Frames an ended track is remembered, so that a face coming back gets its track again.
    pub remember: u64,
}

impl Default for Settings {
    /// At 25-30 frames a second: a track is kept through a third of a second of missed
    /// detections, embedded every 3rd frame until decided (so three embeddings within 0.3 s),
    /// every 10th after, and remembered for 5 s after it leaves.
    fn default() -> Settings {
        Settings { max_missed: 10, min_iou: 0.25, embed_every: 3, embed_every_settled: 10, budget: 2, window: 24, remember: 150 }
    }
}

/// One face of one frame, as the tracker sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sighting {
    /// x, y, width, height.
    pub rect: [f32; 4],
    /// `Quality::weight`.
    pub weight: f32,
}

/// A followed face.
#[derive(Clone, Debug)]
pub struct Track {
    pub id: u64,
    pub rect: [f32; 4],
    /// Box centre's motion per frame, for matching the next frame.
    velocity: [f32; 2],
    pub first: u64,
    pub last: u64,
    missed: u32,
    last_embedded: Option<u64>,
    /// Recent embeddings with their weights.
    pool: VecDeque<(Vec<f32>, f32)>,
    pub state: State,
    pub name: Option<String>,
    /// The pooled embedding's best score (whoever it belongs to).
    pub score: f32,
    /// Every name this track carried, in order, with the first frame it was given.
    pub names: Vec<(String, u64)>,
}

impl Track {
    fn new(id: u64, rect: [f32; 4], frame: u64) -> Track {
        Track { id, rect, velocity: [0.0; 2], first: frame, last: frame, missed: 0, last_embedded: None, pool: VecDeque::new(), state: State::Identifying, name: None, score: 0.0, names: Vec::new() }
    }

    /// Sum of the pooled embeddings' weights.
    pub fn weight(&self) -> f32 {
        self.pool.iter().map(|(_, w)| w).sum()
    }

    /// The weighted mean of the pooled embeddings; `None` before the first.
    pub fn pooled(&self) -> Option<Vec<f32>> {
        let total = self.weight();
        let (first, _) = self.pool.front()?;
        let mut m = vec![0f32; first.len()];
        for (e, w) in &self.pool {
            for (m, x) in m.iter_mut().zip(e) {
                *m += x * w / total.max(f32::MIN_POSITIVE);
            }
        }
        Some(m)
    }

    fn predicted(&self) -> [f32; 4] {
        let k = (self.missed + 1) as f32;
        [self.rect[0] + self.velocity[0] * k, self.rect[1] + self.velocity[1] * k, self.rect[2], self.rect[3]]
    }
}

pub use super::detect::iou;

/// Who the pooled embedding of a track looks like: the best-scoring enrolled name and its score.
pub type Judge<'a> = dyn Fn(&[f32]) -> Option<(String, f32)> + 'a;
/// The score of two embeddings (the model's head).
pub type Same<'a> = dyn Fn(&[f32], &[f32]) -> f32 + 'a;

pub struct Tracker {
    pub settings: Settings,
    pub rule: Rule,
    next_id: u64,
    frame: u64,
    live: Vec<Track>,
    /// Ended tracks still remembered, newest last.
    ended: Vec<Track>,
    /// Every track that ever carried a name or was seen, for the summary: (id, first, last,
    /// names).
    history: Vec<Track>,
}

impl Tracker {
    pub fn new(settings: Settings, rule: Rule) -> Tracker {
        Tracker { settings, rule, next_id: 1, frame: 0, live: Vec::new(), ended: Vec::new(), history: Vec::new() }
    }

    /// The frame `link` was last called for.
    pub fn frame(&self) -> u64 {
        self.frame
    }

    pub fn live(&self) -> &[Track] {
        &self.live
    }

    /// Links one frame's sightings to tracks, starting new ones; returns each sighting's track
    /// id and whether it should be embedded this frame (at most `budget` of them, the ones
    /// waiting longest, skipping sightings too poor to judge). Tracks not seen grow older and
    /// end after `max_missed` frames.
    pub fn link(&mut self, frame: u64, sightings: &[Sighting]) -> Vec<(u64, bool)> {
        self.frame = frame;
        let mut pairs = Vec::new();
        for (t, track) in self.live.iter().enumerate() {
            let p = track.predicted();
            for (s, sight) in sightings.iter().enumerate() {
                let o = iou(&p, &sight.rect).max(iou(&track.rect, &sight.rect));
                if o >= self.settings.min_iou {
                    pairs.push((o, t, s));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_of = vec![None; sightings.len()];
        let mut taken = vec![false; self.live.len()];
        for (_, t, s) in pairs {
            if !taken[t] && track_of[s].is_none() {
                taken[t] = true;
                track_of[s] = Some(t);
            }
        }
        for (s, sight) in sightings.iter().enumerate() {
            match track_of[s] {
                Some(t) => {
                    let track = &mut self.live[t];
                    let gap = (frame.saturating_sub(track.last)).max(1) as f32;
                    let centre = |r: &[f32; 4]| [r[0] + r[2] / 2.0, r[1] + r[3] / 2.0];
                    let (a, b) = (centre(&track.rect), centre(&sight.rect));
                    track.velocity = [(b[0] - a[0]) / gap, (b[1] - a[1]) / gap];
                    track.rect = sight.rect;
                    track.last = frame;
                    track.missed = 0;
                }
                None => {
                    self.live.push(Track::new(self.next_id, sight.rect, frame));
                    self.next_id += 1;
                    track_of[s] = Some(self.live.len() - 1);
                }
            }
        }
        // Age the tracks not seen; end those missing too long.
        let max_missed = self.settings.max_missed;
        for track in self.live.iter_mut().filter(|t| t.last != frame) {
            track.missed += 1;
        }
        let index: Vec<usize> = track_of.iter().map(|t| t.expect("every sighting has a track")).collect();
        let ids: Vec<u64> = index.iter().map(|&t| self.live[t].id).collect();
        let (keep, gone): (Vec<Track>, Vec<Track>) = std::mem::take(&mut self.live).into_iter().partition(|t| t.missed <= max_missed);
        self.live = keep;
        for t in gone {
            self.end(t);
        }
        let remember = self.settings.remember;
        self.ended.retain(|t| frame.saturating_sub(t.last) <= remember);
        // Which sightings to embed: the tracks waiting longest first, within the budget.
        let mut due: Vec<(u64, usize)> = Vec::new();
        for (s, sight) in sightings.iter().enumerate() {
            let track = self.live.iter().find(|t| t.id == ids[s]).expect("linked above");
            if sight.weight < super::quality::MIN_WEIGHT {
                continue;
            }
            let every = if track.state == State::Identifying { self.settings.embed_every } else { self.settings.embed_every_settled };
            let waited = match track.last_embedded {
                None => u64::MAX,
                Some(f) => frame.saturating_sub(f),
            };
            if waited >= every as u64 {
                due.push((waited, s));
            }
        }
        due.sort_by(|a, b| b.0.cmp(&a.0));
        let mut embed = vec![false; sightings.len()];
        for &(_, s) in due.iter().take(self.settings.budget) {
            embed[s] = true;
        }
        ids.into_iter().zip(embed).collect()
    }

    fn end(&mut self, t: Track) {
        if !t.pool.is_empty() {
            self.ended.push(t.clone());
        }
        self.history.push(t);
    }

    /// Adds an embedding of track `id`'s face in the current frame, with its quality weight.
    /// A first embedding that matches an ended track (score at least `same_at`) takes that
    /// track's id and evidence: the face came back. An embedding that clearly belongs to
    /// someone else (score under the rule's `split_at` against the track's pool) starts a new
    /// track, because two faces crossed and the boxes swapped.
    pub fn add(&mut self, id: u64, embedding: Vec<f32>, weight: f32, same: &Same, same_at: f32) -> u64 {
        let split_at = self.rule.split_at;
        let frame = self.frame;
        let Some(t) = self.live.iter().position(|t| t.id == id) else {
            return id;
        };
        if let Some(pooled) = self.live[t].pooled() {
            if self.live[t].pool.len() >= 2 && same(&pooled, &embedding) < split_at {
                let rect = self.live[t].rect;
                let old = std::mem::replace(&mut self.live[t], Track::new(self.next_id, rect, frame));
                self.next_id += 1;
                self.end(old);
            }
        }
        let track = &mut self.live[t];
        if track.pool.is_empty() {
            let best = self
                .ended
                .iter()
                .enumerate()
                .filter_map(|(i, old)| old.pooled().map(|p| (i, same(&p, &embedding))))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((i, score)) = best.filter(|b| b.1 >= same_at) {
                let old = self.ended.remove(i);
                self.history.retain(|h| h.id != old.id);
                let (rect, last) = (track.rect, track.last);
                *track = Track { rect, last, missed: 0, velocity: [0.0; 2], ..old };
                let _ = score;
            }
        }
        track.pool.push_back((embedding, weight));
        while track.pool.len() > self.settings.window {
            track.pool.pop_front();
        }
        track.last_embedded = Some(frame);
        track.id
    }

    /// Decides every live track's state from its pool.
    pub fn decide(&mut self, judge: &Judge) {
        let rule = self.rule;
        let frame = self.frame;
        for track in &mut self.live {
            let Some(pooled) = track.pooled() else { continue };
            let weight = track.weight();
            let best = judge(&pooled);
            track.score = best.as_ref().map_or(0.0, |b| b.1);
            let (state, name) = match best {
                Some((name, score)) if weight >= rule.min_weight && score >= rule.name_at => (State::Named, Some(name)),
                _ if weight >= rule.unknown_weight => (State::Unknown, None),
                _ => (State::Identifying, None),
            };
            if let Some(n) = &name {
                if track.names.last().map(|(last, _)| last) != Some(n) {
                    track.names.push((n.clone(), frame));
                }
            }
            track.state = state;
            track.name = name;
        }
    }

    /// Every track seen so far, ended and live, by id.
    pub fn summary(&self) -> Vec<&Track> {
        let mut all: Vec<&Track> = self.history.iter().chain(self.live.iter()).collect();
        all.sort_by_key(|t| t.id);
        all.dedup_by_key(|t| t.id);
        all
    }
}

#[cfg(test)]
#[path = "track_tests.rs"]
mod tests;
