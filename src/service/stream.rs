//! Faces in a video: one `Stream` per video (a file, a pipe, a WebSocket connection) follows
//! every face across frames (`face::track`) and names each track on the evidence of its whole
//! history. The command line (`identify --video`) and the server (`/api/stream`) both feed it
//! decoded frames and print or send what it answers, so both name faces the same way.
use image::RgbImage;
use serde::Serialize;

use super::{card, FaceService, Faces};
use crate::error::Result;
use crate::face::track::{Rule, Settings, Sighting, State, Tracker};
use crate::face::Detection;
use crate::gallery;

/// One face of one frame, as answered.
#[derive(Clone, Debug, Serialize)]
pub struct TrackFace {
    pub track: u64,
    /// x, y, width, height in the frame's pixels.
    #[serde(rename = "box")]
    pub rect: [f32; 4],
    pub state: State,
    pub name: Option<String>,
    /// The track's pooled score against its best match (0 before its first embedding).
    pub score: f32,
}

/// A frame's answer.
#[derive(Clone, Debug, Serialize)]
pub struct FrameReport {
    pub frame: u64,
    pub faces: Vec<TrackFace>,
}

/// A track in the summary at the end of a video.
#[derive(Clone, Debug, Serialize)]
pub struct Seen {
    pub track: u64,
    /// The last name the track carried, `None` if it was never named.
    pub name: Option<String>,
    pub first: u64,
    pub last: u64,
}

/// The rule tracks are named by: the model card's `video` section (calibrated on held-out
/// people's degraded sequences by `eval video`), else the card's pair threshold with the
/// default evidence weights.
pub fn rule(c: &card::Card) -> Rule {
    c.video.unwrap_or(Rule { name_at: c.same_at(), min_weight: 1.5, unknown_weight: 4.0, split_at: 0.5 * c.same_at() })
}

/// One video's tracker and its frame counter.
pub struct Stream {
    tracker: Tracker,
    frame: u64,
    same_at: f32,
    scores: Vec<f32>,
}

impl Stream {
    /// A stream named by the rule of `faces`' card, with `settings` for following faces.
    pub fn new(faces: &Faces, settings: Settings) -> Stream {
        Stream { tracker: Tracker::new(settings, rule(faces.card())), frame: 0, same_at: faces.card().same_at(), scores: Vec::new() }
    }

    /// Frames seen so far.
    pub fn frames(&self) -> u64 {
        self.frame
    }

    /// Follows the faces of the next frame and answers who they are.
    pub fn next(&mut self, service: &FaceService, img: &RgbImage) -> Result<FrameReport> {
        let f = service.faces()?;
        let seen = f.pipe.sightings(img, Detection::Live)?;
        let m = service.matrix(f)?;
        let frame = self.frame;
        self.frame += 1;
        let sightings: Vec<Sighting> = seen.iter().map(|s| Sighting { rect: s.face.rect, weight: s.quality.weight }).collect();
        let links = self.tracker.link(frame, &sightings);
        let due: Vec<usize> = links.iter().enumerate().filter(|(_, l)| l.1).map(|(i, _)| i).collect();
        let embedded: Vec<Result<Vec<f32>>> = {
            use rayon::prelude::*;
            due.par_iter().map(|&i| f.embed(&seen[i].input)).collect()
        };
        let same = |a: &[f32], b: &[f32]| f.pipe.net().score(a, b);
        let mut ids: Vec<u64> = links.iter().map(|l| l.0).collect();
        for (&i, e) in due.iter().zip(embedded) {
            let e = e?;
            super::check_dim(&m, &e)?;
            ids[i] = self.tracker.add(ids[i], e, seen[i].quality.weight, &same, self.same_at);
        }
        let scores = std::cell::RefCell::new(std::mem::take(&mut self.scores));
        let judge = |e: &[f32]| gallery::identify(f.pipe.net(), &m, e, 0.0, &mut scores.borrow_mut()).ok().and_then(|hit| hit.nearest.map(|n| (n, hit.score)));
        self.tracker.decide(&judge);
        self.scores = scores.into_inner();
        let faces = ids
            .iter()
            .zip(&seen)
            .map(|(id, s)| {
                let t = self.tracker.live().iter().find(|t| t.id == *id);
                TrackFace {
                    track: *id,
                    rect: s.face.rect,
                    state: t.map_or(State::Identifying, |t| t.state),
                    name: t.and_then(|t| t.name.clone()),
                    score: t.map_or(0.0, |t| t.score),
                }
            })
            .collect();
        Ok(FrameReport { frame, faces })
    }

    /// Every track so far: who it was last named as, and when it was seen.
    pub fn summary(&self) -> Vec<Seen> {
        self.tracker
            .summary()
            .into_iter()
            .map(|t| Seen { track: t.id, name: t.names.last().map(|n| n.0.clone()), first: t.first, last: t.last })
            .collect()
    }
}

/// Images a video enrolment stores: the sharpest frame, then the frames least like those
/// already chosen, so the enrolment covers the clip's poses and light.
pub const VIDEO_ENROL_IMAGES: usize = 5;
/// Longest clip an enrolment reads: two minutes at 25 frames a second.
pub const MAX_ENROL_FRAMES: u64 = 3000;
/// Best sightings kept per track while the clip is read.
const CANDIDATES: usize = 16;

/// A sighting that may be enrolled: its weight, its network input, and the canonical crop the
/// gallery stores (250x250, cut when the sighting is kept, so a long clip of large frames holds
/// crops, not frames).
struct Candidate {
    weight: f32,
    input: Vec<u8>,
    crop: RgbImage,
}

impl FaceService {
    /// Enrols `name` from a short clip of one person (frames from `next` until it gives
    /// `None`): the faces are followed as in `identify --video`, the one track is required to
    /// be the only person in the clip, and its sharpest, most varied frames are stored.
    pub fn enroll_video(&self, name: &str, next: &mut dyn FnMut() -> Result<Option<RgbImage>>, add: bool) -> Result<super::Enrolled> {
        let f = self.faces()?;
        let name = gallery::name::canonical(name)?;
        let mut tracker = Tracker::new(Settings::default(), rule(f.card()));
        let mut candidates: std::collections::HashMap<u64, (usize, Vec<Candidate>)> = Default::default();
        let mut frame = 0u64;
        while let Some(img) = next()? {
            if frame == MAX_ENROL_FRAMES {
                return Err(crate::Error::input("video", format!("more than {MAX_ENROL_FRAMES} frames; enrol from a short clip of the person")));
            }
            let seen = f.pipe.sightings(&img, Detection::Live)?;
            let sightings: Vec<Sighting> = seen.iter().map(|s| Sighting { rect: s.face.rect, weight: s.quality.weight }).collect();
            let links = tracker.link(frame, &sightings);
            for (s, (id, _)) in seen.into_iter().zip(links) {
                let entry = candidates.entry(id).or_default();
                entry.0 += 1;
                let worst = entry.1.iter().map(|c| c.weight).fold(f32::INFINITY, f32::min);
                if s.quality.weight >= crate::face::quality::MIN_WEIGHT && (entry.1.len() < CANDIDATES || s.quality.weight > worst) {
                    if entry.1.len() == CANDIDATES {
                        let at = entry.1.iter().position(|c| c.weight == worst).expect("the worst is there");
                        entry.1.swap_remove(at);
                    }
                    entry.1.push(Candidate { weight: s.quality.weight, input: s.input, crop: crate::face::canonical(&img, &s.face) });
                }
            }
            frame += 1;
        }
        let mut tracks: Vec<(usize, Vec<Candidate>)> = candidates.into_values().collect();
        tracks.sort_by(|a, b| b.0.cmp(&a.0));
        let Some((seen, cands)) = tracks.first() else {
            return Err(crate::Error::input("video", format!("no face found in {frame} frame(s)")));
        };
        let others = tracks.iter().skip(1).filter(|t| t.0 * 4 >= *seen).count();
        if others > 0 {
            return Err(crate::Error::input("video", format!("{} people appear in the clip; enrol from a clip of one person", others + 1)));
        }
        if cands.is_empty() {
            return Err(crate::Error::input("video", "no frame shows the face large, sharp and lit enough to enrol"));
        }
        let embeddings: Vec<Vec<f32>> = {
            use rayon::prelude::*;
            cands.par_iter().map(|c| f.embed(&c.input)).collect::<Result<_>>()?
        };
        let chosen = varied(cands, &embeddings, VIDEO_ENROL_IMAGES);
        let items = chosen.iter().map(|&i| f.enrolment_of(&cands[i].crop, &cands[i].input)).collect::<Result<Vec<_>>>()?;
        let stored = self.store(f, &name, &items, add)?;
        Ok(super::Enrolled { name: stored, images: items.len(), crowded: Vec::new() })
    }
}

/// Up to `k` candidates: the best-weighted first, then each time the one farthest (in
/// embedding distance) from all chosen, among those weighing at least half the best.
fn varied(cands: &[Candidate], emb: &[Vec<f32>], k: usize) -> Vec<usize> {
    let best = (0..cands.len()).max_by(|&a, &b| cands[a].weight.total_cmp(&cands[b].weight)).expect("at least one candidate");
    let floor = cands[best].weight / 2.0;
    let mut chosen = vec![best];
    while chosen.len() < k {
        let dist = |i: usize| chosen.iter().map(|&c| crate::engine::head::euclidean(&emb[i], &emb[c])).fold(f32::INFINITY, f32::min);
        let next = (0..cands.len()).filter(|i| !chosen.contains(i) && cands[*i].weight >= floor).max_by(|&a, &b| dist(a).total_cmp(&dist(b)));
        match next {
            Some(i) if dist(i) > 0.0 => chosen.push(i),
            _ => break,
        }
    }
    chosen
}
