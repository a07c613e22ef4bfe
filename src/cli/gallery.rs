//! `siamface gallery check|repair|export|import`: looking after the gallery file. A damaged file
//! is refused by every other command; these are the ways to find out what is wrong, save what is
//! readable, and keep a copy outside SQLite.
use std::path::PathBuf;
use std::process::ExitCode;

use crate::gallery::{archive, Check, Gallery, Location};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Check the gallery file (SQLite's quick check, or the full one).
    Check {
        /// How thorough: quick, or full (also compares every index with its table).
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
        dir: PathBuf,
        #[command(flatten)]
        at: At,
    },
}

#[derive(clap::Args)]
pub struct At {
    /// Gallery file; default as for `enroll`.
    #[arg(long, env = "SIAMFACE_GALLERY", value_parser = super::people::location)]
    gallery: Option<Location>,
    /// Print JSON for programs.
    #[arg(long)]
    json: bool,
}

impl At {
    /// The gallery file: these commands work on SQLite files, which can be damaged and need
    /// checking; a PostgreSQL gallery has the database's own tools (`pg_dump`, `amcheck`).
    fn path(&self) -> anyhow::Result<PathBuf> {
        match super::people::gallery_or_default(&self.gallery) {
            Location::File(p) => Ok(p),
            Location::Postgres(url) => anyhow::bail!(
                "--gallery {}: `siamface gallery` checks, repairs, exports and imports SQLite files; back up a PostgreSQL gallery with pg_dump",
                crate::gallery::location::redact(&url)
            ),
        }
    }
}

fn print(json: bool, what: &str, r: &archive::Report) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
    } else {
        println!("{what} {} people, {} images", r.people, r.images);
        for line in &r.unreadable {
            eprintln!("unreadable: {line}");
        }
    }
    Ok(())
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Check { check, at } => {
            let path = at.path()?;
            Gallery::open_with(&path, Check::None)?.check_with(check)?;
            println!("{}: ok", path.display());
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
