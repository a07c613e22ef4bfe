//! The service's answers as the command line prints them (the HTTP API answers the same values
//! as JSON): scores beside the threshold they were held against, with the digits that tell them
//! apart (`card::show`).
use std::fmt::{self, Display, Formatter};

use super::card::{show, show_like};
use super::{Comparison, Enrolled, Named, People, Verdict};

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
