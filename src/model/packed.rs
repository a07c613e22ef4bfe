//! A model's weight matrices rounded to bf16 and packed for the bf16 kernel, keyed by where each
//! sits in the flat parameter vector. Built once per set of parameters: at the first product
//! after loading (inference) or after each optimiser update (training), instead of once per
//! image and per chunk of every product.
use std::collections::HashMap;

use super::int8::Calibration;
use crate::engine::gemm::{Kernel, Op, PackedB, Precision, Weights};
use crate::engine::int8::{Stats, MAX_DEPTH};

/// A weight matrix of the model: its offset in the parameters, depth `k` and width `n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Matrix {
    pub offset: usize,
    pub k: usize,
    pub n: usize,
}

#[derive(Default)]
pub struct Packed {
    prec: Precision,
    right: HashMap<usize, PackedB>,
    transposed: HashMap<usize, PackedB>,
}

impl Packed {
    /// `matrices` of `params` packed as right operands (and, where `transposed` says so, also as
    /// transposed right operands, which training's input gradients multiply by), when `prec`
    /// runs on a bf16 kernel here; empty otherwise. `parallel` packs on the current pool's
    /// threads (see `PackedB::new_parallel` for when not to).
    ///
    /// int8 packs with `int8`'s ranges (the caller has checked they fit, `Calibration::check`);
    /// where the CPU has no int8 kernel, or for a transposed matrix, it packs bf16 instead.
    pub fn new(params: &[f32], matrices: &[(Matrix, bool)], prec: Precision, int8: Option<&Calibration>, parallel: bool) -> Packed {
        let kernel = Kernel::for_precision(prec);
        if kernel == Kernel::F32 {
            return Packed { prec, ..Packed::default() };
        }
        let bf16 = Kernel::for_precision(Precision::Bf16);
        let pack = |m: &Matrix, t: bool| {
            let data = &params[m.offset..m.offset + m.k * m.n];
            let (b, k, n) = if t { (Op::t(data), m.n, m.k) } else { (Op::n(data), m.k, m.n) };
            match int8.and_then(|c| c.quant(m.offset)).filter(|_| kernel.is_int8() && !t && k <= MAX_DEPTH) {
                Some(q) => Some(PackedB::int8(b, k, n, kernel, q)),
                // A CPU with VNNI but no bf16 unit: the products left out run in f32.
                None if bf16 == Kernel::F32 => None,
                None if parallel => Some(PackedB::new_parallel(b, k, n, bf16)),
                None => Some(PackedB::new(b, k, n, bf16)),
            }
        };
        let right = matrices.iter().filter_map(|(m, _)| Some((m.offset, pack(m, false)?))).collect();
        let transposed = matrices.iter().filter(|(_, t)| *t).filter_map(|(m, _)| Some((m.offset, pack(m, true)?))).collect();
        Packed { prec, right, transposed }
    }

    /// `matrices` of `params` packed again over these panels (bf16 only, as training packs):
    /// false, with the panels left in an unknown state, when these were not packed from the same
    /// matrices, so the caller packs anew.
    #[must_use]
    pub fn repack(&mut self, params: &[f32], matrices: &[(Matrix, bool)], prec: Precision) -> bool {
        if prec != self.prec || self.right.len() != matrices.len() || self.transposed.len() != matrices.iter().filter(|(_, t)| *t).count() {
            return false;
        }
        matrices.iter().all(|(m, t)| {
            let data = &params[m.offset..m.offset + m.k * m.n];
            let right = self.right.get_mut(&m.offset).is_some_and(|p| p.k() == m.k && p.n() == m.n && p.repack(Op::n(data)));
            right && (!t || self.transposed.get_mut(&m.offset).is_some_and(|p| p.k() == m.n && p.n() == m.k && p.repack(Op::t(data))))
        })
    }

    /// `matrices` kept in `f32`, each recording the activations it multiplies into its own copy
    /// of `stats` (one per matrix): calibration.
    pub fn observing(params: &[f32], matrices: &[(Matrix, bool)], stats: Vec<Stats>) -> Packed {
        let right = matrices.iter().zip(stats).map(|((m, _), s)| (m.offset, PackedB::observe(Op::n(&params[m.offset..m.offset + m.k * m.n]), m.k, m.n, s))).collect();
        Packed { prec: Precision::F32, right, transposed: HashMap::new() }
    }

    /// What each of `matrices` recorded (`observing`).
    pub fn observed(&self, matrices: &[(Matrix, bool)]) -> Vec<Stats> {
        matrices.iter().map(|(m, _)| self.right.get(&m.offset).and_then(PackedB::observed).unwrap_or_else(Stats::new)).collect()
    }

    /// Whether the transposed panels were built (training's).
    pub fn has_transposed(&self) -> bool {
        !self.transposed.is_empty()
    }

    /// The weights at `offset` (`len` values) of `params`, with their packed panels if any.
    pub fn weights<'a>(&'a self, params: &'a [f32], offset: usize, len: usize) -> Weights<'a> {
        Weights { data: &params[offset..offset + len], prec: self.prec, packed: self.right.get(&offset), packed_t: self.transposed.get(&offset) }
    }
}
