//! int8 inference on the shipped models and real faces, against `f32`: the face ResNet with its
//! shipped calibration (`models/face/int8.json`), and Koch's face tower calibrated here on other
//! people's photos than those it is then tested on. int8 rounds every convolution's and dense
//! product's operands (weights per output channel, activations to the calibrated range), so
//! embeddings and scores must stay near `f32`'s, and a calibration must refuse weights it was not
//! made for.
use std::io::Write;
use std::path::Path;

use siamface::engine::gemm::{Kernel, Precision};
use siamface::face::{self, Detector};
use siamface::model::{io, Siamese};

use crate::common::{cosine, lfw, shared};

fn model(name: &str) -> io::Checkpoint {
    io::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(name)).unwrap()
}

/// Two photos each of `people`, as the tower's input floats.
fn faces(cfg: &siamface::ModelConfig, people: &[&str]) -> Vec<f32> {
    let det = Detector::new().unwrap();
    let mut x = Vec::new();
    for p in people {
        for n in [1, 2] {
            let found = face::from_file(&det, &lfw(p, n), cfg).unwrap();
            x.extend(cfg.input.floats(&found.input, cfg.channels));
        }
    }
    x
}

const TESTED: [&str; 8] = ["George_W_Bush", "Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder", "Ariel_Sharon", "Hugo_Chavez", "Junichiro_Koizumi"];
const CALIBRATION: [&str; 8] = ["Jean_Chretien", "John_Ashcroft", "Jacques_Chirac", "Serena_Williams", "Vladimir_Putin", "Luiz_Inacio_Lula_da_Silva", "Gloria_Macapagal_Arroyo", "Jennifer_Capriati"];

/// The int8 kernel here, or `None` after naming the skip on stderr.
fn int8_kernel() -> Option<Kernel> {
    let k = Kernel::for_precision(Precision::Int8);
    if !k.is_int8() {
        let _ = writeln!(std::io::stderr(), "SKIPPED int8 models: no int8 kernel on this CPU (or SIAMFACE_KERNELS caps it); int8 ran as {}", k.name());
        return None;
    }
    Some(k)
}

/// Worst embedding cosine and worst pair-score change of `int8` against `f32` on `x`, and
/// whether each same/different pair (each person's two photos; each photo and the next
/// person's) keeps its side of `threshold`.
fn compare(f32_net: &Siamese, int8: &Siamese, x: &[f32], threshold: f32) -> (f64, f32, usize) {
    let d = f32_net.embedding_len();
    let n = x.len() / f32_net.config().input_len();
    let (mut a, mut b) = (vec![0f32; n * d], vec![0f32; n * d]);
    f32_net.embed(x, &mut a).unwrap();
    int8.embed(x, &mut b).unwrap();
    assert_ne!(a, b, "int8 embeddings identical to f32's: operands not rounded?");
    let worst = (0..n).map(|i| cosine(&a[i * d..][..d], &b[i * d..][..d])).fold(1.0, f64::min);
    let (mut moved, mut flipped) = (0f32, 0);
    for i in 0..n {
        for j in i + 1..n {
            let (s, t) = (f32_net.score(&a[i * d..][..d], &a[j * d..][..d]), int8.score(&b[i * d..][..d], &b[j * d..][..d]));
            moved = moved.max((s - t).abs());
            flipped += usize::from((s >= threshold) != (t >= threshold));
        }
    }
    (worst, moved, flipped)
}

#[test]
fn the_face_resnet_in_int8_with_its_shipped_calibration_follows_f32() {
    let Some(kernel) = int8_kernel() else { return };
    let _ = shared("lfw");
    let ck = model("face");
    assert!(ck.int8.is_some(), "models/face has no int8.json");
    let cfg = ck.config.clone();
    let x = faces(&cfg, &TESTED);
    let f32_net = Siamese::new(cfg.clone(), ck.params.clone(), 2).unwrap();
    let threshold = siamface::model::card::Card::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/face")).unwrap().threshold as f32;
    let int8 = Siamese::load(ck, 2, Precision::Int8).unwrap();
    let (worst, moved, flipped) = compare(&f32_net, &int8, &x, threshold);
    let _ = writeln!(std::io::stderr(), "int8 face ResNet ({}): embedding cosine to f32 >= {worst:.5}, pair scores within {moved:.4}, {flipped} of 120 decisions flipped", kernel.name());
    assert!(worst > 0.99, "an embedding at cosine {worst} from f32's");
    assert!(flipped <= 1, "{flipped} decisions flipped at the card's threshold {threshold}");
}

#[test]
fn koch_face_calibrated_on_other_people_follows_f32_on_these() {
    let Some(kernel) = int8_kernel() else { return };
    let _ = shared("lfw");
    let ck = model("koch-face");
    let cfg = ck.config.clone();
    let f32_net = Siamese::new(cfg.clone(), ck.params.clone(), 2).unwrap();
    let mut net = Siamese::new(cfg.clone(), ck.params.clone(), 2).unwrap();
    let c = net.calibrate(&faces(&cfg, &CALIBRATION), "test").unwrap();
    assert_eq!(c.images, 16);
    assert!(c.inputs.iter().all(|i| i.lo <= 0.0 && i.hi > 0.0 && i.hi <= i.seen_max.max(0.0) + 1e-6), "a range outside what was seen: {:?}", c.inputs);
    let int8 = net.with_int8(c).unwrap().with_precision(Precision::Int8).unwrap();
    let (worst, moved, flipped) = compare(&f32_net, &int8, &faces(&cfg, &TESTED), 0.5);
    let _ = writeln!(std::io::stderr(), "int8 koch-face ({}): embedding cosine to f32 >= {worst:.5}, pair scores within {moved:.4}, {flipped} of 120 decisions flipped", kernel.name());
    assert!(worst > 0.99, "an embedding at cosine {worst} from f32's");
    assert!(moved < 0.1, "a pair score moved by {moved}");
}

#[test]
fn a_calibration_refuses_other_weights_and_int8_needs_one() {
    let ck = model("koch-face");
    let cfg = ck.config.clone();
    let no_calibration = Siamese::new(cfg.clone(), ck.params.clone(), 1).unwrap().with_precision(Precision::Int8);
    let e = no_calibration.err().expect("int8 without a calibration").to_string();
    assert!(e.contains("siamface calibrate"), "{e}");
    let face = model("face");
    let shipped = face.int8.unwrap().unwrap();
    let e = Siamese::new(cfg, ck.params, 1).unwrap().with_int8(shipped.clone()).err().expect("another model's calibration").to_string();
    assert!(e.contains("run `siamface calibrate` again"), "{e}");
    // The same weights changed by one value: the fingerprint no longer matches.
    let mut params = face.params.clone();
    params.data[0] += 1e-3;
    let e = Siamese::new(face.config.clone(), params, 1).unwrap().with_int8(shipped).err().expect("changed weights").to_string();
    assert!(e.contains("made for weights"), "{e}");
}

#[test]
fn a_broken_int8_json_stops_only_int8_and_training_drops_the_calibration() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/koch-face");
    let dir = std::env::temp_dir().join(format!("siamface-int8-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["model.safetensors", "config.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("int8.json"), "{ not json").unwrap();
    Siamese::load(io::load(&dir).unwrap(), 1, Precision::F32).expect("f32 does not read int8.json");
    let e = Siamese::load(io::load(&dir).unwrap(), 1, Precision::Int8).err().expect("int8 with a broken int8.json").to_string();
    assert!(e.contains("int8.json"), "{e}");
    std::fs::remove_dir_all(&dir).ok();

    // Weights changed by an optimiser step leave the calibration behind: int8 is refused after.
    let ck = model("koch-face");
    let cfg = ck.config.clone();
    let mut net = Siamese::new(cfg.clone(), ck.params.clone(), 1).unwrap();
    let x: Vec<f32> = (0..2 * cfg.input_len()).map(|i| (i % 7) as f32 / 7.0).collect();
    let c = net.calibrate(&x, "test").unwrap();
    let mut net = net.with_int8(c).unwrap();
    let mut opt = siamface::model::Optimizer::new(siamface::OptimizerConfig::adam(), net.params()).unwrap();
    let mut state = siamface::model::TrainState::new(&net).unwrap();
    state.forward_backward(&net, &x, &[(0, 1)], &[1.0]).unwrap();
    net.apply(&mut opt, state.grads()).unwrap();
    let e = net.set_precision(Precision::Int8).err().expect("int8 after a step").to_string();
    assert!(e.contains("siamface calibrate"), "{e}");
}
