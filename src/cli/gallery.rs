//! `siamface gallery check|repair|export|import`: looking after the gallery file. A damaged file
//! is refused by every other command; these are the ways to find out what is wrong, save what is
//! readable, and keep a copy outside SQLite.
use std::path::PathBuf;
use std::process::ExitCode;

use crate::gallery::{archive, Check, Gallery, Location};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Check the gallery file: SQLite's own check, then every image's crop and embedding (exit
    /// status 1 when anything is wrong).
    Check {
        /// How thorough: quick (crops' headers only), or full (also compares every index with its
        /// table and decodes every crop).
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
    /// Print JSON for programs.
    #[arg(long)]
    json: bool,
}

impl At {
    /// The gallery file: these commands work on SQLite files, which can be damaged and need
    /// checking; a PostgreSQL gallery has the database's own tools (`pg_dump`, `amcheck`).
    fn path(&self) -> anyhow::Result<PathBuf> {
        match self.gallery.location() {
            Location::File(p) => Ok(p),
            Location::Postgres(url) => anyhow::bail!(
                "--gallery {}: `siamface gallery` checks, repairs, exports and imports SQLite files; back up a PostgreSQL gallery with pg_dump",
                crate::gallery::location::redact(&url)
            ),
        }
    }
}

/// An archive's counts, and on standard error what it left behind.
fn print(json: bool, what: &str, r: &archive::Report) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    println!("{what} {} people, {} images", r.people, r.images);
    r.unreadable.iter().for_each(|line| eprintln!("unreadable: {line}"));
    Ok(())
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Check { check, at } => {
            // Exit status 1 when the file or any image is found wrong.
            let r = crate::gallery::check_file(&at.path()?, check)?;
            super::show(at.json, &r)?;
            return Ok(if r.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        Command::Repair { at } => {
            let done = archive::repair(&at.path()?)?;
            if at.json {
                println!("{}", serde_json::to_string(&done)?);
            } else {
                print(false, "rebuilt with", &done.report)?;
                println!("the damaged file is kept as {}", done.damaged.display());
            }
        }
        Command::Export { dir, at } => {
            // Opened unchecked: export is how a damaged file's people are saved.
            let g = Gallery::open_with(&at.path()?, Check::None)?;
            print(at.json, &format!("exported to {}:", dir.display()), &archive::export(&g, &dir)?)?;
        }
        Command::Import { dir, at } => {
            let mut g = Gallery::open(&at.path()?)?;
            print(at.json, "imported", &archive::import(&mut g, &dir)?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
