//! The gallery commands: enroll, verify, identify, people, rename, forget.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use crate::config::ModelConfig;
use crate::face::{self, Detector};
use crate::gallery::{self, Enrolment, Gallery};
use crate::model::{io, Siamese};

/// Options every gallery command shares.
#[derive(clap::Args)]
pub struct Common {
    /// Gallery file (SQLite); default: $XDG_DATA_HOME/siamface/gallery.sqlite or
    /// ~/.local/share/siamface/gallery.sqlite.
    #[arg(long)]
    gallery: Option<PathBuf>,
    /// Face model directory or .safetensors file.
    #[arg(long, default_value = "models/face")]
    model: PathBuf,
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print JSON for programs.
    #[arg(long)]
    json: bool,
}

pub fn default_gallery() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("siamface").join("gallery.sqlite")
}

impl Common {
    fn gallery(&self) -> anyhow::Result<Gallery> {
        let path = self.gallery.clone().unwrap_or_else(default_gallery);
        Ok(Gallery::open(&path)?)
    }
}

/// The model, detector and thresholds a command that looks at faces needs.
struct Eyes {
    net: Siamese,
    cfg: ModelConfig,
    det: Detector,
    id: String,
    threshold: f32,
}

impl Eyes {
    fn load(c: &Common) -> anyhow::Result<Self> {
        let ck = io::load(&c.model).with_context(|| format!("loading the face model {}", c.model.display()))?;
        let id = gallery::fingerprint(&ck.params.data);
        let cfg = ck.config.clone();
        let threshold = super::compare::card_threshold(&c.model).unwrap_or(0.5) as f32;
        Ok(Eyes { net: Siamese::new(ck.config, ck.params, c.threads)?, cfg, det: Detector::new()?, id, threshold })
    }

    fn embed(&mut self, input: &[u8]) -> anyhow::Result<Vec<f32>> {
        Ok(self.net.embed_bytes(input)?)
    }

    /// Keeps the gallery's cached embeddings in step with this model.
    fn sync(&mut self, g: &mut Gallery) -> anyhow::Result<()> {
        if g.model()?.is_some_and(|m| m != self.id) {
            let mut fresh = Vec::new();
            for (id, png) in g.crops()? {
                let img = image::load_from_memory(&png).context("stored crop")?.to_rgb8();
                fresh.push((id, self.embed(&face::to_input(&img, &self.cfg))?));
            }
            g.reembed(&fresh, &self.id)?;
        }
        Ok(())
    }
}

#[derive(clap::Args)]
pub struct EnrollArgs {
    /// The person's name.
    name: String,
    /// One photo (one-shot) or several.
    #[arg(required = true)]
    photos: Vec<PathBuf>,
    /// Add these photos to someone already enrolled.
    #[arg(long)]
    add: bool,
    #[command(flatten)]
    common: Common,
}

pub fn enroll(a: EnrollArgs) -> anyhow::Result<ExitCode> {
    let mut eyes = Eyes::load(&a.common)?;
    let mut g = a.common.gallery()?;
    eyes.sync(&mut g)?;
    let mut items = Vec::new();
    // Every photo is checked before anything is written: one bad photo enrols nothing.
    for p in &a.photos {
        let img = crate::data::photo::open(p)?.to_rgb8();
        let found = face::locate(&eyes.det, &img, &eyes.cfg, p)?;
        if found.faces_in_photo > 1 {
            eprintln!("note: {}: {} faces found; enrolling the largest", p.display(), found.faces_in_photo);
        }
        let canon = face::canonical(&img, &found.face);
        let mut png = Vec::new();
        canon.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
        items.push(Enrolment { crop_png: png, embedding: eyes.embed(&found.input)? });
    }
    g.enroll(&a.name, &items, &eyes.id, a.add)?;
    if a.common.json {
        println!("{}", serde_json::json!({"enrolled": a.name, "images": items.len()}));
    } else {
        println!("enrolled {} from {} photo(s)", a.name, items.len());
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct IdentifyArgs {
    #[arg(required = true)]
    photos: Vec<PathBuf>,
    /// Lowest score that names someone; default: the model card's threshold, else 0.5.
    #[arg(long)]
    threshold: Option<f32>,
    #[command(flatten)]
    common: Common,
}

#[derive(Serialize)]
struct FaceOut {
    name: Option<String>,
    score: f32,
    #[serde(rename = "box")]
    rect: [f32; 4],
}

pub fn identify(a: IdentifyArgs) -> anyhow::Result<ExitCode> {
    let mut eyes = Eyes::load(&a.common)?;
    let mut g = a.common.gallery()?;
    eyes.sync(&mut g)?;
    let m = g.matrix()?;
    let threshold = a.threshold.unwrap_or(eyes.threshold);
    let mut scratch = Vec::new();
    for p in &a.photos {
        let img = crate::data::photo::open(p)?.to_rgb8();
        let mut faces = Vec::new();
        for f in eyes.det.detect(&img)?.into_iter().filter(|f| f.rect[2] >= face::MIN_FACE_PX) {
            let input = face::to_input(&face::canonical(&img, &f), &eyes.cfg);
            let e = eyes.embed(&input)?;
            let hit = gallery::identify(&eyes.net, &m, &e, threshold, &mut scratch)?;
            faces.push(FaceOut { name: hit.name, score: hit.score, rect: f.rect });
        }
        if a.common.json {
            let mut v = serde_json::json!({ "faces": faces });
            if a.photos.len() > 1 {
                v["file"] = serde_json::json!(p.display().to_string());
            }
            println!("{v}");
        } else if faces.is_empty() {
            println!("{}: no face found", p.display());
        } else {
            for f in &faces {
                println!("{}: {} (score {:.3})", p.display(), f.name.as_deref().unwrap_or("unknown"), f.score);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    photo: PathBuf,
    /// The person the photo claims to show.
    #[arg(long = "as")]
    claimed: String,
    /// Score at which one enrolment image accepts the face (default: the model card's, else 0.5).
    #[arg(long)]
    detection: Option<f32>,
    /// Fraction of enrolment images that must accept the face (default: the model card's,
    /// calibrated on held-out people; else 0.5).
    #[arg(long)]
    verification: Option<f32>,
    #[command(flatten)]
    common: Common,
}

pub fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let mut eyes = Eyes::load(&a.common)?;
    let mut g = a.common.gallery()?;
    eyes.sync(&mut g)?;
    let m = g.matrix()?;
    if !m.names.contains(&a.claimed) {
        anyhow::bail!("name `{}`: is not enrolled", a.claimed);
    }
    let found = face::from_file(&eyes.det, &a.photo, &eyes.cfg)?;
    let e = eyes.embed(&found.input)?;
    let scores = m.claim_scores(&eyes.net, &a.claimed, &e).expect("enrolled, checked above");
    let detection = a.detection.unwrap_or(eyes.threshold);
    let verification = a.verification.or_else(|| super::compare::card_value(&a.common.model, "verification").map(|v| v as f32)).unwrap_or(0.5);
    let (ok, fraction) = gallery::verify_rule(&scores, detection, verification);
    if a.common.json {
        println!("{}", serde_json::json!({"verified": ok, "name": a.claimed, "fraction": fraction, "scores": scores, "detection": detection, "verification": verification}));
    } else {
        println!("{}: {} ({:.0}% of {} enrolment images above {:.2})", a.claimed, if ok { "verified" } else { "not verified" }, 100.0 * fraction, scores.len(), detection);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct PeopleArgs {
    #[command(flatten)]
    common: Common,
}

pub fn people(a: PeopleArgs) -> anyhow::Result<ExitCode> {
    let list = a.common.gallery()?.people()?;
    if a.common.json {
        let v: Vec<_> = list.iter().map(|(n, k)| serde_json::json!({"name": n, "images": k})).collect();
        println!("{}", serde_json::json!({ "people": v }));
    } else {
        for (n, k) in &list {
            println!("{n}\t{k} image(s)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct ForgetArgs {
    name: String,
    #[command(flatten)]
    common: Common,
}

pub fn forget(a: ForgetArgs) -> anyhow::Result<ExitCode> {
    a.common.gallery()?.forget(&a.name)?;
    println!("forgot {}", a.name);
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct RenameArgs {
    old: String,
    new: String,
    #[command(flatten)]
    common: Common,
}

pub fn rename(a: RenameArgs) -> anyhow::Result<ExitCode> {
    a.common.gallery()?.rename(&a.old, &a.new)?;
    println!("renamed {} to {}", a.old, a.new);
    Ok(ExitCode::SUCCESS)
}
