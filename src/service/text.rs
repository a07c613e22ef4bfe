//! The service's answers as the command line prints them (the HTTP API answers the same values
//! as JSON): scores beside the threshold they were held against, with the digits that tell them
//! apart (`card::show`).
use std::collections::HashMap;
use std::fmt::{self, Display, Formatter};

use super::card::{show, show_like};
use super::stream::{FrameReport, Seen};
use super::{Comparison, Enrolled, Named, People, Verdict};
use crate::face::track::State;

impl Display for Comparison {
    fn fmt(&self, f: &mut Formatter) -> fmt::Result {
        let what = if self.same { "same person" } else { "different people" };
        writeln!(f, "{what}: score {} (threshold {})", show_like(self.score, self.threshold), show(self.threshold))
    }
}

impl Display for Enrolled {
    fn fmt(&self, f: &mut Formatter) -> fmt::Result {
        writeln!(f, "enrolled {} from {} photo(s)", self.name, self.images)
    }
}

impl Display for Verdict {
    fn fmt(&self, f: &mut Formatter) -> fmt::Result {
        let word = if self.verified { "verified" } else { "not verified" };
        writeln!(f, "{}: {word} ({:.0}% of {} enrolment images at or above {})", self.name, 100.0 * self.fraction, self.scores.len(), show(self.detection))
    }
}

/// The name, or why nobody was named (no newline: a photo's line starts with its file).
impl Display for Named {
    fn fmt(&self, f: &mut Formatter) -> fmt::Result {
        match (&self.name, &self.nearest) {
            (Some(n), _) => write!(f, "{n} (score {}, needs {})", show_like(self.score, self.threshold), show(self.threshold)),
            (None, Some(best)) => write!(f, "unknown (best: {best} {}, needs {})", show_like(self.score, self.threshold), show(self.threshold)),
            (None, None) => write!(f, "unknown (nobody is enrolled)"),
        }
    }
}

impl Display for People {
    fn fmt(&self, f: &mut Formatter) -> fmt::Result {
        if self.people.is_empty() {
            return writeln!(f, "no one is enrolled yet (siamface enroll NAME PHOTO adds someone)");
        }
        self.people.iter().try_for_each(|p| writeln!(f, "{}\t{} image(s)", p.name, p.images))
    }
}

/// A video's faces as a person reads them: a line whenever a track settles on a name (or on
/// "unknown") or changes it, stamped with its time (its frame where the rate is unknown), and
/// at the end who was seen.
pub struct Log {
    fps: Option<f64>,
    /// Each track's last state and name, to print changes only.
    shown: HashMap<u64, (State, Option<String>)>,
}

impl Log {
    pub fn new(fps: Option<f64>) -> Log {
        Log { fps, shown: HashMap::new() }
    }

    fn when(&self, frame: u64) -> String {
        match self.fps {
            Some(f) => format!("{:>8.2}s", frame as f64 / f),
            None => format!("frame {frame:>5}"),
        }
    }

    /// The lines a frame adds, each ending in a newline.
    pub fn frame(&mut self, report: &FrameReport) -> String {
        let mut out = String::new();
        for f in &report.faces {
            let now = (f.state, f.name.clone());
            if self.shown.get(&f.track) != Some(&now) && f.state != State::Identifying {
                let what = match &f.name {
                    Some(n) => format!("{n} (score {})", show(f.score)),
                    None => format!("unknown (best score {})", show(f.score)),
                };
                out += &format!("{}  track {}: {what}\n", self.when(report.frame), f.track);
                self.shown.insert(f.track, now);
            }
        }
        out
    }

    /// Who was seen in `frames` frames. Tracks of a frame or two are mostly the detector's
    /// mistakes: they are left out here (the JSON summary lists them).
    pub fn summary(&self, frames: u64, seen: &[Seen]) -> String {
        let mut out = format!("{frames} frames; who was seen:\n");
        for s in seen.iter().filter(|s| s.last >= s.first + 2) {
            let who = s.name.as_deref().unwrap_or("unknown");
            out += &format!("  track {}: {who}, {} to {}\n", s.track, self.when(s.first).trim(), self.when(s.last).trim());
        }
        out
    }
}
