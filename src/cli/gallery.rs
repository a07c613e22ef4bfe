//! `siamface gallery check|repair|export|import`: looking after the gallery file. A damaged file
//! is refused by every other command; these are the ways to find out what is wrong, save what is
//! readable, and keep a copy outside SQLite.
use std::path::PathBuf;
use std::process::ExitCode;

use crate::gallery::archive::{self, Task};
use crate::gallery::Check;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Check the gallery file: SQLite's own check, then every image's crop and embedding (exit
    /// status 1 when anything is wrong).
    Check {
        /// How thorough: quick (crops' headers only), or full (also decodes every crop).
        #[arg(long, value_enum, default_value_t = Check::Full)]
        check: Check,
        #[command(flatten)]
        at: At,
    },
    /// Rebuild a damaged gallery from every readable person; the damaged file is kept beside it.
    Repair {
        #[command(flatten)]
        at: At,
    },
    /// Copy every readable person into a folder: gallery.json (names, embeddings) and crops/*.png.
    Export {
        /// A new folder.
        dir: PathBuf,
        #[command(flatten)]
        at: At,
    },
    /// Enrol every person of an exported folder (all or nothing).
    Import {
        /// A folder written by `gallery export`.
        dir: PathBuf,
        #[command(flatten)]
        at: At,
    },
}

#[derive(clap::Args)]
pub struct At {
    #[command(flatten)]
    gallery: super::options::GalleryArg,
    #[command(flatten)]
    output: super::options::Output,
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    let (task, at) = match c {
        Command::Check { check, at } => {
            // Exit status 1 when the file or any image is found wrong.
            let r = crate::gallery::check_file(at.gallery.location().sqlite_file()?, check)?;
            at.output.show(&r)?;
            return Ok(if r.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        Command::Repair { at } => (Task::Repair, at),
        Command::Export { dir, at } => (Task::Export(dir), at),
        Command::Import { dir, at } => (Task::Import(dir), at),
    };
    let done = archive::perform(at.gallery.location().sqlite_file()?, task)?;
    if !at.output.json {
        done.report().unreadable.iter().for_each(|line| eprintln!("unreadable: {line}"));
    }
    at.output.show(&done)
}
