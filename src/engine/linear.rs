//! The dense layer `y = x W + b`, for a batch of rows.
//!
//! The dense layer's products are skinny (a batch of 64 against a 9216 x 4096 matrix), where a
//! GEMM split across threads by the library loses half its speed. Here each thread runs a
//! single-threaded product on its own block instead, in the orientation that measured fastest.
use rayon::prelude::*;

use super::gemm::{matmul_with, Op, Par, Weights};

fn thread_count(par: Par) -> usize {
    match par {
        Par::One => 1,
        Par::Many(n) => n.max(1),
    }
}

/// # Shapes
/// `x: batch*input`, `w: input*output`, `b: output`, `y: batch*output`; `scratch` grows to
/// `batch*output` and is kept by the caller for the next call.
#[allow(clippy::too_many_arguments)]
pub fn forward(x: &[f32], w: Weights, b: &[f32], batch: usize, input: usize, output: usize, y: &mut [f32], scratch: &mut Vec<f32>, par: Par) {
    assert_eq!(x.len(), batch * input, "dense input length");
    assert_eq!(w.data.len(), input * output, "dense weight length");
    assert_eq!(y.len(), batch * output, "dense output length");
    let threads = thread_count(par);
    if w.packed.is_some() {
        // Packed bf16 weights: one product over every row, its column bands shared by the
        // threads when the rows are too few to share (one image streams the panels once).
        w.right_of(Op::n(x), y, output, batch, output, input, false, par);
        for row in y.chunks_exact_mut(output) {
            row.iter_mut().zip(b).for_each(|(v, b)| *v += b);
        }
        return;
    }
    let w_f32 = w.data;
    if batch <= 2 {
        // A product with one or two rows is a stream over the whole weight matrix: memory-bound,
        // and the GEMM's packing would only add traffic.
        for (xr, yr) in x.chunks_exact(input).zip(y.chunks_exact_mut(output)) {
            gemv_rows_split(xr, w_f32, b, output, yr, threads);
        }
        return;
    }
    // Each thread computes a block of output columns into its own part of `scratch`.
    let cols = output.div_ceil(threads);
    scratch.resize(batch * output, 0.0);
    scratch.par_chunks_mut(batch * cols).enumerate().for_each(|(t, block)| {
        let c0 = t * cols;
        let n = cols.min(output - c0);
        matmul_with(Op::n(x), Op::strided(&w_f32[c0..], output), block, n, batch, n, input, false, Par::One, w.prec);
    });
    for t in 0..output.div_ceil(cols) {
        let (c0, n) = (t * cols, cols.min(output - t * cols));
        let block = &scratch[t * batch * cols..];
        for (r, yr) in y.chunks_exact_mut(output).enumerate() {
            for ((o, v), bias) in yr[c0..c0 + n].iter_mut().zip(&block[r * n..(r + 1) * n]).zip(&b[c0..c0 + n]) {
                *o = v + bias;
            }
        }
    }
}

/// `y = b + x W` for one row, the rows of `W` split across `threads` and the partial sums added.
fn gemv_rows_split(x: &[f32], w: &[f32], b: &[f32], output: usize, y: &mut [f32], threads: usize) {
    let per = x.len().div_ceil(threads).max(1);
    let partial: Vec<Vec<f32>> = x
        .par_chunks(per)
        .zip(w.par_chunks(per * output))
        .map(|(xs, ws)| {
            let mut acc = vec![0f32; output];
            gemv_acc(xs, ws, &mut acc);
            acc
        })
        .collect();
    y.copy_from_slice(b);
    for p in partial {
        for (o, v) in y.iter_mut().zip(p) {
            *o += v;
        }
    }
}

super::multiversion! {
/// `acc += xs W` over the rows of `ws`. Four rows per pass keep `acc` in registers for four
/// products instead of one.
pub(crate) fn gemv_acc(xs: &[f32], ws: &[f32], acc: &mut [f32]) {
    let n = acc.len();
    let mut rows = ws.chunks_exact(4 * n);
    let mut xq = xs.chunks_exact(4);
    for (x4, w4) in (&mut xq).zip(&mut rows) {
        let (w0, rest) = w4.split_at(n);
        let (w1, rest) = rest.split_at(n);
        let (w2, w3) = rest.split_at(n);
        for o in 0..n {
            acc[o] += x4[0] * w0[o] + x4[1] * w1[o] + x4[2] * w2[o] + x4[3] * w3[o];
        }
    }
    for (xi, row) in xq.remainder().iter().zip(rows.remainder().chunks_exact(n)) {
        for (a, v) in acc.iter_mut().zip(row) {
            *a += xi * v;
        }
    }
}
}

/// Writes `dw = x^T dy`, `db = sum_rows dy` and, when asked for, `dx = dy W^T`; `scratch` grows
/// to `batch*input`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    x: &[f32],
    w: Weights,
    dy: &[f32],
    batch: usize,
    input: usize,
    output: usize,
    dw: &mut [f32],
    db: &mut [f32],
    dx: Option<&mut [f32]>,
    scratch: &mut Vec<f32>,
    par: Par,
) {
    assert_eq!(dy.len(), batch * output, "dense output gradient length");
    assert_eq!(dw.len(), input * output, "dense weight gradient length");
    db.fill(0.0);
    for row in dy.chunks_exact(output) {
        for (g, d) in db.iter_mut().zip(row) {
            *g += d;
        }
    }
    // Rows of dw (input features) are split across threads: each block is x[:, block]^T dy.
    let rows = input.div_ceil(thread_count(par)).max(1);
    dw.par_chunks_mut(rows * output).enumerate().for_each(|(t, block)| {
        let (r0, m) = (t * rows, block.len() / output);
        let lhs = Op { data: &x[r0..], t: true, stride: Some(input) };
        matmul_with(lhs, Op::n(dy), block, output, m, output, batch, false, Par::One, w.prec);
    });
    if let Some(dx) = dx {
        assert_eq!(dx.len(), batch * input, "dense input gradient length");
        // dx^T = W dy^T, rows of W split across threads, then transposed into dx.
        scratch.resize(batch * input, 0.0);
        scratch.par_chunks_mut(rows * batch).enumerate().for_each(|(t, block)| {
            let (r0, m) = (t * rows, block.len() / batch);
            matmul_with(Op::n(&w.data[r0 * output..]), Op::t(dy), block, batch, m, batch, output, false, Par::One, w.prec);
        });
        for (i, col) in scratch.chunks_exact(batch).enumerate() {
            for (n, v) in col.iter().enumerate() {
                dx[n * input + i] = *v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{gradcheck, reference};
    use crate::rng::Rng;

    fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
        (0..n).map(|_| rng.normal() as f32).collect()
    }

    #[test]
    fn forward_matches_reference_single_row_and_batches() {
        let mut rng = Rng::new(8);
        for &(batch, input, output) in &[(1, 1, 1), (1, 13, 7), (2, 3, 4), (3, 5, 9), (4, 17, 2), (5, 6, 1)] {
            let (x, w, b) = (random(batch * input, &mut rng), random(input * output, &mut rng), random(output, &mut rng));
            let want = reference::dense(&x, &w, &b, batch, input, output);
            for par in [Par::One, Par::Many(2), Par::Many(3)] {
                let mut y = vec![f32::NAN; batch * output];
                forward(&x, Weights::f32(&w), &b, batch, input, output, &mut y, &mut Vec::new(), par);
                gradcheck::assert_close(&y, &want, 1e-5, &format!("{batch}x{input}x{output} {par:?}"));
            }
        }
    }

    #[test]
    fn backward_passes_central_difference_check() {
        let mut rng = Rng::new(9);
        for par in [Par::One, Par::Many(2), Par::Many(3)] {
            let (batch, input, output) = (3, 5, 4);
            let (x, w, b, r) = (random(15, &mut rng), random(20, &mut rng), random(4, &mut rng), random(12, &mut rng));
            let (x64, w64, b64, r64) = (reference::widen(&x), reference::widen(&w), reference::widen(&b), reference::widen(&r));
            let loss = |x: &[f64], w: &[f64], b: &[f64]| reference::dot(&reference::dense64(x, w, b, batch, input, output), &r64);
            let (mut dw, mut db, mut dx) = (vec![9f32; 20], vec![9f32; 4], vec![9f32; 15]);
            backward(&x, Weights::f32(&w), &r, batch, input, output, &mut dw, &mut db, Some(&mut dx), &mut Vec::new(), par);
            gradcheck::check(&x, &dx, |v| loss(v, &w64, &b64), "dx");
            gradcheck::check(&w, &dw, |v| loss(&x64, v, &b64), "dw");
            gradcheck::check(&b, &db, |v| loss(&x64, &w64, v), "db");
        }
    }
}
