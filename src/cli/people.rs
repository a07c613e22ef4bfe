//! The gallery commands (enroll, verify, identify, people, rename, forget): each one call of the
//! face service, printed as text or JSON; `identify --video` prints each track as it is named.
use std::path::PathBuf;
use std::process::ExitCode;

use super::options::{unit, FaceModel, GalleryArg, Output};
use crate::service::{FaceService, Photo};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Enrol a person from one photo (one-shot) or several.
    Enroll {
        /// The person's name.
        name: String,
        /// One photo (one-shot) or several; with --video, a short clip of the person (a .y4m
        /// file, - for standard input, or images taken as consecutive frames).
        #[arg(required = true)]
        photos: Vec<PathBuf>,
        /// Enrol from a clip: the face is followed across its frames and the sharpest, most
        /// varied of them are stored. The clip must show this one person.
        #[arg(long)]
        video: bool,
        /// Add these photos to someone already enrolled.
        #[arg(long)]
        add: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Is the face in this photo the claimed person?
    Verify {
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
    },
    /// Who are the faces in these photos (or "unknown")?
    Identify {
        /// Photos to look at; with --video, one YUV4MPEG2 stream (a .y4m file, or - for standard
        /// input as `ffmpeg -i clip.mp4 -f yuv4mpegpipe -` writes it) or images taken as frames.
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
    },
    /// List the enrolled people.
    People {
        #[command(flatten)]
        common: Common,
    },
    /// Rename an enrolled person.
    Rename {
        /// The name as enrolled (any case).
        old: String,
        /// The new name; their pictures and embeddings stay.
        new: String,
        #[command(flatten)]
        common: Common,
    },
    /// Delete a person and everything stored for them.
    Forget {
        /// The person to delete, as enrolled (any case).
        name: String,
        #[command(flatten)]
        common: Common,
    },
}

/// Options every gallery command shares.
#[derive(clap::Args)]
pub struct Common {
    #[command(flatten)]
    gallery: GalleryArg,
    #[command(flatten)]
    model: FaceModel,
    #[command(flatten)]
    output: Output,
}

impl Common {
    /// The service, with the model for commands that look at `faces`.
    fn service(&self, faces: bool) -> crate::Result<FaceService> {
        self.model.service(self.gallery.location(), None, faces)
    }
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Enroll { name, photos, video, add, common } => {
            let done = common.service(true)?.enroll_files(&name, &photos, video, add)?;
            done.notes().for_each(|note| eprintln!("{note}"));
            common.output.show(&done)
        }
        Command::Verify { photo, claimed, detection, verification, common } => {
            let v = common.service(true)?.verify(&Photo::read(&photo)?, &claimed, detection, verification)?;
            common.output.show(&v)?;
            // 0 verified, 1 not verified, 2 error (main).
            Ok(if v.verified { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Identify { photos, video, threshold, common } => identify(&photos, video, threshold, &common),
        Command::People { common } => common.output.show(&common.service(false)?.people()?),
        Command::Rename { old, new, common } => {
            let (old, new) = common.service(false)?.rename(&old, &new)?;
            println!("renamed {old} to {new}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Forget { name, common } => {
            println!("forgot {}", common.service(false)?.forget(&name)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Each photo is identified on its own: a bad photo is reported and the others still are; the
/// exit code is 2 if any photo could not be read.
fn identify(photos: &[PathBuf], video: bool, threshold: Option<f32>, common: &Common) -> anyhow::Result<ExitCode> {
    let service = common.service(true)?;
    if video {
        service.follow(photos, common.output.json, &mut |text| print!("{text}"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = false;
    for answer in photos.iter().map(|p| service.identify_file(p, threshold)) {
        failed |= answer.failed();
        if answer.failed() && !common.output.json {
            eprint!("{answer}");
        } else {
            common.output.show(&answer)?;
        }
    }
    Ok(if failed { ExitCode::from(2) } else { ExitCode::SUCCESS })
}
