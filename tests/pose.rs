//! Rolled and turned heads against dlib's own pipeline: our whole pipeline (YuNet, dlib's five
//! points from YuNet's box, dlib's chip, the ResNet) on LFW faces rolled by -40 to +40 degrees
//! and on LFW photos of clearly turned heads, held against dlib's pipeline (HOG detector, 5-point
//! predictor, chip, descriptor) on the same pictures, and each against the same person's
//! upright, frontal enrolment photo (tests/fixtures/dlib/pose, written by
//! `tools/dlib_reference.py pose` with dlib 20.0.1; pose.json says how the pictures were chosen).
//! The same numbers with the face aligned by YuNet's own points are printed beside ours, to show
//! what the shape predictor changes.
use std::path::PathBuf;

use siamface::face::{align, Detector, Face};
use siamface::model::{io, Scratch, Siamese};
use siamface::ModelConfig;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dir() -> PathBuf {
    root().join("tests/fixtures/dlib/pose")
}

fn fixture() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("pose.json")).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn points(v: &serde_json::Value) -> Vec<[f32; 2]> {
    v.as_array().unwrap().iter().map(|xy| [xy[0].as_f64().unwrap() as f32, xy[1].as_f64().unwrap() as f32]).collect()
}

fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f32>().sqrt()
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len().max(1) as f32
}

fn eye_centres(p: &[[f32; 2]]) -> ([f32; 2], [f32; 2]) {
    ([(p[0][0] + p[1][0]) / 2.0, (p[0][1] + p[1][1]) / 2.0], [(p[2][0] + p[3][0]) / 2.0, (p[2][1] + p[3][1]) / 2.0])
}

/// Roll of the line from the image-left eye to the image-right eye, in degrees (y grows
/// downwards), from dlib's five points or from YuNet's two eye centres.
fn roll_dlib(p: &[[f32; 2]]) -> f32 {
    let (r, l) = eye_centres(p);
    (r[1] - l[1]).atan2(r[0] - l[0]).to_degrees()
}

fn roll_yunet(l: &[[f32; 2]; 5]) -> f32 {
    (l[1][1] - l[0][1]).atan2(l[1][0] - l[0][0]).to_degrees()
}

/// Mean distance from our five points to dlib's, in eye distances (dlib's, centre to centre).
fn point_error(ours: &[[f32; 2]], dlib: &[[f32; 2]]) -> f32 {
    let (r, l) = eye_centres(dlib);
    let eyes = (r[0] - l[0]).hypot(r[1] - l[1]);
    ours.iter().zip(dlib).map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1])).sum::<f32>() / 5.0 / eyes
}

/// One picture through our pipeline: the largest face, embedded from the chip dlib's points
/// cut (what the service does) and from the chip YuNet's points cut.
struct Ours {
    face: Face,
    dlib_points: Vec<f32>,
    yunet_points: Vec<f32>,
}

struct Run {
    det: Detector,
    net: Siamese,
    cfg: ModelConfig,
    scratch: Scratch,
}

impl Run {
    fn new() -> Run {
        let ck = io::load(&root().join("models/face")).unwrap();
        let cfg = ck.config.clone();
        let net = Siamese::new(ck.config, ck.params, 1).unwrap();
        let scratch = net.scratch();
        Run { det: Detector::new().unwrap(), net, cfg, scratch }
    }

    fn embed(&mut self, file: &str) -> Option<Ours> {
        let img = image::open(dir().join(file)).unwrap().to_rgb8();
        let face = *self.det.detect(&img).unwrap().first()?;
        let input = align::input_from_photo(&img, &face, &self.cfg);
        let dlib_points = self.net.embed_bytes_with(&input, &mut self.scratch).unwrap();
        let yunet = align::warp(&img, align::chip_transform(&face.landmarks, &align::CHIP_WEIGHTS), align::CHIP_SIZE);
        let yunet_points = self.net.embed_bytes_with(yunet.as_raw(), &mut self.scratch).unwrap();
        Some(Ours { face, dlib_points, yunet_points })
    }
}

/// Our chip from dlib's own points (pose.json holds them, as dlib rounds them) is dlib's chip:
/// the descriptor lands within float rounding of dlib's pipeline's. Whatever `rolled_and_turned`
/// then measures is the points, not the cut. (Before the chip followed dlib's rectangle and
/// truncation, the same points gave 0.045-0.16.)
#[test]
fn our_chip_from_dlibs_points_gives_dlibs_descriptor_rolled_or_turned() {
    let mut run = Run::new();
    let fx = fixture();
    let mut worst = 0f32;
    for person in fx["people"].as_array().unwrap() {
        for p in std::iter::once(&person["enrolment"]).chain(person["pictures"].as_array().unwrap()) {
            let img = image::open(dir().join(p["image"].as_str().unwrap())).unwrap().to_rgb8();
            let dp = points(&p["points"]);
            let z = align::dlib_chip_transform(&[dp[0], dp[1], dp[2], dp[3], dp[4]]);
            let got = run.net.embed_bytes_with(align::chip(&img, z).as_raw(), &mut run.scratch).unwrap();
            worst = worst.max(distance(&got, &floats(&p["descriptor"])));
        }
    }
    eprintln!("our chip from dlib's points: at most {worst:.4} from dlib's pipeline descriptor");
    // Measured 0.0018: dlib's chip is cut in double precision, ours in f32.
    assert!(worst < 0.005, "{worst}");
}

/// Every picture of the fixture, rolled, turned and upright, through both pipelines.
///
/// (a) Our descriptor of a picture against dlib's pipeline's descriptor of the same picture.
/// The chip is dlib's (the test above), so what is left is the box the shape predictor starts
/// from: YuNet's made into dlib's shape, against dlib's HOG box. Upright, that moves the points
/// by about 1% of the eye distance and the descriptor by about 0.04 (the enrolment photos,
/// printed as "upright"). A rolled face's box grows with the roll (by up to cos + sin = 1.4 at
/// 40 degrees) and the points move by 2-3%; a rolled or turned face aligns as well when its
/// mean is within 1.75 times the upright mean, and no picture is further than 0.15 (a quarter
/// of the same-person threshold, `resnet.rs`'s bound for upright photos). Aligned by YuNet's own
/// points, which lean towards upright when the head rolls, rolled faces come out 7 times the
/// upright mean and the 40-degree ones at 0.3-0.5.
///
/// (b) Our descriptor against our own descriptor of the same person's enrolment photo: below
/// 0.6 (same person) for every picture, and within 0.06 of what dlib's pipeline gets for the
/// same pair (about the per-picture distance at each end, which mostly do not add up).
///
/// YuNet must find every face but at most one of those rolled by 40 degrees: its confidence for
/// them is 0.79-0.90 against 0.91-0.95 for the upright and turned ones, around the detector's
/// `min_score` of 0.8 (Anders_Fogh_Rasmussen_0002_roll+40 scored 0.79).
#[test]
fn rolled_and_turned_faces_align_as_well_as_upright_ones() {
    let fx = fixture();
    let mut run = Run::new();
    let (mut upright, mut rolled, mut turned) = (Vec::new(), Vec::new(), Vec::new());
    let (mut upright_y, mut rolled_y, mut turned_y) = (Vec::new(), Vec::new(), Vec::new());
    let (mut pictures, mut missed_at_40, mut failures) = (0, Vec::new(), Vec::new());
    for s in fx["skipped"].as_array().unwrap() {
        eprintln!("{} not in the fixture: {}", s["image"], s["reason"]);
    }
    eprintln!("picture                                 score | roll: dlib  ours yunet | points | to dlib's: ours yunet | to enrolment: dlib  ours yunet");
    for person in fx["people"].as_array().unwrap() {
        let e_dlib = floats(&person["enrolment"]["descriptor"]);
        let mut enrol: Option<Ours> = None;
        for (i, p) in std::iter::once(&person["enrolment"]).chain(person["pictures"].as_array().unwrap()).enumerate() {
            pictures += 1;
            let file = p["image"].as_str().unwrap();
            let want = floats(&p["descriptor"]);
            let Some(ours) = run.embed(file) else {
                eprintln!("{file:<38}      - | YuNet finds no face above its min_score");
                if p["roll_degrees"].as_i64().unwrap_or(0).abs() == 40 {
                    missed_at_40.push(file.to_string());
                } else {
                    failures.push(format!("{file}: no face found"));
                }
                continue;
            };
            let (d, u) = (distance(&ours.dlib_points, &want), distance(&ours.yunet_points, &want));
            let row = format!(
                "{file:<38} {:>6.2} | {:>10.1} {:>5.1} {:>5.1} | {:>6.3} | {d:>15.3} {u:>5.3} |",
                ours.face.score,
                p["roll"].as_f64().unwrap(),
                roll_dlib(&ours.face.points.unwrap()),
                roll_yunet(&ours.face.landmarks),
                point_error(&ours.face.points.unwrap(), &points(&p["points"]))
            );
            if d >= 0.15 {
                failures.push(format!("{file}: {d:.3} from dlib's descriptor of the same picture"));
            }
            if i == 0 {
                eprintln!("{row} (enrolment)");
                upright.push(d);
                upright_y.push(u);
                enrol = Some(ours);
                continue;
            }
            if p["kind"] == "roll" {
                rolled.push(d);
                rolled_y.push(u);
            } else {
                turned.push(d);
                turned_y.push(u);
            }
            let pair_dlib = distance(&want, &e_dlib);
            let Some(enrol) = &enrol else {
                eprintln!("{row} {pair_dlib:>18.3}     -     - (no enrolment)");
                continue;
            };
            let (pair, pair_y) = (distance(&ours.dlib_points, &enrol.dlib_points), distance(&ours.yunet_points, &enrol.yunet_points));
            eprintln!("{row} {pair_dlib:>18.3} {pair:>5.3} {pair_y:>5.3}");
            if pair >= 0.6 {
                failures.push(format!("{file}: {pair:.3} from the enrolment photo, not the same person"));
            }
            if (pair - pair_dlib).abs() >= 0.06 {
                failures.push(format!("{file}: {pair:.3} from the enrolment photo where dlib's pipeline gets {pair_dlib:.3}"));
            }
        }
    }
    eprintln!(
        "mean distance to dlib's descriptor of the same picture: upright {:.3} ({:.3} by YuNet's points), rolled {:.3} ({:.3}), turned {:.3} ({:.3})",
        mean(&upright),
        mean(&upright_y),
        mean(&rolled),
        mean(&rolled_y),
        mean(&turned),
        mean(&turned_y)
    );
    assert!(pictures >= 15 && upright.len() >= 3 && rolled.len() >= 8 && turned.len() >= 3, "{pictures} pictures, {failures:#?}");
    if missed_at_40.len() > 1 {
        failures.push(format!("YuNet misses {missed_at_40:?}"));
    }
    for (what, v) in [("rolled", &rolled), ("turned", &turned)] {
        if mean(v) > 1.75 * mean(&upright) {
            failures.push(format!("{what} faces a mean {:.3} from dlib's, upright ones {:.3}", mean(v), mean(&upright)));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
