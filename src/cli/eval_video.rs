//! `siamface eval video`: the track rule fitted on held-out people's degraded sequences
//! (`eval::video`), printed, and written into a model's card with `--write-card`.
use crate::engine::gemm::Precision;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::eval::video;
use crate::service::{Faces, Model};

#[derive(clap::Args)]
pub struct Args {
    /// LFW folder: people.txt and images_deepfunneled/.
    #[arg(long)]
    lfw: PathBuf,
    /// Face model directory; default: the built-in model.
    #[arg(long)]
    model: Option<PathBuf>,
    /// False-accept rate per (track, enrolled person) pair the rule is fitted for.
    #[arg(long, default_value_t = 1e-3)]
    far: f64,
    /// people.txt fold the rule is fitted on (held out from the head's training).
    #[arg(long, default_value_t = 9)]
    fit_fold: usize,
    /// people.txt fold the fitted rule is reported on.
    #[arg(long, default_value_t = 10)]
    test_fold: usize,
    /// Seed of the degradations drawn for each track.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Write the rule and the report into this model directory's card.json.
    #[arg(long)]
    write_card: Option<PathBuf>,
    /// Threads of the model's work; 0 means one per core.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Arithmetic of the model's products: f32, or bf16 (1.4-1.8x faster measured where the CPU has
    /// AVX512_BF16 or AMX; embeddings within bf16's rounding of f32's).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    precision: Precision,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let faces = Faces::load(&Model::from_arg(a.model.clone()), a.threads, None, a.precision)?;
    let r = video::calibrate(faces.pipeline(), &a.lfw, a.far, a.fit_fold, a.test_fold, a.seed)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("rule (fold {}, FAR {} per track and person): named at {:.6} once the evidence weighs {}", r.calibration_fold, r.far, r.rule.name_at, r.rule.min_weight);
        for (what, x) in [("fit", &r.calibration), ("test", &r.test), ("test, faces 80-120 px", &r.test_near), ("test, faces 40-80 px", &r.test_far)] {
            println!(
                "{what}: {} genuine / {} stranger tracks; frames TAR@1e-3 {:.1}% @1e-4 {:.1}%; tracks TAR@1e-3 {:.1}% @1e-4 {:.1}%; named after 0.5 s {:.1}%, wrong {:.2}%; strangers named: {:.2}% of frames, {:.2}% of tracks; median {} frames to a name",
                x.genuine_tracks,
                x.stranger_tracks,
                100.0 * x.frame_tar_at_far_1e3,
                100.0 * x.frame_tar_at_far_1e4,
                100.0 * x.track_tar_at_far_1e3,
                100.0 * x.track_tar_at_far_1e4,
                100.0 * x.named_after_half_second,
                100.0 * x.named_wrong,
                100.0 * x.stranger_frames_named,
                100.0 * x.stranger_tracks_named,
                x.median_frames_to_name.map_or("-".into(), |f| f.to_string()),
            );
        }
    }
    if let Some(dir) = &a.write_card {
        r.write_card(dir)?;
        eprintln!("wrote the video rule into {}", dir.join(crate::model::card::FILE).display());
    }
    Ok(ExitCode::SUCCESS)
}
