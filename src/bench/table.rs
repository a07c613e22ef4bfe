//! The benchmarks' reports as `siamface bench` prints them: a table, then the
//! ratios against the baseline measured in the same run.
use std::fmt::{self, Display, Formatter};

use super::{Figures, GemmReport, IdentifyReport, Report};

impl Display for Report {
    fn fmt(&self, f: &mut Formatter) -> fmt::Result {
        let kernel = self.bf16_kernel.as_deref().unwrap_or("none on this CPU");
        let int8 = self.int8_kernel.as_deref().unwrap_or("none on this CPU");
        writeln!(
            f,
            "siamface bench: {} on {} threads (f32 GEMM peak {:.0} GFLOP/s, bf16 kernel {kernel}, int8 kernel {int8}, peak RSS {:.0} MB)",
            self.config, self.threads, self.gemm_peak_gflops, self.peak_rss_mb
        )?;
        let stacks: Vec<&Figures> = self.siamface.iter().chain(&self.tensorflow).collect();
        write!(f, "{:<24}", "")?;
        for s in &stacks {
            write!(f, " {:>16}", s.stack)?;
        }
        if let Some(t) = self.tensorflow.last() {
            write!(f, "  best siamface / {}", t.stack)?;
        }
        writeln!(f)?;
        let rows: [(&str, fn(&Figures) -> f64, bool); 3] =
            [("train pairs/s", |x| x.train_pairs_per_s, true), ("embeddings/s (batch 64)", |x| x.embed_per_s, true), ("one image (ms)", |x| x.single_ms, false)];
        for (name, get, higher_better) in rows {
            write!(f, "{name:<24}")?;
            for s in &stacks {
                // int8 does not train: its training figure is NaN, printed as "-".
                match get(s) {
                    v if v.is_finite() => write!(f, " {v:>16.2}")?,
                    _ => write!(f, " {:>16}", "-")?,
                }
            }
            if let Some(t) = self.tensorflow.last() {
                let ours = self.siamface.iter().map(get).fold(if higher_better { 0.0 } else { f64::INFINITY }, |a, b| if higher_better { a.max(b) } else { a.min(b) });
                let ratio = if higher_better { ours / get(t) } else { get(t) / ours };
                write!(f, "  {ratio:.2}x")?;
            }
            writeln!(f)?;
        }
        writeln!(f, "(ratios: higher is faster for siamface, one image included)")?;
        writeln!(
            f,
            "face detection, one 640x480 frame: {:.1} ms (photos, 640x640 network), {:.1} ms (live page, 320x320)",
            self.detect_640x480_ms, self.detect_fast_640x480_ms
        )
    }
}

impl Display for GemmReport {
    fn fmt(&self, f: &mut Formatter) -> fmt::Result {
        let peak = self.bf16_peak_gflops.map(|p| format!("{p:.0} GFLOP/s")).unwrap_or("-".into());
        let kernel = self.bf16_kernel.as_deref().unwrap_or("none");
        writeln!(f, "siamface bench --gemm: {} products, one thread (f32 GEMM peak {:.0} GFLOP/s, bf16 kernel {kernel}, its peak {peak})", self.config, self.f32_peak_gflops)?;
        if self.bf16_kernel.is_none() {
            writeln!(f, "no bf16 kernel is in use here (no AMX or AVX512_BF16 on this CPU, or {}=f32): f32 only", crate::engine::gemm::KERNELS_ENV)?;
        }
        writeln!(
            f,
            "{:<20} {:>6} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>8} {:>7} {:>8}",
            "GFLOP/s", "m", "n", "k", "f32", "bf16", "B packed", "blocks", "pack ms", "bf16/f32", "of peak"
        )?;
        let opt = |v: Option<f64>, show: &dyn Fn(f64) -> String| v.map(show).unwrap_or("-".into());
        let one = |v: f64| format!("{v:.1}");
        for x in &self.rows {
            writeln!(
                f,
                "{:<20} {:>6} {:>6} {:>6} {:>9.1} {:>9} {:>9} {:>9} {:>8.3} {:>7} {:>8}",
                x.name,
                x.m,
                x.n,
                x.k,
                x.f32_gflops,
                opt(x.bf16_gflops, &one),
                opt(x.bf16_packed_b_gflops, &one),
                opt(x.blocks_gflops, &one),
                x.pack_ms,
                opt(x.ratio, &|v| format!("{v:.2}x")),
                opt(x.peak_fraction, &|v| format!("{:.0}%", 100.0 * v)),
            )?;
        }
        Ok(())
    }
}

impl Display for IdentifyReport {
    fn fmt(&self, f: &mut Formatter) -> fmt::Result {
        for r in &self.rows {
            writeln!(f, "identify one face against {:>9} embeddings of {}: {:8.2} ms", r.enrolled, r.dim, r.identify_ms)?;
        }
        Ok(())
    }
}
