//! The gallery backends side by side (SQLite file and PostgreSQL) at growing numbers of enrolled
//! faces, with ratios against the first one given. `siamface bench-gallery` is this.
use std::fmt::{self, Display, Formatter};
use std::time::Instant;

use serde::Serialize;

use crate::rng::Rng;
use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::model::{Params, Siamese};

/// One gallery backend at one size (`gallery_backends`).
#[derive(Debug, Serialize)]
pub struct GalleryRow {
    pub backend: String,
    pub enrolled: usize,
    /// One-person, one-image enrolments a second, each its own transaction.
    pub enrol_per_s: f64,
    /// Images a second while filling in enrolments of `per_person` images.
    pub fill_images_per_s: f64,
    /// Opening the gallery and reading every embedding: a server's start, and what any server
    /// pays once after someone else's write.
    pub load_ms: f64,
    /// One identification as a server does it per frame: the freshness check and scoring every
    /// embedding (median).
    pub identify_ms: f64,
    /// From one connection's enrolment to another connection's identification seeing it.
    pub visible_ms: f64,
}

/// Every backend at every size, in the order measured.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct GalleryReport {
    pub rows: Vec<GalleryRow>,
}

/// The gallery backends side by side: each location is filled to each size with synthetic
/// embeddings of width `dim` (3-byte crops, so the time is the embeddings' and the
/// transactions'), then timed as `GalleryRow` says. The first location is the baseline of the
/// ratios the command prints.
pub fn gallery_backends(locations: &[crate::gallery::Location], sizes: &[usize], dim: usize, per_person: usize, reps: usize) -> Result<GalleryReport> {
    use crate::gallery::{identify, Enrolment, Store};
    if sizes.is_empty() || !sizes.windows(2).all(|w| w[0] < w[1]) {
        return Err(Error::input("--sizes", format!("increasing numbers, found {sizes:?}")));
    }
    if reps == 0 || per_person == 0 || dim == 0 {
        return Err(Error::input("--reps, --per-person and --dim", "must be at least 1"));
    }
    let cfg = ModelConfig { embedding: dim, ..ModelConfig::small35() };
    let mut rng = Rng::new(9);
    let net = Siamese::new(cfg.clone(), Params::init(&cfg, &mut rng)?, 0)?;
    let query: Vec<f32> = (0..dim).map(|_| rng.uniform() as f32).collect();
    let item = |k: usize| Enrolment { crop_png: vec![1, 2, 3], embedding: (0..dim).map(|j| ((k * 131 + j * 7) % 1000) as f32 / 1000.0).collect() };
    let mut rows = Vec::new();
    for at in locations {
        let mut g = Store::open(at)?;
        if !g.people()?.is_empty() {
            return Err(Error::input("gallery", format!("{at}: the benchmark needs an empty gallery")));
        }
        let mut have = 0usize;
        let mut person = 0usize;
        for &n in sizes {
            // Single enrolments first (counted in the size), then the bulk.
            let single = 200.min(n.saturating_sub(have));
            let t = Instant::now();
            for _ in 0..single {
                g.enroll(&format!("p{person}"), &[item(person)], "bench", false)?;
                person += 1;
            }
            let enrol_per_s = single as f64 / t.elapsed().as_secs_f64().max(1e-9);
            have += single;
            let t = Instant::now();
            let filled_from = have;
            while have < n {
                let k = per_person.min(n - have);
                let items: Vec<Enrolment> = (0..k).map(|i| item(have + i)).collect();
                g.enroll(&format!("p{person}"), &items, "bench", false)?;
                person += 1;
                have += k;
            }
            let fill_images_per_s = (have - filled_from) as f64 / t.elapsed().as_secs_f64().max(1e-9);
            let t = Instant::now();
            let mut reader = Store::open(at)?;
            let m = reader.matrix()?;
            let load_ms = 1e3 * t.elapsed().as_secs_f64();
            if m.owner.len() != have {
                return Err(Error::Internal(format!("{at}: read {} embeddings, enrolled {have}", m.owner.len())));
            }
            drop(m);
            let mut scratch = Vec::new();
            let mut times = Vec::with_capacity(reps);
            for _ in 0..reps {
                let t = Instant::now();
                let m = reader.matrix()?;
                identify(&net, &m, &query, 0.5, &mut scratch)?;
                times.push(t.elapsed().as_secs_f64());
            }
            times.sort_by(f64::total_cmp);
            let identify_ms = 1e3 * times[times.len() / 2];
            let name = format!("p{person}");
            let t = Instant::now();
            g.enroll(&name, &[item(person)], "bench", false)?;
            person += 1;
            have += 1;
            while !reader.matrix()?.names.iter().any(|x| *x == name) {}
            let visible_ms = 1e3 * t.elapsed().as_secs_f64();
            let backend = match at {
                crate::gallery::Location::File(_) => "sqlite",
                crate::gallery::Location::Postgres(_) => "postgres",
            };
            rows.push(GalleryRow { backend: backend.into(), enrolled: n, enrol_per_s, fill_images_per_s, load_ms, identify_ms, visible_ms });
        }
    }
    Ok(GalleryReport { rows })
}

impl Display for GalleryReport {
    fn fmt(&self, f: &mut Formatter) -> fmt::Result {
        let rows = &self.rows;
        writeln!(f, "{:>9} {:>9} {:>11} {:>14} {:>10} {:>12} {:>11}", "backend", "enrolled", "enrol/s", "fill images/s", "load ms", "identify ms", "visible ms")?;
        for r in rows {
            writeln!(
                f,
                "{:>9} {:>9} {:>11.0} {:>14.0} {:>10.1} {:>12.3} {:>11.1}",
                r.backend, r.enrolled, r.enrol_per_s, r.fill_images_per_s, r.load_ms, r.identify_ms, r.visible_ms
            )?;
        }
        let Some(first) = rows.first() else { return Ok(()) };
        let base: Vec<_> = rows.iter().filter(|r| r.backend == first.backend).collect();
        for r in rows.iter().filter(|r| r.backend != first.backend) {
            if let Some(b) = base.iter().find(|b| b.enrolled == r.enrolled) {
                writeln!(
                    f,
                    "{} / {} at {}: enrol/s x{:.2}, load x{:.2}, identify x{:.2}, visible x{:.2}",
                    r.backend, b.backend, r.enrolled, r.enrol_per_s / b.enrol_per_s, r.load_ms / b.load_ms, r.identify_ms / b.identify_ms, r.visible_ms / b.visible_ms
                )?;
            }
        }
        Ok(())
    }
}
