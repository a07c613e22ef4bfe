//! The gallery commands: enroll, verify, identify, people, rename, forget. Each parses its
//! arguments, makes one call of the face service, and prints the answer as text or JSON.
use crate::engine::gemm::Precision;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::gallery::Location;
use crate::service::{card, FaceService, Model, Options, Photo};

/// Options every gallery command shares.
#[derive(clap::Args)]
pub struct Common {
    /// Gallery: an SQLite file, or postgres://user@host/db to share one among servers; default:
    /// $XDG_DATA_HOME/siamface/gallery.sqlite or ~/.local/share/siamface/gallery.sqlite.
    #[arg(long, env = "SIAMFACE_GALLERY", value_parser = location)]
    gallery: Option<Location>,
    /// Face model directory or .safetensors file; default: the model built into the binary.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Threads of the model's work; 0 means one per core.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Arithmetic of the model's products: f32, or bf16 (1.4-1.8x faster measured where the CPU has
    /// AVX512_BF16 or AMX; embeddings within bf16's rounding of f32's).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    precision: Precision,
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

/// `--gallery` as typed: a path, or a URL of a supported scheme (else the error names them).
pub fn location(text: &str) -> Result<Location, String> {
    Location::parse(text).map_err(|e| e.to_string().trim_start_matches("gallery: ").to_string())
}

/// `--gallery` or its default.
pub fn gallery_or_default(g: &Option<Location>) -> Location {
    g.clone().unwrap_or_else(|| Location::File(default_gallery()))
}

/// A threshold or fraction on the command line: a number from 0 to 1.
pub fn unit(text: &str) -> Result<f32, String> {
    card::parse_unit("value", text).map_err(|e| e.to_string().trim_start_matches("value: ").to_string())
}

impl Common {
    fn gallery_path(&self) -> Location {
        gallery_or_default(&self.gallery)
    }

    /// The service with the model, for commands that look at faces.
    fn service(&self, threshold: Option<f32>) -> anyhow::Result<FaceService> {
        let o = Options { model: Some(Model::from_arg(self.model.clone())), gallery: self.gallery_path(), threads: self.threads, threshold, precision: self.precision };
        Ok(FaceService::open(&o)?)
    }

    /// The service without a model, for commands about names only.
    fn names(&self) -> anyhow::Result<FaceService> {
        let o = Options { model: None, gallery: self.gallery_path(), threads: self.threads, threshold: None, precision: self.precision };
        Ok(FaceService::open(&o)?)
    }
}

fn photos(paths: &[PathBuf]) -> anyhow::Result<Vec<Photo>> {
    Ok(paths.iter().map(|p| Photo::read(p)).collect::<Result<_, _>>()?)
}

#[derive(clap::Args)]
pub struct EnrollArgs {
    /// The person's name.
    name: String,
    /// One photo (one-shot) or several; with --video, a short clip of the person (a .y4m file,
    /// - for standard input, or images taken as consecutive frames).
    #[arg(required = true)]
    photos: Vec<PathBuf>,
    /// Enrol from a clip: the face is followed across its frames and the sharpest, most varied
    /// of them are stored. The clip must show this one person.
    #[arg(long)]
    video: bool,
    /// Add these photos to someone already enrolled.
    #[arg(long)]
    add: bool,
    #[command(flatten)]
    common: Common,
}

pub fn enroll(a: EnrollArgs) -> anyhow::Result<ExitCode> {
    let service = a.common.service(None)?;
    let done = if a.video { super::video::enroll(&service, &a.name, &a.photos, a.add)? } else { service.enroll(&a.name, &photos(&a.photos)?, a.add)? };
    for (file, n) in &done.crowded {
        eprintln!("note: {file}: {n} faces found; enrolled the largest");
    }
    if a.common.json {
        println!("{}", serde_json::to_string(&done)?);
    } else {
        println!("enrolled {} from {} photo(s)", done.name, done.images);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct IdentifyArgs {
    /// Photos to look at; with --video, one YUV4MPEG2 stream (a .y4m file, or - for standard
    /// input, as `ffmpeg -i clip.mp4 -f yuv4mpegpipe -` writes) or several images taken as
    /// consecutive frames.
    #[arg(required = true)]
    photos: Vec<PathBuf>,
    /// Follow the faces across frames and name each on the evidence of its whole track.
    #[arg(long)]
    video: bool,
    /// Lowest score that names someone in a photo, from 0 to 1; default: the model card's,
    /// else 0.5. (Video tracks are named by the card's video rule.)
    #[arg(long, value_parser = unit)]
    threshold: Option<f32>,
    #[command(flatten)]
    common: Common,
}

/// How one identified face reads: the name, or why nobody was named.
fn named_text(f: &crate::service::Named) -> String {
    match (&f.name, &f.nearest) {
        (Some(n), _) => format!("{n} (score {}, needs {})", card::show_like(f.score, f.threshold), card::show(f.threshold)),
        (None, Some(best)) => format!("unknown (best: {best} {}, needs {})", card::show_like(f.score, f.threshold), card::show(f.threshold)),
        (None, None) => "unknown (nobody is enrolled)".to_string(),
    }
}

/// Each photo is identified on its own: a bad photo is reported and the others still are; the
/// exit code is 2 if any photo could not be read.
pub fn identify(a: IdentifyArgs) -> anyhow::Result<ExitCode> {
    let service = a.common.service(None)?;
    if a.video {
        return super::video::identify(&service, &a.photos, a.common.json);
    }
    let mut failed = 0;
    for p in &a.photos {
        let file = p.display().to_string();
        let faces = match Photo::read(p).and_then(|photo| service.identify(&photo, a.threshold, false)) {
            Ok(f) => f,
            Err(e) => {
                failed += 1;
                if a.common.json {
                    println!("{}", serde_json::json!({ "file": file, "error": e.to_string() }));
                } else {
                    eprintln!("error: {e}");
                }
                continue;
            }
        };
        if a.common.json {
            println!("{}", serde_json::json!({ "file": file, "faces": faces }));
        } else if faces.is_empty() {
            println!("{file}: no face found");
        } else {
            for f in &faces {
                println!("{file}: {}", named_text(f));
            }
        }
    }
    Ok(if failed > 0 { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The photo of the person who claims to be someone enrolled (its largest face is used).
    photo: PathBuf,
    /// The person the photo claims to show.
    #[arg(long = "as")]
    claimed: String,
    /// Score at which one enrolment image accepts the face (default: the model card's, else
    /// 0.5). (`--detection` is the older name of this option.)
    #[arg(long = "image-threshold", alias = "detection", value_parser = unit)]
    detection: Option<f32>,
    /// Fraction of enrolment images that must accept the face (default: the model card's,
    /// calibrated on held-out people; else 0.5).
    #[arg(long, value_parser = unit)]
    verification: Option<f32>,
    #[command(flatten)]
    common: Common,
}

pub fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let service = a.common.service(None)?;
    let v = service.verify(&Photo::read(&a.photo)?, &a.claimed, a.detection, a.verification)?;
    if a.common.json {
        println!("{}", serde_json::to_string(&v)?);
    } else {
        let word = if v.verified { "verified" } else { "not verified" };
        println!("{}: {word} ({:.0}% of {} enrolment images at or above {})", v.name, 100.0 * v.fraction, v.scores.len(), card::show(v.detection));
    }
    // 0 verified, 1 not verified, 2 error (main).
    Ok(if v.verified { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[derive(clap::Args)]
pub struct PeopleArgs {
    #[command(flatten)]
    common: Common,
}

pub fn people(a: PeopleArgs) -> anyhow::Result<ExitCode> {
    let list = a.common.names()?.people()?;
    if a.common.json {
        let v: Vec<_> = list.iter().map(|(n, k)| serde_json::json!({"name": n, "images": k})).collect();
        println!("{}", serde_json::json!({ "people": v }));
    } else if list.is_empty() {
        println!("no one is enrolled yet (siamface enroll NAME PHOTO adds someone)");
    } else {
        for (n, k) in &list {
            println!("{n}\t{k} image(s)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct ForgetArgs {
    /// The person to delete, as enrolled (any case).
    name: String,
    #[command(flatten)]
    common: Common,
}

pub fn forget(a: ForgetArgs) -> anyhow::Result<ExitCode> {
    let name = a.common.names()?.forget(&a.name)?;
    println!("forgot {name}");
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct RenameArgs {
    /// The name as enrolled (any case).
    old: String,
    /// The new name; their pictures and embeddings stay.
    new: String,
    #[command(flatten)]
    common: Common,
}

pub fn rename(a: RenameArgs) -> anyhow::Result<ExitCode> {
    let (old, new) = a.common.names()?.rename(&a.old, &a.new)?;
    println!("renamed {old} to {new}");
    Ok(ExitCode::SUCCESS)
}
