//! Per-kernel timings of one image through the network: where the time goes.
//! `cargo run --release --example kernels -- koch105 [COL_SCRATCH_FLOATS] [par]`
use siamface::engine::gemm::{Par, Weights};
use siamface::engine::{conv, linear, pool};
use std::time::Instant;
fn t<F: FnMut()>(name: &str, reps: usize, mut f: F) -> f64 {
    f();
    let s = Instant::now();
    for _ in 0..reps { f(); }
    let ms = s.elapsed().as_secs_f64() * 1e3 / reps as f64;
    println!("{name:40} {ms:8.3} ms");
    ms
}
fn main() {
    let cfgname = std::env::args().nth(1).unwrap_or("koch105".into());
    let cfg = siamface::ModelConfig::preset(&cfgname).unwrap();
    let layers = cfg.layers().unwrap();
    let budget: usize = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(1 << 19);
    let mut col = vec![0f32; budget];
    let par = if std::env::args().nth(3).is_some() { Par::Many(2) } else { Par::One };
    let gp = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let _g = gp.install(|| 0);
    let mut total = 0.0;
    for (i, l) in layers.iter().enumerate() {
        let s = conv::Shape { h: l.in_h, w: l.in_w, c: l.in_c, kh: l.kernel, kw: l.kernel, k: l.filters };
        let x = vec![0.3f32; s.h * s.w * s.c];
        let w = vec![0.01f32; s.weights()];
        let b = vec![0.5f32; s.k];
        let mut out = vec![0f32; s.pixels() * s.k];
        let gf = 2.0 * (s.pixels() * s.patch() * s.k) as f64 / 1e9;
        let ms = t(&format!("conv{} fwd ({:.3} GF)", i + 1, gf), 5, || gp.install(|| conv::forward(&x, Weights::f32(&w), &s, &mut out, &mut col, par)));
        println!("   -> {:.1} GF/s", gf / ms * 1e3);
        total += ms;
        let rows = (budget / s.patch()).min(s.pixels());
        t(&format!("  im2col only"), 5, || { for r0 in (0..s.pixels()).step_by(rows) { conv::im2col(&x, &s, r0, rows.min(s.pixels()-r0), &mut col); } });
        if l.pool {
            let n = l.out_len();
            let (mut po, mut arg) = (vec![0f32; n], vec![0u8; n]);
            total += t("  pool", 5, || pool::bias_relu_max_forward(&out, &b, l.conv_h(), l.conv_w(), &mut po, &mut arg));
            let mut dx = vec![0f32; out.len()];
            t("  pool bwd", 5, || pool::relu_max_backward(&po, &arg, l.conv_h(), l.conv_w(), l.filters, &mut dx));
        }
        let (mut dw, mut db, mut dx) = (vec![0f32; s.weights()], vec![0f32; s.k], vec![0f32; x.len()]);
        t("  bwd dW only", 3, || conv::backward(&x, Weights::f32(&w), &out, &s, &mut dw, &mut db, None, &mut col, Par::One));
        t("  bwd dW+dX", 3, || conv::backward(&x, Weights::f32(&w), &out, &s, &mut dw, &mut db, Some(&mut dx), &mut col, Par::One));
    }
    println!("conv fwd total per image 1 thread: {total:.2} ms");
    let (f, d) = (9216, 4096);
    let w = vec![0.01f32; f * d];
    let bias = vec![0f32; d];
    for &(bn, par) in &[(64usize, Par::Many(2)), (32, Par::One), (1, Par::Many(2)), (1, Par::One)] {
        let x = vec![0.2f32; bn * f];
        let mut y = vec![0f32; bn * d];
        let ms = t(&format!("dense fwd batch {bn} {par:?}"), 3, || linear::forward(&x, Weights::f32(&w), &bias, bn, f, d, &mut y, &mut Vec::new(), par));
        println!("   -> {:.1} GF/s", 2.0 * (bn * f * d) as f64 / ms / 1e6);
    }
    let bn = 64;
    let x = vec![0.2f32; bn * f];
    let dy = vec![0.1f32; bn * d];
    let (mut dw, mut db, mut dx) = (vec![0f32; f * d], vec![0f32; d], vec![0f32; bn * f]);
    let pool2 = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    pool2.install(|| t("dense bwd batch 64 Many(2)", 3, || linear::backward(&x, Weights::f32(&w), &dy, bn, f, d, &mut dw, &mut db, Some(&mut dx), &mut Vec::new(), Par::Many(2))));
}
