//! Naive kernels, written as directly from the definitions as possible, for tests only.
use super::conv::Shape;

pub fn conv_forward(x: &[f32], w: &[f32], b: &[f32], s: &Shape) -> Vec<f32> {
    let (oh, ow) = (s.oh(), s.ow());
    let mut out = vec![0f32; oh * ow * s.k];
    for oy in 0..oh {
        for ox in 0..ow {
            for k in 0..s.k {
                let mut acc = b[k] as f64;
                for ky in 0..s.kh {
                    for kx in 0..s.kw {
                        for c in 0..s.c {
                            let xv = x[((oy + ky) * s.w + ox + kx) * s.c + c] as f64;
                            acc += xv * w[((ky * s.kw + kx) * s.c + c) * s.k + k] as f64;
                        }
                    }
                }
                out[(oy * ow + ox) * s.k + k] = acc as f32;
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
    let (ph, pw) = (h.div_ceil(2), w.div_ceil(2));
    let mut out = vec![0f32; ph * pw * c];
    for py in 0..ph {
        for px in 0..pw {
            for ch in 0..c {
                let mut m = f32::NEG_INFINITY;
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
    let mut y = vec![0f32; batch * output];
    for n in 0..batch {
        for o in 0..output {
            let acc: f64 = b[o] as f64 + (0..input).map(|i| x[n * input + i] as f64 * w[i * output + o] as f64).sum::<f64>();
            y[n * output + o] = acc as f32;
        }
    }
    y
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
