//! Naive kernels, written as directly from the definitions as possible, for tests only. The
//! `*64` forms compute in f64 from f64 inputs: the losses that gradient checks differentiate
//! numerically (`gradcheck::check`), whose rounding must stay far below an f32 kernel's.
use super::conv::Shape;

pub fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&v| v as f64).collect()
}

fn narrow(v: Vec<f64>) -> Vec<f32> {
    v.into_iter().map(|v| v as f32).collect()
}

/// `sum(y * r)`: the loss whose gradient with respect to `y` is `r`.
pub fn dot(y: &[f64], r: &[f64]) -> f64 {
    y.iter().zip(r).map(|(y, r)| y * r).sum()
}

pub fn conv_forward(x: &[f32], w: &[f32], b: &[f32], s: &Shape) -> Vec<f32> {
    narrow(conv_forward64(&widen(x), &widen(w), &widen(b), s))
}

pub fn conv_forward64(x: &[f64], w: &[f64], b: &[f64], s: &Shape) -> Vec<f64> {
    let (oh, ow) = (s.oh(), s.ow());
    let mut out = vec![0f64; oh * ow * s.k];
    for oy in 0..oh {
        for ox in 0..ow {
            for k in 0..s.k {
                let mut acc = b[k];
                for ky in 0..s.kh {
                    for kx in 0..s.kw {
                        for c in 0..s.c {
                            acc += x[((oy + ky) * s.w + ox + kx) * s.c + c] * w[((ky * s.kw + kx) * s.c + c) * s.k + k];
                        }
                    }
                }
                out[(oy * ow + ox) * s.k + k] = acc;
            }
        }
    }
    out
}

/// (dx, dw, db) for `dout`.
pub fn conv_backward(x: &[f32], w: &[f32], dout: &[f32], s: &Shape) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (mut dx, mut dw, mut db) = (vec![0f64; x.len()], vec![0f64; w.len()], vec![0f64; s.k]);
    for oy in 0..s.oh() {
        for ox in 0..s.ow() {
            for k in 0..s.k {
                let d = dout[(oy * s.ow() + ox) * s.k + k] as f64;
                db[k] += d;
                for ky in 0..s.kh {
                    for kx in 0..s.kw {
                        for c in 0..s.c {
                            let xi = ((oy + ky) * s.w + ox + kx) * s.c + c;
                            let wi = ((ky * s.kw + kx) * s.c + c) * s.k + k;
                            dx[xi] += d * w[wi] as f64;
                            dw[wi] += d * x[xi] as f64;
                        }
                    }
                }
            }
        }
    }
    let f = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect();
    (f(dx), f(dw), f(db))
}

pub fn relu_max_pool(x: &[f32], h: usize, w: usize, c: usize) -> Vec<f32> {
    narrow(relu_max_pool64(&widen(x), h, w, c))
}

/// ReLU then 2x2 max pooling, 'same' (ceil) at odd edges.
pub fn relu_max_pool64(x: &[f64], h: usize, w: usize, c: usize) -> Vec<f64> {
    let (ph, pw) = (h.div_ceil(2), w.div_ceil(2));
    let mut out = vec![0f64; ph * pw * c];
    for py in 0..ph {
        for px in 0..pw {
            for ch in 0..c {
                let mut m = f64::NEG_INFINITY;
                for y in 2 * py..(2 * py + 2).min(h) {
                    for xx in 2 * px..(2 * px + 2).min(w) {
                        m = m.max(x[(y * w + xx) * c + ch]);
                    }
                }
                out[(py * pw + px) * c + ch] = m.max(0.0);
            }
        }
    }
    out
}

pub fn dense(x: &[f32], w: &[f32], b: &[f32], batch: usize, input: usize, output: usize) -> Vec<f32> {
    narrow(dense64(&widen(x), &widen(w), &widen(b), batch, input, output))
}

pub fn dense64(x: &[f64], w: &[f64], b: &[f64], batch: usize, input: usize, output: usize) -> Vec<f64> {
    let mut y = vec![0f64; batch * output];
    for n in 0..batch {
        for o in 0..output {
            y[n * output + o] = b[o] + (0..input).map(|i| x[n * input + i] * w[i * output + o]).sum::<f64>();
        }
    }
    y
}

/// Koch's head on pairs of `d`-value embeddings: `sum_j a_j |e_p,j - e_q,j| + b`, one logit a pair.
pub fn head64(e: &[f64], d: usize, pairs: &[(u32, u32)], a: &[f64], b: f64) -> Vec<f64> {
    let row = |i: u32| &e[i as usize * d..][..d];
    pairs.iter().map(|&(p, q)| b + row(p).iter().zip(row(q)).zip(a).map(|((u, v), a)| a * (u - v).abs()).sum::<f64>()).collect()
}

pub fn sigmoid64(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Binary cross-entropy of logits `z` against labels `y`, the mean of `-[y ln p + (1-y) ln(1-p)]`
/// with `p = sigmoid(z)`, as the textbook writes it.
pub fn bce64(z: &[f64], y: &[f64]) -> f64 {
    z.iter().zip(y).map(|(&z, &y)| -(y * sigmoid64(z).ln() + (1.0 - y) * (1.0 - sigmoid64(z)).ln())).sum::<f64>() / z.len() as f64
}

/// Strided, zero-padded cross-correlation of one image, straight from the definition.
pub fn conv2d(x: &[f32], w: &[f32], b: &[f32], s: &super::conv2d::Shape) -> Vec<f32> {
    let (oh, ow) = (s.oh(), s.ow());
    let mut out = vec![0f32; oh * ow * s.f];
    for oy in 0..oh {
        for ox in 0..ow {
            for f in 0..s.f {
                let mut acc = if b.is_empty() { 0.0 } else { b[f] as f64 };
                for ky in 0..s.k {
                    for kx in 0..s.k {
                        let (iy, ix) = ((oy * s.stride + ky) as isize - s.pad as isize, (ox * s.stride + kx) as isize - s.pad as isize);
                        if iy < 0 || ix < 0 || iy as usize >= s.h || ix as usize >= s.w {
                            continue;
                        }
                        for c in 0..s.c {
                            let xv = x[(iy as usize * s.w + ix as usize) * s.c + c] as f64;
                            acc += xv * w[((ky * s.k + kx) * s.c + c) * s.f + f] as f64;
                        }
                    }
                }
                out[(oy * ow + ox) * s.f + f] = acc as f32;
            }
        }
    }
    out
}

/// Max or average over each `size x size` window, unpadded.
pub fn pool(x: &[f32], s: &super::pool2d::Shape, average: bool) -> Vec<f32> {
    let mut out = Vec::new();
    for oy in 0..s.oh() {
        for ox in 0..s.ow() {
            for c in 0..s.c {
                let vals: Vec<f32> = (0..s.size * s.size)
                    .map(|k| x[((oy * s.stride + k / s.size) * s.w + ox * s.stride + k % s.size) * s.c + c])
                    .collect();
                out.push(if average { vals.iter().sum::<f32>() / vals.len() as f32 } else { vals.iter().cloned().fold(f32::MIN, f32::max) });
            }
        }
    }
    out
}
