use std::path::PathBuf;
use crate::engine::gemm::Precision;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use crate::data::omniglot::{self, Split};
use crate::eval::lfw_folds;
use crate::eval::oneshot;
use crate::eval::rule;
use crate::eval::verification;
use crate::model::{io, Siamese};
use crate::rng::Rng;
use crate::plot::{self, source::Scored};

#[derive(clap::Subcommand)]
pub enum Command {
    /// N-way one-shot accuracy: Lake's 20 runs (--runs) or random tasks on held-out alphabets.
    Oneshot(OneshotArgs),
    /// Verification on held-out pairs: accuracy, precision, recall, ROC AUC, EER, TAR at FAR.
    Verify(VerifyArgs),
    /// LFW View 2: per fold, threshold from the other nine folds; mean accuracy +- SE.
    Lfw(LfwArgs),
    /// The app's verification rule (per-image score threshold, then a fraction of the claimed
    /// person's enrolment images): fitted on one LFW people.txt fold, reported on another.
    Rule(RuleArgs),
    /// A face model on LFW through the whole pipeline: View 2's ten folds for three decision
    /// rules, and thresholds calibrated at a false-accept rate on held-out people.
    Faces(super::faces_eval::Args),
    /// The rule that names faces in video, fitted on held-out people's sequences degraded as
    /// video degrades faces, and its rates per frame and per track.
    Video(super::eval_video::Args),
}

#[derive(clap::Args)]
pub struct RuleArgs {
    /// Model directory or .safetensors file.
    #[arg(long)]
    model: PathBuf,
    /// LFW folder: people.txt and images_deepfunneled/.
    #[arg(long)]
    lfw: PathBuf,
    /// people.txt fold whose people the thresholds are fitted on.
    #[arg(long, default_value_t = 9)]
    fit_fold: usize,
    /// people.txt fold whose people the fitted rule is reported on.
    #[arg(long, default_value_t = 10)]
    test_fold: usize,
    /// Enrolment images per person (people with more images give the queries).
    #[arg(long, default_value_t = 3)]
    enrol: usize,
    /// At most this many queries per person, so a few people with hundreds of photos do not
    /// outweigh everyone else.
    #[arg(long, default_value_t = 5)]
    queries: usize,
    /// Per-image score threshold to fit the fraction at (default: the model card's threshold).
    #[arg(long, conflicts_with = "fit_detection")]
    detection: Option<f32>,
    /// Fit the per-image threshold too, instead of taking it from the card.
    #[arg(long)]
    fit_detection: bool,
    /// Threads of the model's work; 0 means one per core.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print the result as one JSON object, for scripts and `siamface plot`.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct LfwArgs {
    /// Model directory or .safetensors file.
    #[arg(long)]
    model: PathBuf,
    /// LFW folder: pairs.txt and images_deepfunneled/NAME/NAME_NNNN.jpg.
    #[arg(long)]
    lfw: PathBuf,
    /// Report this fold (1-10) at the top level; all ten are computed.
    #[arg(long)]
    fold: Option<usize>,
    /// How a photo becomes the network's input: `detect` runs the face pipeline every other
    /// command runs (the face nearest the centre, as LFW labels it); `frame` takes LFW's
    /// deep-funneled frame as the aligned face, how Koch's face models were trained.
    #[arg(long, value_enum, default_value_t = crate::eval::faces::Align::Detect)]
    align: crate::eval::faces::Align,
    /// Arithmetic of the model's products: f32, or bf16 (AVX512_BF16 or AMX), to measure what
    /// bf16 costs in accuracy.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    precision: Precision,
    /// Threads of the model's work; 0 means one per core.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print the result as one JSON object, for scripts and `siamface plot`.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct OneshotArgs {
    /// Model directory or .safetensors file.
    #[arg(long)]
    model: PathBuf,
    /// Lake et al.'s all_runs folder (20 runs x 20 trials).
    #[arg(long, conflicts_with = "omniglot")]
    runs: Option<PathBuf>,
    /// Omniglot folder: random tasks on the test alphabets (Lake's 10), drawers 17-20.
    #[arg(long, conflicts_with = "lfw")]
    omniglot: Option<PathBuf>,
    /// LFW folder: random tasks among the people of one people.txt fold (--fold).
    #[arg(long)]
    lfw: Option<PathBuf>,
    /// The people.txt fold whose people the LFW tasks use (held out from training).
    #[arg(long, default_value_t = 10)]
    fold: usize,
    /// Candidates per trial (N-way): one of them is the query's class.
    #[arg(long, default_value_t = 20)]
    way: usize,
    /// Random tasks to draw (with --omniglot or --lfw; Lake's runs are a fixed 400).
    #[arg(long, default_value_t = 400)]
    trials: usize,
    /// Seed of the random tasks: the same seed draws the same tasks.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Arithmetic of the model's products: f32, or bf16 (AVX512_BF16 or AMX), to measure what
    /// bf16 costs in accuracy.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    precision: Precision,
    /// Threads of the model's work; 0 means one per core.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print the result as one JSON object, for scripts and `siamface plot`.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Model directory or .safetensors file.
    #[arg(long)]
    model: PathBuf,
    /// Omniglot folder: pairs within the test alphabets (Lake's 10), drawers 17-20.
    #[arg(long)]
    omniglot: PathBuf,
    /// Number of pairs, half same and half different.
    #[arg(long, default_value_t = 10000)]
    pairs: usize,
    /// Decision threshold on the probability.
    #[arg(long, default_value_t = 0.5)]
    threshold: f64,
    /// Draw the ROC curve here (.png or .svg), the threshold marked; more models on one
    /// picture: `siamface plot roc` over saved `--json` outputs.
    #[arg(long)]
    roc: Option<PathBuf>,
    /// Seed of the pair sampler: the same seed draws the same pairs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Threads of the model's work; 0 means one per core.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print the result as one JSON object, for scripts and `siamface plot`.
    #[arg(long)]
    json: bool,
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Oneshot(a) => oneshot_cmd(a),
        Command::Verify(a) => verify_cmd(a),
        Command::Lfw(a) => lfw_cmd(a),
        Command::Faces(a) => super::faces_eval::run(a),
        Command::Video(a) => super::eval_video::run(a),
        Command::Rule(a) => rule_cmd(a),
    }
}

fn load(model: &PathBuf, threads: usize, precision: Precision) -> anyhow::Result<(Siamese, usize)> {
    let ck = io::load(model).with_context(|| format!("loading {}", model.display()))?;
    let c = &ck.config;
    if c.channels != 1 || c.height != c.width || omniglot::SIZE % c.height != 0 {
        anyhow::bail!("{}: a {}x{}x{} model cannot read Omniglot's 105x105 characters", model.display(), c.height, c.width, c.channels);
    }
    let scale = omniglot::SIZE / c.height;
    Ok((Siamese::load(ck, threads, precision)?, scale))
}

#[derive(Serialize)]
struct OneshotOut {
    accuracy: f64,
    trials: usize,
    way: usize,
    ci95: f64,
    source: String,
}

fn oneshot_cmd(a: OneshotArgs) -> anyhow::Result<ExitCode> {
    if let Some(root) = &a.lfw {
        let ck = io::load(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
        let mut net = Siamese::load(ck, a.threads, a.precision)?;
        let (report, source) = oneshot::lfw_fold(&mut net, &a.model, root, a.fold, a.way, a.trials, a.seed)?;
        return print_oneshot(OneshotOut { accuracy: report.accuracy, trials: report.trials, way: report.way, ci95: report.ci95, source }, a.json);
    }
    let (mut net, scale) = load(&a.model, a.threads, a.precision)?;
    let (report, source) = if let Some(dir) = &a.runs {
        (oneshot::lake(&mut net, &omniglot::lake_runs(dir)?, scale)?, format!("Lake's runs in {}", dir.display()))
    } else if let Some(dir) = &a.omniglot {
        let set = omniglot::load_split(dir, Split::Test, scale)?;
        let trials = oneshot::random_trials(&set, a.way, a.trials, &mut Rng::new(a.seed));
        (oneshot::evaluate_set(&mut net, &set, &trials)?, format!("random {}-way tasks, test alphabets of {}", a.way, dir.display()))
    } else {
        anyhow::bail!("give --runs DIR (Lake's runs), --omniglot DIR or --lfw DIR");
    };
    print_oneshot(OneshotOut { accuracy: report.accuracy, trials: report.trials, way: report.way, ci95: report.ci95, source }, a.json)
}

fn print_oneshot(out: OneshotOut, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("{}-way one-shot accuracy {:.1}% +- {:.1}% over {} trials ({})", out.way, 100.0 * out.accuracy, 100.0 * out.ci95, out.trials, out.source);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct VerifyOut {
    #[serde(flatten)]
    report: verification::Report,
    model: String,
    scores: Vec<f32>,
    same: Vec<bool>,
}

fn verify_cmd(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let (mut net, scale) = load(&a.model, a.threads, Precision::F32)?;
    let set = omniglot::load_split(&a.omniglot, Split::Test, scale)?;
    let mut batch = crate::train::batch::Batch::default();
    let mut rng = Rng::new(a.seed);
    batch.fill(&set, crate::train::batch::Mode::Pairs, a.pairs.max(2), crate::train::batch::Augment::None, &mut rng);
    let d = net.embedding_len();
    let mut emb = vec![0f32; batch.images.len() / net.config().input_len() * d];
    net.embed(&batch.images, &mut emb)?;
    let scores: Vec<f64> = batch
        .pairs
        .iter()
        .map(|&(i, j)| net.score(&emb[i as usize * d..(i as usize + 1) * d], &emb[j as usize * d..(j as usize + 1) * d]) as f64)
        .collect();
    let same: Vec<bool> = batch.labels.iter().map(|y| *y > 0.5).collect();
    let r = verification::report(&scores, &same, a.threshold);
    let model = a.model.display().to_string();
    if let Some(path) = &a.roc {
        let scored = Scored { name: model.clone(), scores: scores.clone(), same: same.clone(), threshold: Some(a.threshold) };
        plot::save(&plot::roc::figure(&[scored])?, path, None)?;
    }
    if a.json {
        // The pair scores too, so `siamface plot` can draw the ROC and histograms later.
        let out = VerifyOut { report: r, model, scores: scores.iter().map(|s| *s as f32).collect(), same };
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!(
            "{} pairs: accuracy {:.1}% at {:.2} (best {:.1}% at {:.3}), precision {:.3}, recall {:.3}, AUC {:.4}, EER {:.1}%, TAR@FAR=1e-2 {:.3}, TAR@FAR=1e-3 {:.3}",
            r.pairs,
            100.0 * r.accuracy,
            r.threshold,
            100.0 * r.best_accuracy,
            r.best_threshold,
            r.precision,
            r.recall,
            r.auc,
            100.0 * r.eer,
            r.tar_at_far_1e2,
            r.tar_at_far_1e3
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn lfw_cmd(a: LfwArgs) -> anyhow::Result<ExitCode> {
    let ck = io::load(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let net = Siamese::load(ck, a.threads, a.precision)?;
    let out = lfw_folds::view2(&net, a.model.display().to_string(), &a.lfw, a.align, a.fold)?;
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        for f in &out.folds {
            println!("fold {:>2}: accuracy {:.1}% at {:.3}, AUC {:.4}, EER {:.1}%", f.fold, 100.0 * f.accuracy, f.threshold, f.auc, 100.0 * f.eer);
        }
        let how = match a.align {
            crate::eval::faces::Align::Detect => format!("face pipeline, {} photo(s) without a face", out.faces_missed),
            crate::eval::faces::Align::Frame => "LFW's frame, no detection".to_string(),
        };
        println!("mean accuracy {:.2}% +- {:.2}% (standard error, {} folds; {how})", 100.0 * out.mean_accuracy, 100.0 * out.standard_error, out.folds.len());
    }
    Ok(ExitCode::SUCCESS)
}

fn rule_cmd(a: RuleArgs) -> anyhow::Result<ExitCode> {
    if a.enrol == 0 || a.queries == 0 {
        anyhow::bail!("--enrol and --queries must be at least 1");
    }
    let ck = io::load(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let mut net = Siamese::new(ck.config, ck.params, a.threads)?;
    let card = crate::model::card::Card::read(&a.model)?.same_at();
    let fixed = if a.fit_detection { None } else { Some(a.detection.unwrap_or(card)) };
    let out = rule::on_lfw(&mut net, &a.lfw, a.fit_fold, a.test_fold, a.enrol, a.queries, fixed, card)?;
    if a.json {
        println!("{}", serde_json::to_value(&out)?);
    } else {
        let (fit_fold, test_fold, fitted) = (out.fit.on, out.test.on, out.fit.rule);
        let (test, before) = (out.test.rule, out.test.half_the_images);
        println!(
            "fitted on fold {} ({} people, {} claims): accept when {:.0}% of {} enrolment images score >= {:.3} (balanced accuracy {:.1}%)",
            fit_fold.fold, fit_fold.people, fit_fold.genuine_claims + fit_fold.impostor_claims, 100.0 * fitted.verification, a.enrol, fitted.detection, 100.0 * fitted.accuracy
        );
        for (what, r) in [("fitted rule", test), ("same threshold, 50% of the images", before)] {
            println!(
                "fold {} ({} people, {} claims), {what}: balanced accuracy {:.1}%, false accepts {:.1}%, false rejects {:.1}%",
                test_fold.fold, test_fold.people, test_fold.genuine_claims + test_fold.impostor_claims, 100.0 * r.accuracy, 100.0 * r.false_accept, 100.0 * r.false_reject
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
