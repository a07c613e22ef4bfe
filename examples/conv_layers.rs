//! Each convolution of koch105 on one thread in bf16 — forward, weight gradient, input gradient
//! — as a share of the `vdpbf16ps` peak measured in the same process (`bf16_dot::peak_loop`):
//! where a training step's time goes, layer by layer, and how far each product is from the
//! instruction's limit. `cargo run --release --example conv_layers -- [preset]`.
use siamface::engine::bf16_dot;
use siamface::engine::conv::{self, Shape};
use siamface::engine::gemm::{Kernel, Op, Precision};
use siamface::engine::panels::{PackedB, Weights};
use siamface::engine::Par;
use siamface::ModelConfig;
use std::time::Instant;

/// Best of three means of `n` calls, in seconds: the machine's speed drifts.
fn time(n: usize, mut f: impl FnMut()) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            (0..n).for_each(|_| f());
            t.elapsed().as_secs_f64() / n as f64
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    if !bf16_dot::supported() {
        eprintln!("conv_layers: this CPU has no AVX512_BF16; nothing to measure");
        return;
    }
    let preset = std::env::args().nth(1).unwrap_or_else(|| "koch105".into());
    let cfg = ModelConfig::preset(&preset).expect("a preset: koch105, face100, face64, small35");
    let iters = 20_000_000;
    let t = Instant::now();
    let peak = bf16_dot::peak_loop(iters) / t.elapsed().as_secs_f64();
    println!("{preset}, one thread; vdpbf16ps peak {:.0} GFLOP/s; each product's time and share of it", peak / 1e9);
    let mut total = [0.0; 3];
    for (l, layer) in cfg.layers().expect("preset layers").iter().enumerate() {
        let s = Shape { h: layer.in_h, w: layer.in_w, c: layer.in_c, kh: layer.kernel, kw: layer.kernel, k: layer.filters };
        let value = |i: usize, m: usize| ((i * m) % 1000) as f32 / 1000.0 - 0.5;
        let x: Vec<f32> = (0..s.h * s.w * s.c).map(|i| value(i, 7919)).collect();
        let dout: Vec<f32> = (0..s.pixels() * s.k).map(|i| value(i, 104_729)).collect();
        let w: Vec<f32> = (0..s.weights()).map(|i| value(i, 31) * 0.02).collect();
        let (patch, k) = (s.patch(), s.k);
        let (pb, pt) = (PackedB::new(Op::n(&w), patch, k, Kernel::Bf16Avx512), PackedB::new(Op::t(&w), k, patch, Kernel::Bf16Avx512));
        let wts = Weights { data: &w, prec: Precision::Bf16, packed: Some(&pb), packed_t: Some(&pt) };
        let (mut dw, mut db, mut dx) = (vec![0f32; s.weights()], vec![0f32; k], vec![0f32; x.len()]);
        let (mut out, mut col) = (vec![0f32; s.pixels() * k], vec![0f32; 1 << 20]);
        let flop = 2.0 * (s.pixels() * patch * k) as f64;
        let n = (2e9 / flop).ceil() as usize;
        let fwd = time(n, || conv::forward(&x, wts, &s, &mut out, &mut col, Par::One));
        let dw_s = time(n, || conv::backward(&x, wts, &dout, &s, &mut dw, &mut db, None, &mut col, Par::One));
        let both = time(n, || conv::backward(&x, wts, &dout, &s, &mut dw, &mut db, Some(&mut dx), &mut col, Par::One));
        let dx_s = (both - dw_s).max(f64::MIN_POSITIVE);
        let share = |t: f64| 100.0 * flop / t / peak;
        print!("layer {}: forward {:.3} ms ({:.0}%)  weight gradient {:.3} ms ({:.0}%)", l + 1, fwd * 1e3, share(fwd), dw_s * 1e3, share(dw_s));
        // Training needs no input gradient for the first layer.
        if l > 0 {
            print!("  input gradient {:.3} ms ({:.0}%)", dx_s * 1e3, share(dx_s));
            total[2] += dx_s;
        }
        println!();
        total[0] += fwd;
        total[1] += dw_s;
    }
    println!("per image: forward {:.2} ms, weight gradients {:.2} ms, input gradients {:.2} ms", total[0] * 1e3, total[1] * 1e3, total[2] * 1e3);
}
