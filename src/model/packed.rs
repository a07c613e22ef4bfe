//! A model's weight matrices rounded to bf16 and packed for the bf16 kernel, keyed by where each
//! sits in the flat parameter vector. Built once per set of parameters: at the first product
//! after loading (inference) or after each optimiser update (training), instead of once per
//! image and per chunk of every product.
use std::collections::HashMap;

use crate::engine::gemm::{Kernel, Op, PackedB, Precision, Weights};

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
    pub fn new(params: &[f32], matrices: &[(Matrix, bool)], prec: Precision, parallel: bool) -> Packed {
        let kernel = Kernel::for_precision(prec);
        if kernel == Kernel::F32 {
            return Packed { prec, ..Packed::default() };
        }
        let pack = |m: &Matrix, t: bool| {
            let data = &params[m.offset..m.offset + m.k * m.n];
            let (b, k, n) = if t { (Op::t(data), m.n, m.k) } else { (Op::n(data), m.k, m.n) };
            if parallel { PackedB::new_parallel(b, k, n, kernel) } else { PackedB::new(b, k, n, kernel) }
        };
        let right = matrices.iter().map(|(m, _)| (m.offset, pack(m, false))).collect();
        let transposed = matrices.iter().filter(|(_, t)| *t).map(|(m, _)| (m.offset, pack(m, true))).collect();
        Packed { prec, right, transposed }
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
