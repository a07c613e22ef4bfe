//! Options several commands share, declared once so that each reads, defaults and is described
//! in `--help` the same way in every command that has it; and the value parsers they use.
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use crate::engine::gemm::Precision;
use crate::gallery::Location;
use crate::service::{card, FaceService, Faces, Model, Options};

/// `--json`, and the printing of a command's result that it chooses.
#[derive(clap::Args)]
pub struct Output {
    /// Print JSON, for programs, instead of text.
    #[arg(long)]
    pub json: bool,
}

impl Output {
    /// Prints a command's result: one line of JSON with `--json`, else its text (the result's
    /// `Display`, every line of which ends in a newline).
    pub fn show<T: Serialize + Display>(&self, result: &T) -> anyhow::Result<ExitCode> {
        self.print(result, serde_json::to_string)
    }

    /// `show` for the long reports people also read as JSON: indented.
    pub fn show_pretty<T: Serialize + Display>(&self, result: &T) -> anyhow::Result<ExitCode> {
        self.print(result, serde_json::to_string_pretty)
    }

    fn print<T: Display>(&self, result: &T, to_json: fn(&T) -> serde_json::Result<String>) -> anyhow::Result<ExitCode> {
        if self.json {
            println!("{}", to_json(result)?);
        } else {
            print!("{result}");
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(clap::Args)]
pub struct Threads {
    /// Threads of the model's work; 0 means one per core.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

#[derive(clap::Args)]
pub struct Arith {
    /// Arithmetic of the model's products; bf16 measured 1.4-2.1x faster, to within its rounding.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
}

/// The face model a command sees with, and how it runs.
#[derive(clap::Args)]
pub struct FaceModel {
    /// Face model directory or .safetensors file; default: the model built into the binary.
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub cpu: Threads,
    #[command(flatten)]
    pub arith: Arith,
}

impl FaceModel {
    /// The model, its card's thresholds replaced by `threshold` if given.
    pub fn load(&self, threshold: Option<f32>) -> crate::Result<Faces> {
        Faces::load(&Model::from_arg(self.model.clone()), self.cpu.threads, threshold, self.arith.precision)
    }

    /// The face service over `gallery`: with the model for commands that look at faces, without
    /// it (`faces` false) for commands about names only.
    pub fn service(&self, gallery: Location, threshold: Option<f32>, faces: bool) -> crate::Result<FaceService> {
        let model = faces.then(|| Model::from_arg(self.model.clone()));
        FaceService::open(&Options { model, gallery, threads: self.cpu.threads, threshold, precision: self.arith.precision })
    }
}

/// A trained model to evaluate.
#[derive(clap::Args)]
pub struct Evaluated {
    /// Model directory or .safetensors file.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub cpu: Threads,
    #[command(flatten)]
    pub output: Output,
}

impl Evaluated {
    /// Prints what `evaluate` answers for the model at `--model` on `--threads`.
    pub fn show<T: Serialize + Display>(&self, evaluate: impl FnOnce(&Path, usize) -> crate::Result<T>) -> anyhow::Result<ExitCode> {
        self.output.show(&evaluate(&self.model, self.cpu.threads)?)
    }
}

#[derive(clap::Args)]
pub struct GalleryArg {
    /// Gallery: an SQLite file, or postgres://user@host/db to share one among servers; default:
    /// $XDG_DATA_HOME/siamface/gallery.sqlite or ~/.local/share/siamface/gallery.sqlite.
    #[arg(long, env = "SIAMFACE_GALLERY", value_parser = location)]
    gallery: Option<Location>,
}

impl GalleryArg {
    /// `--gallery`, or the default file.
    pub fn location(&self) -> Location {
        let var = |name| std::env::var_os(name).map(PathBuf::from);
        self.gallery.clone().unwrap_or_else(|| Location::default_file(var("XDG_DATA_HOME"), var("HOME")))
    }
}

/// `--gallery` as typed: a path, or a URL of a supported scheme (else the error names them).
pub fn location(text: &str) -> Result<Location, String> {
    Location::parse(text).map_err(|e| e.to_string().trim_start_matches("gallery: ").to_string())
}

/// A threshold or fraction on the command line: a number from 0 to 1.
pub fn unit(text: &str) -> Result<f32, String> {
    card::parse_unit("value", text).map_err(|e| e.to_string().trim_start_matches("value: ").to_string())
}
