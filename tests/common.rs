//! Helpers the integration tests share.
use siamface::config::ConvLayer;
use siamface::ModelConfig;

/// An untrained 32x32 RGB face model small enough to save, load and run in milliseconds: for
/// tests about what is stored, served and refused rather than about recognition.
pub fn tiny_face_model() -> ModelConfig {
    ModelConfig::koch(32, 32, 3, vec![ConvLayer { filters: 4, kernel: 5, pool: true }, ConvLayer { filters: 8, kernel: 3, pool: false }], 16)
}

/// The data folder: `SIAMFACE_DATA`, else `../shared/data` beside the project.
pub fn data_root() -> std::path::PathBuf {
    std::env::var_os("SIAMFACE_DATA").map(std::path::PathBuf::from).unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}

/// `rel` inside the data folder (`data_root`), or a failure that says which dataset is missing
/// and where it comes from, rather than an unwrap's panic.
pub fn shared(rel: &str) -> std::path::PathBuf {
    let p = data_root().join(rel);
    if !p.exists() {
        let dataset = match rel.split('/').next() {
            Some("lfw") => "Labeled Faces in the Wild, deep-funneled (umass-vis-lfw/umass-vis-lfw.github.io, the official LFW site)",
            Some("omniglot") => "Omniglot (brendenlake/omniglot and bitsandscraps/omniglot)",
            Some("att_faces") => "AT&T (ORL) faces",
            Some("detectors") => "the YuNet face detector (ShiqiYu/libfacedetection.train)",
            _ => "a shared dataset",
        };
        panic!("test data missing: {} is not there. It belongs to {dataset}; ../shared/data/README.md lists where each dataset comes from.", p.display());
    }
    p
}

/// One LFW photo, `NAME_NNNN.jpg`.
pub fn lfw(name: &str, n: usize) -> std::path::PathBuf {
    shared(&format!("lfw/images_deepfunneled/{name}/{name}_{n:04}.jpg"))
}

/// The bytes of one LFW photo.
pub fn lfw_bytes(name: &str, n: usize) -> Vec<u8> {
    let p = lfw(name, n);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// One PNG chunk: length, type, data, CRC.
pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend(kind);
    out.extend(data);
    out.extend(crc.sum().to_be_bytes());
    out
}

/// A PNG of `w x h` zero pixels of `colour` (PNG colour type: 0 grey, 2 RGB, 6 RGBA) at `depth`
/// bits per sample, in as few bytes as deflate makes of zero rows; written row by row, never
/// held decoded, so headers can declare any size.
pub fn png_zeros(w: u32, h: u32, depth: u8, colour: u8) -> Vec<u8> {
    use std::io::Write;
    let channels = match colour {
        0 => 1,
        2 => 3,
        4 => 2,
        _ => 4,
    };
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([depth, colour, 0, 0, 0]); // deflate, no filter method, not interlaced
    out.extend(png_chunk(b"IHDR", &ihdr));
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let row = vec![0u8; 1 + (w as usize * channels * depth as usize).div_ceil(8)];
    for _ in 0..h {
        z.write_all(&row).unwrap();
    }
    out.extend(png_chunk(b"IDAT", &z.finish().unwrap()));
    out.extend(png_chunk(b"IEND", &[]));
    out
}

/// `siamface serve --addr 127.0.0.1:0` with `args`, run from the project's root (where the
/// relative model paths of the tests point); the server is stopped when the handle drops.
pub fn serve(args: &[&str]) -> crate::server::Server {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_siamface"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(["serve", "--addr", "127.0.0.1:0"]).args(args);
    let (child, addr) = spawn_serve(cmd);
    crate::server::Server(child, addr)
}

/// Starts `cmd` (a `siamface serve` on port 0) with its stdout piped and returns the child and
/// the address its first line announces.
pub fn spawn_serve(mut cmd: std::process::Command) -> (std::process::Child, String) {
    use std::io::Read;
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let (mut line, mut b) = (Vec::new(), [0u8; 1]);
    while out.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    let line = String::from_utf8(line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|r| r.split_whitespace().next()).unwrap_or_else(|| panic!("no address in {line:?}")).to_string();
    (child, addr)
}

/// Cosine between two vectors, in `f64`.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

/// The kernels of `all` this CPU runs. Each one it cannot run is named on the process's stderr
/// directly (not through `eprintln!`, which the harness captures), so a run's output says what
/// went unchecked.
pub fn kernels_that_run(all: &[siamface::engine::gemm::Kernel]) -> Vec<siamface::engine::gemm::Kernel> {
    use std::io::Write;
    let (here, skipped): (Vec<_>, Vec<_>) = all.iter().copied().partition(|k| k.runs_here());
    for k in skipped {
        let _ = writeln!(std::io::stderr(), "SKIPPED gemm kernel {}: this CPU does not run it (checked to be refused instead)", k.name());
    }
    here
}
