//! The gallery commands: enroll, verify, identify, people, rename, forget. Each parses its
//! arguments, makes one call of the face service, and prints the answer as text or JSON;
//! `identify --video` prints each track as its name changes.
use std::path::PathBuf;
use std::process::ExitCode;

use super::options::{unit, FaceModel, GalleryArg};
use crate::service::{FaceService, Photo};

/// Options every gallery command shares.
#[derive(clap::Args)]
pub struct Common {
    #[command(flatten)]
    gallery: GalleryArg,
    #[command(flatten)]
    model: FaceModel,
    /// Print JSON for programs.
    #[arg(long)]
    json: bool,
}

impl Common {
    /// The service, with the model for commands that look at `faces`.
    fn service(&self, faces: bool) -> crate::Result<FaceService> {
        self.model.service(self.gallery.location(), None, faces)
    }
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
    let done = a.common.service(true)?.enroll_files(&a.name, &a.photos, a.video, a.add)?;
    done.notes().for_each(|note| eprintln!("{note}"));
    super::show(a.common.json, &done)
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

/// Each photo is identified on its own: a bad photo is reported and the others still are; the
/// exit code is 2 if any photo could not be read.
pub fn identify(a: IdentifyArgs) -> anyhow::Result<ExitCode> {
    let service = a.common.service(true)?;
    if a.video {
        service.follow(&a.photos, a.common.json, &mut |text| print!("{text}"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = false;
    for answer in a.photos.iter().map(|p| service.identify_file(p, a.threshold)) {
        failed |= answer.failed();
        if answer.failed() && !a.common.json {
            eprint!("{answer}");
        } else {
            super::show(a.common.json, &answer)?;
        }
    }
    Ok(if failed { ExitCode::from(2) } else { ExitCode::SUCCESS })
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
    #[arg(long = "image-threshold", alias = "detection", value_name = "IMAGE_THRESHOLD", value_parser = unit)]
    detection: Option<f32>,
    /// Fraction of enrolment images that must accept the face (default: the model card's,
    /// calibrated on held-out people; else 0.5).
    #[arg(long, value_parser = unit)]
    verification: Option<f32>,
    #[command(flatten)]
    common: Common,
}

pub fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let v = a.common.service(true)?.verify(&Photo::read(&a.photo)?, &a.claimed, a.detection, a.verification)?;
    super::show(a.common.json, &v)?;
    // 0 verified, 1 not verified, 2 error (main).
    Ok(if v.verified { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[derive(clap::Args)]
pub struct PeopleArgs {
    #[command(flatten)]
    common: Common,
}

pub fn people(a: PeopleArgs) -> anyhow::Result<ExitCode> {
    super::show(a.common.json, &a.common.service(false)?.people()?)
}

#[derive(clap::Args)]
pub struct ForgetArgs {
    /// The person to delete, as enrolled (any case).
    name: String,
    #[command(flatten)]
    common: Common,
}

pub fn forget(a: ForgetArgs) -> anyhow::Result<ExitCode> {
    println!("forgot {}", a.common.service(false)?.forget(&a.name)?);
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
    let (old, new) = a.common.service(false)?.rename(&a.old, &a.new)?;
    println!("renamed {old} to {new}");
    Ok(ExitCode::SUCCESS)
}
