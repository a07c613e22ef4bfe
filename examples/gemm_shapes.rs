//! GEMM throughput of the gemm crate on the products the network runs, one thread: the numbers
//! behind the orientation each layer uses. `cargo run --release --example gemm_shapes`
use std::time::Instant;
fn run(m: usize, n: usize, k: usize, at: bool, bt: bool, acc: bool, par: gemm::Parallelism) -> f64 {
    let a = vec![0.5f32; m * k]; let b = vec![0.25f32; k * n]; let mut c = vec![0f32; m * n];
    let (a_cs, a_rs) = if at { (m as isize, 1) } else { (1, k as isize) };
    let (b_cs, b_rs) = if bt { (k as isize, 1) } else { (1, n as isize) };
    let mut best = f64::MAX;
    for _ in 0..6 {
        let t = Instant::now();
        unsafe { gemm::gemm(m, n, k, c.as_mut_ptr(), 1, n as isize, acc, a.as_ptr(), a_cs, a_rs, b.as_ptr(), b_cs, b_rs, 1.0, 1.0, false, false, false, par); }
        best = best.min(t.elapsed().as_secs_f64());
    }
    2.0 * (m * n * k) as f64 / best / 1e9
}
fn main() {
    let shapes = [
        ("dense64 fwd", 64, 4096, 9216, false, false, false),
        ("dense64 fwd n2048", 64, 2048, 9216, false, false, false),
        ("dense64 fwd n1024", 64, 1024, 9216, false, false, false),
        ("dense64 fwdT", 4096, 64, 9216, true, true, false),
        ("dense64 fwdT m2048", 2048, 64, 9216, true, true, false),
        ("dense64 dX", 64, 9216, 4096, false, true, false),
        ("dense64 dXT", 9216, 64, 4096, false, true, false),
        ("dense64 dXT m4608", 4608, 64, 4096, false, true, false),
        ("dense64 dW", 9216, 4096, 64, true, false, false),
        ("dense64 dW m4608", 4608, 4096, 64, true, false, false),
    ];
    for (name, m, n, k, at, bt, acc) in shapes {
        let s = run(m, n, k, at, bt, acc, gemm::Parallelism::None);
        println!("{name:28} m{m} n{n} k{k}: 1t {s:.1} GF/s");
    }
}
