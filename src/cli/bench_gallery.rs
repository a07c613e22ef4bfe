//! `siamface bench-gallery`: the gallery backends side by side (SQLite file and PostgreSQL), at
//! growing numbers of enrolled faces, with ratios against the first one given.
use std::process::ExitCode;

use crate::bench;
use crate::gallery::Location;

#[derive(clap::Args)]
pub struct Args {
    /// Galleries to compare, each empty: a new SQLite file and/or postgres://... (twice or more;
    /// the first is the baseline).
    #[arg(long, required = true, value_parser = super::options::location)]
    gallery: Vec<Location>,
    /// Enrolled faces to measure at, in increasing order.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 100_000, 1_000_000])]
    sizes: Vec<usize>,
    /// Embedding width (128 for the shipped face model).
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// Images per enrolment while filling.
    #[arg(long, default_value_t = 100)]
    per_person: usize,
    /// Identifications timed per size (the median is reported).
    #[arg(long, default_value_t = 21)]
    reps: usize,
    /// Print the measurements as JSON, one object per backend and size.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(a.sizes.windows(2).all(|w| w[0] < w[1]) && !a.sizes.is_empty(), "--sizes: increasing numbers, found {:?}", a.sizes);
    anyhow::ensure!(a.reps > 0 && a.per_person > 0 && a.dim > 0, "--reps, --per-person and --dim must be at least 1");
    let rows = bench::gallery_backends(&a.gallery, &a.sizes, a.dim, a.per_person, a.reps)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:>9} {:>9} {:>11} {:>14} {:>10} {:>12} {:>11}", "backend", "enrolled", "enrol/s", "fill images/s", "load ms", "identify ms", "visible ms");
    for r in &rows {
        println!(
            "{:>9} {:>9} {:>11.0} {:>14.0} {:>10.1} {:>12.3} {:>11.1}",
            r.backend, r.enrolled, r.enrol_per_s, r.fill_images_per_s, r.load_ms, r.identify_ms, r.visible_ms
        );
    }
    let base: Vec<_> = rows.iter().filter(|r| r.backend == rows[0].backend).collect();
    for r in rows.iter().filter(|r| r.backend != rows[0].backend) {
        if let Some(b) = base.iter().find(|b| b.enrolled == r.enrolled) {
            println!(
                "{} / {} at {}: enrol/s x{:.2}, load x{:.2}, identify x{:.2}, visible x{:.2}",
                r.backend, b.backend, r.enrolled, r.enrol_per_s / b.enrol_per_s, r.load_ms / b.load_ms, r.identify_ms / b.identify_ms, r.visible_ms / b.visible_ms
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
