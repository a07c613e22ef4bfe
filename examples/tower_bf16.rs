//! Embeddings of a batch of 64 images with the convolution and dense products in f32 and in bf16
//! (weights packed for the tiles once, `gemm::PackedB`), in the same run: embeddings/s of each and
//! how far the bf16 embeddings and pair distances move. It is the network's forward pass written
//! with the engine's public pieces, checked against `Siamese::embed`, so it shows how a caller
//! opts into bf16 before the model does.
//!
//! `cargo run --release --example tower_bf16 -- [koch105|face100|MODEL.safetensors] [threads]`
//! Without AMX (or with `SIAMFACE_NO_AMX=1`) bf16 runs in f32 here, and the bf16 numbers come from
//! the portable kernel instead: its accuracy is the tiles', its speed is not.
use std::time::Instant;

use rayon::prelude::*;
use siamface::config::LayerShape;
use siamface::engine::gemm::{matmul, matmul_on, matmul_packed, Kernel, Op, PackedB, Par, Precision};
use siamface::engine::{act, conv, pool};
use siamface::model::{Params, Siamese};
use siamface::rng::Rng;
use siamface::ModelConfig;

const BATCH: usize = 64;
const COL: usize = 1 << 20;

/// The weights of one product, as the chosen kernel wants them.
enum Weights<'a> {
    F32(&'a [f32]),
    Packed(PackedB),
    Portable(&'a [f32]),
}

impl Weights<'_> {
    fn product(&self, a: &[f32], c: &mut [f32], m: usize, k: usize, n: usize, par: Par) {
        match self {
            Weights::F32(w) => matmul(Op::n(a), Op::n(w), c, n, m, n, k, false, par),
            Weights::Packed(p) => matmul_packed(Op::n(a), p, c, n, m, false, par),
            Weights::Portable(w) => matmul_on(Kernel::Bf16Portable, Op::n(a), Op::n(w), c, n, m, n, k, false, par),
        }
    }
}

fn weights<'a>(w: &'a [f32], k: usize, n: usize, bf16: bool) -> Weights<'a> {
    if !bf16 {
        return Weights::F32(w);
    }
    match PackedB::for_precision(Op::n(w), k, n, Precision::Bf16) {
        Some(p) => Weights::Packed(p),
        None => Weights::Portable(w),
    }
}

/// One image through the convolution tower, as `model::siamese` computes it, into `flat`.
fn tower(x: &[f32], layers: &[LayerShape], params: &Params, ws: &[Weights], flat: &mut [f32]) {
    let mut input = x.to_vec();
    let mut col = vec![0f32; COL];
    for (l, s) in layers.iter().enumerate() {
        let shape = conv::Shape { h: s.in_h, w: s.in_w, c: s.in_c, kh: s.kernel, kw: s.kernel, k: s.filters };
        let mut c = vec![0f32; s.conv_len()];
        let step = (COL / shape.patch()).clamp(1, shape.pixels());
        for r in (0..shape.pixels()).step_by(step) {
            let rows = step.min(shape.pixels() - r);
            conv::im2col(&input, &shape, r, rows, &mut col);
            ws[l].product(&col[..rows * shape.patch()], &mut c[r * s.filters..(r + rows) * s.filters], rows, shape.patch(), s.filters, Par::One);
        }
        let bias = params.at(2 * l + 1);
        input = if s.pool {
            let mut out = vec![0f32; s.out_len()];
            let mut arg = vec![0u8; s.out_len()];
            pool::bias_relu_max_forward(&c, bias, s.conv_h(), s.conv_w(), &mut out, &mut arg);
            out
        } else {
            act::bias_relu(&mut c, bias);
            c
        };
    }
    flat.copy_from_slice(&input);
}

/// The batch: towers one image per thread, then the dense layer as one product for all.
fn embed_all(images: &[f32], cfg: &ModelConfig, layers: &[LayerShape], params: &Params, ws: &[Weights]) -> Vec<f32> {
    let (il, d, f) = (cfg.input_len(), cfg.embedding, cfg.flat_len().unwrap());
    let mut flat = vec![0f32; BATCH * f];
    flat.par_chunks_mut(f).zip(images.par_chunks(il)).for_each(|(o, x)| tower(x, layers, params, ws, o));
    let mut out = vec![0f32; BATCH * d];
    ws[layers.len()].product(&flat, &mut out, BATCH, f, d, Par::threads(rayon::current_num_threads()));
    for e in out.chunks_exact_mut(d) {
        e.iter_mut().zip(params.at(2 * layers.len() + 1)).for_each(|(e, b)| *e += b);
        act::sigmoid(e);
    }
    out
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or("koch105".into());
    let threads: usize = std::env::args().nth(2).and_then(|t| t.parse().ok()).unwrap_or(0);
    let (cfg, params) = if arg.ends_with(".safetensors") {
        let ck = siamface::model::io::load(std::path::Path::new(&arg)).expect("model loads");
        (ck.config, ck.params)
    } else {
        let cfg = ModelConfig::preset(&arg).expect("a preset name or a .safetensors model");
        let params = Params::init(&cfg, &mut Rng::new(1)).expect("parameters");
        (cfg, params)
    };
    let layers = cfg.layers().unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let mut rng = Rng::new(2);
    let images: Vec<f32> = (0..BATCH * cfg.input_len()).map(|_| rng.uniform() as f32).collect();

    let shapes: Vec<(usize, usize)> = layers.iter().map(|s| (s.patch(), s.filters)).chain([(cfg.flat_len().unwrap(), cfg.embedding)]).collect();
    let build = |bf16: bool| -> Vec<Weights> { shapes.iter().enumerate().map(|(i, &(k, n))| weights(params.at(2 * i), k, n, bf16)).collect() };
    let (w32, w16) = (build(false), build(true));
    let amx = matches!(w16[0], Weights::Packed(_));
    println!("{arg}: batch {BATCH}, {} threads, bf16 on {}", pool.current_num_threads(), if amx { "AMX tiles" } else { "the portable kernel (no AMX here)" });

    let mut net = Siamese::new(cfg.clone(), params.clone(), threads).unwrap();
    let mut want = vec![0f32; BATCH * cfg.embedding];
    net.embed(&images, &mut want).unwrap();
    let e32 = pool.install(|| embed_all(&images, &cfg, &layers, &params, &w32));
    let same = e32.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(same < 1e-4, "this forward pass differs from Siamese::embed by {same}");

    let time = |ws: &[Weights]| {
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            pool.install(|| embed_all(&images, &cfg, &layers, &params, ws));
            best = best.min(t.elapsed().as_secs_f64());
        }
        BATCH as f64 / best
    };
    let (s32, s16) = (time(&w32), time(&w16));
    let model_s = {
        let t = Instant::now();
        net.embed(&images, &mut want).unwrap();
        BATCH as f64 / t.elapsed().as_secs_f64()
    };
    let e16 = pool.install(|| embed_all(&images, &cfg, &layers, &params, &w16));
    let emb_err = e16.iter().zip(&e32).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    // The head reads |e1 - e2|: how far bf16 moves the L1 distance of each pair.
    let d = cfg.embedding;
    let l1 = |e: &[f32], i: usize, j: usize| e[i * d..(i + 1) * d].iter().zip(&e[j * d..(j + 1) * d]).map(|(a, b)| (a - b).abs()).sum::<f32>();
    let pairs = (0..BATCH / 2).map(|p| (l1(&e32, p, p + BATCH / 2), l1(&e16, p, p + BATCH / 2)));
    let (mean, worst) = pairs.fold((0f32, 0f32), |(s, w), (a, b)| (s + a / (BATCH / 2) as f32, w.max((a - b).abs())));
    let dist_err = worst / mean;
    // How much the embeddings of different images differ at all, for scale.
    let spread = (0..d).map(|c| {
        let col: Vec<f32> = (0..BATCH).map(|i| e32[i * d + c]).collect();
        let mu = col.iter().sum::<f32>() / BATCH as f32;
        col.iter().map(|v| (v - mu).abs()).sum::<f32>() / BATCH as f32
    }).sum::<f32>() / d as f32;
    println!("f32 embeddings: mean |e - mean e| per unit {spread:.2e}, mean pair L1 distance {mean:.2e}");
    println!("embeddings/s   f32 {s32:8.1}   bf16 {s16:8.1}   bf16/f32 {:.2}x   (Siamese::embed, f32: {model_s:.1})", s16 / s32);
    println!("bf16 vs f32: max |embedding difference| {emb_err:.2e}, largest change of a pair's L1 distance {dist_err:.2e} of the mean distance");
}
