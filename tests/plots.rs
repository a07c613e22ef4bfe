//! The pictures, drawn from the saved results in `results/` to temporary files: each must decode
//! at the size asked for, carry its axis titles and legend labels, be drawn where its layout says,
//! and keep every legend inside the picture and off the data.
use std::path::{Path, PathBuf};
use std::process::Command;

use siamface::plot::{self, curves, roc, scores, source, Axis, Entry, Figure, Key, Layout, Line, Panel, PanelLayout, Rect};

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("siamface-plots-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// The held-out LFW fold of the shipped face model, as `siamface eval lfw --json` saved it.
fn lfw_eval() -> source::Scored {
    source::read_eval(&repo("results/face64-lfw/eval_lfw.json")).unwrap()
}

/// Points every pixel along a segment, computed here rather than by the library's own test.
fn along((ax, ay): (i32, i32), (bx, by): (i32, i32)) -> impl Iterator<Item = (i32, i32)> {
    let n = (bx - ax).abs().max((by - ay).abs()).max(1);
    (0..=n).map(move |k| (ax + (bx - ax) * k / n, ay + (by - ay) * k / n))
}

fn inside(r: &Rect, (x, y): (i32, i32)) -> bool {
    x >= r.x0 && x < r.x1 && y >= r.y0 && y < r.y1
}

/// Every legend lies inside the picture and covers no point of a line, mark, bar or
/// reference line.
fn assert_legends_clear(layout: &Layout) {
    let (w, h) = (layout.size.0 as i32, layout.size.1 as i32);
    for (k, p) in layout.panels.iter().enumerate() {
        let r = p.legend;
        assert!(r.x0 >= 0 && r.y0 >= 0 && r.x1 <= w && r.y1 <= h && r.x1 > r.x0, "panel {k}: legend {r:?} outside the {w}x{h} picture");
        for l in &p.lines {
            for s in l.windows(2) {
                assert!(!along(s[0], s[1]).any(|q| inside(&r, q)), "panel {k}: legend {r:?} covers the line {:?}-{:?}", s[0], s[1]);
            }
        }
        for &m in &p.marks {
            let m5 = Rect { x0: m.0 - 5, y0: m.1 - 5, x1: m.0 + 6, y1: m.1 + 6 };
            assert!(!m5.overlaps(&r), "panel {k}: legend {r:?} covers the mark at {m:?}");
        }
        for b in &p.bars {
            assert!(!b.overlaps(&r), "panel {k}: legend {r:?} covers the bar {b:?}");
        }
        for &(a, b) in &p.vlines {
            assert!(!along(a, b).any(|q| inside(&r, q)), "panel {k}: legend {r:?} covers the line at x={}", a.0);
        }
    }
}

/// Most points of each line have the line's colour within two pixels in the PNG: the recorded
/// layout is where the picture was drawn (other lines may cover a few points).
fn assert_drawn_where_recorded(png: &Path, fig: &Figure, layout: &Layout) {
    let img = image::open(png).unwrap().to_rgb8();
    for (panel, pl) in fig.panels.iter().zip(&layout.panels) {
        for (line, pts) in panel.lines.iter().zip(&pl.lines) {
            let c = line.color;
            let near = |&(x, y): &(i32, i32)| {
                (-2..=2).any(|dy| {
                    (-2..=2).any(|dx| {
                        let (px, py) = (x + dx, y + dy);
                        px >= 0 && py >= 0 && (px as u32) < img.width() && (py as u32) < img.height() && {
                            let q = img.get_pixel(px as u32, py as u32);
                            (q[0] as i32 - c.0 as i32).abs() + (q[1] as i32 - c.1 as i32).abs() + (q[2] as i32 - c.2 as i32).abs() < 60
                        }
                    })
                })
            };
            let hit = pts.iter().filter(|p| near(p)).count();
            assert!(hit * 10 >= pts.len() * 9, "only {hit} of {} points of a line show its colour", pts.len());
        }
    }
}

fn assert_svg_text(svg: &Path, fig: &Figure) {
    let text = std::fs::read_to_string(svg).unwrap();
    for p in &fig.panels {
        for t in [&p.x_title, &p.y_title].into_iter().chain(p.legend.iter().map(|e| &e.label)) {
            let escaped = t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;");
            assert!(text.contains(&escaped), "{} lacks {t:?}", svg.display());
        }
    }
}

fn check_both(name: &str, fig: &Figure, size: (u32, u32)) -> Layout {
    let png = tmp(&format!("{name}.png"));
    let layout = plot::save(fig, &png, Some(size)).unwrap();
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), size, "{name}.png");
    assert_eq!(layout.size, size);
    assert_legends_clear(&layout);
    assert_drawn_where_recorded(&png, fig, &layout);
    let svg = tmp(&format!("{name}.svg"));
    let svg_layout = plot::save(fig, &svg, Some(size)).unwrap();
    assert!(std::fs::read_to_string(&svg).unwrap().contains(&format!("width=\"{}\"", size.0)));
    assert_svg_text(&svg, fig);
    assert_legends_clear(&svg_layout);
    layout
}

#[test]
fn training_curves_of_saved_runs_draw_with_clear_legends() {
    for (run, size) in [("results/koch105-sgd-keras", (1500, 480)), ("results/face64-lfw", (1200, 420)), ("results/small35-sgd-lr0.1", (900, 300))] {
        let history = source::read_history(&repo(run)).unwrap();
        let fig = curves::figure(&history, run).unwrap();
        let layout = check_both(&run.replace('/', "-"), &fig, size);
        assert_eq!(layout.panels.len(), 3);
        let best = curves::best_epoch(&history).unwrap();
        assert!(fig.panels.iter().all(|p| p.legend.iter().any(|e| e.label == format!("best epoch {}", best.epoch))));
        assert!(fig.caption.contains(&format!("epoch {}", best.epoch)), "{}", fig.caption);
    }
}

#[test]
fn roc_of_the_face_model_uses_a_log_false_accept_axis_and_marks_eer_and_threshold() {
    let m = lfw_eval();
    assert_eq!(m.threshold, Some(0.36701062321662903));
    let fig = roc::figure(std::slice::from_ref(&m)).unwrap();
    let layout = check_both("roc", &fig, (900, 640));
    let labels = &layout.panels[0].legend_labels;
    assert!(labels.iter().any(|l| l.starts_with("equal error rate")), "{labels:?}");
    assert!(labels.iter().any(|l| l.starts_with("threshold 0.367: FAR")), "{labels:?}");
    // A log axis: each decade of false accepts takes a fifth of the width from 1e-5 to 1.
    let p: &PanelLayout = &layout.panels[0];
    let pts = roc::drawn_points(&siamface::eval::verification::roc(&m.scores, &m.same), m.same.iter().filter(|s| !**s).count());
    let (i, j) = (0, pts.len() - 1);
    let decades = (pts[j].0 / pts[i].0).log10();
    let per_decade = (p.lines[0][j].0 - p.lines[0][i].0) as f64 / decades;
    let expected = (p.plot_area.x1 - p.plot_area.x0) as f64 / 5.0;
    assert!((per_decade - expected).abs() < 3.0, "{per_decade} px per decade, expected {expected}");
}

#[test]
fn several_models_share_one_roc_with_a_legend_entry_each() {
    let fold10 = lfw_eval();
    assert_eq!(fold10.scores.len(), 600);
    // The same file read without its chosen fold: every fold's pairs.
    let text = std::fs::read_to_string(repo("results/face64-lfw/eval_lfw.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["fold"] = serde_json::Value::Null;
    let pooled = tmp("pooled.json");
    std::fs::write(&pooled, v.to_string()).unwrap();
    let all = source::Scored { name: "all ten folds".into(), ..source::read_eval(&pooled).unwrap() };
    assert_eq!(all.scores.len(), 6000);
    let fig = roc::figure(&[source::Scored { name: "fold 10".into(), ..fold10 }, all]).unwrap();
    let layout = check_both("roc2", &fig, (1000, 700));
    let labels = &layout.panels[0].legend_labels;
    assert!(labels[0].starts_with("fold 10: AUC") && labels.iter().any(|l| l.starts_with("all ten folds: AUC")), "{labels:?}");
    assert_eq!(layout.panels[0].lines.len(), 2);
}

#[test]
fn score_histogram_draws_both_classes_and_the_threshold() {
    let m = lfw_eval();
    let fig = scores::figure(&m, 40).unwrap();
    let layout = check_both("scores", &fig, (900, 560));
    let p = &fig.panels[0];
    assert_eq!(p.vlines.len(), 1);
    assert_eq!(p.vlines[0].0, 0.36701062321662903);
    assert!(layout.panels[0].legend_labels.iter().any(|l| l == "genuine pairs (300)"));
    assert!(layout.panels[0].legend_labels.iter().any(|l| l == "impostor pairs (300)"));
    assert!(!layout.panels[0].bars.is_empty());
}

#[test]
fn legend_leaves_the_data_when_every_corner_is_taken() {
    // A zigzag over the whole area passes through all four corners.
    let zigzag: Vec<(f64, f64)> = (0..=40).map(|i| (i as f64 / 40.0, if i % 2 == 0 { 0.0 } else { 1.0 })).collect();
    let mut p = Panel::new("crowded", "x title", "y title", Axis::Linear(0.0, 1.0), (0.0, 1.0));
    p.lines.push(Line { points: zigzag, color: plot::BLUE, dashed: false });
    p.legend.push(Entry { label: "zigzag".into(), color: plot::BLUE, key: Key::Line });
    let fig = Figure { caption: "crowded".into(), panels: vec![p], size: (600, 400) };
    let layout = check_both("crowded", &fig, (600, 400));
    let pl = &layout.panels[0];
    assert!(pl.legend_outside);
    assert!(pl.legend.y0 >= pl.plot_area.y1, "legend {:?} not below the data area {:?}", pl.legend, pl.plot_area);
}

fn siamface(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_siamface")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn plot_command_draws_from_saved_json_and_names_what_it_cannot_read() {
    let eval = repo("results/face64-lfw/eval_lfw.json");
    let (e, out) = (eval.to_str().unwrap(), tmp("cli-roc.svg"));
    let (ok, err) = siamface(&["plot", "roc", e, e, "--label", "a", "--label", "b", "--out", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(std::fs::read_to_string(&out).unwrap().contains("b: AUC"));
    let hist = tmp("cli-scores.png");
    let (ok, err) = siamface(&["plot", "scores", e, "--out", hist.to_str().unwrap(), "--width", "700", "--height", "450"]);
    assert!(ok, "{err}");
    assert_eq!(image::image_dimensions(&hist).unwrap(), (700, 450));
    let curves = tmp("cli-curves.png");
    let (ok, err) = siamface(&["plot", "curves", repo("results/koch105-adam-keras").to_str().unwrap(), "--out", curves.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(image::image_dimensions(&curves).unwrap(), (1500, 480));

    // Evaluations saved before the scores were kept: refused with the file's name.
    let old = repo("results/koch105-sgd-keras/eval_verify_test_alphabets.json");
    let (ok, err) = siamface(&["plot", "roc", old.to_str().unwrap(), "--out", tmp("old.svg").to_str().unwrap()]);
    assert!(!ok && err.contains("eval_verify_test_alphabets.json") && err.contains("scores"), "{err}");
    let (ok, err) = siamface(&["plot", "scores", e, "--out", tmp("x.gif").to_str().unwrap()]);
    assert!(!ok && err.contains("x.gif") && err.contains(".png or .svg"), "{err}");
    let (ok, err) = siamface(&["plot", "curves", e, "--out", tmp("y.svg").to_str().unwrap()]);
    assert!(!ok && err.contains("eval_lfw.json") && err.contains("not a training history"), "{err}");
    let (ok, err) = siamface(&["plot", "roc", e, "--out", tmp("z.png").to_str().unwrap(), "--width", "100", "--height", "50"]);
    assert!(!ok && err.contains("100x50"), "{err}");
}

/// The SVGs README and the model card show are what the current code draws from the saved
/// results (the commands that made them are in README's results sections and below).
#[test]
fn results_pictures_are_drawn_by_the_current_code() {
    let runs = ["koch105-adam-paperinit", "koch105-adam-keras", "koch105-sgd-keras", "small35-sgd-lr0.01", "small35-sgd-lr0.1", "tta-small35/images", "tta-small35/pairs", "face64-lfw"];
    let mut pictures: Vec<(String, Figure)> = runs
        .iter()
        .map(|r| (format!("results/{r}/curves.svg"), curves::figure(&source::read_history(&repo(&format!("results/{r}"))).unwrap(), r).unwrap()))
        .collect();
    // siamface plot roc|scores results/face64-lfw/eval_lfw.json --label "face64 (models/face), LFW fold 10"
    let m = source::Scored { name: "face64 (models/face), LFW fold 10".into(), ..lfw_eval() };
    pictures.push(("results/face64-lfw/roc.svg".into(), roc::figure(std::slice::from_ref(&m)).unwrap()));
    pictures.push(("results/face64-lfw/scores.svg".into(), scores::figure(&m, 40).unwrap()));
    // siamface plot roc|scores results/resnet-lfw/eval_lfw.json --label "..." --threshold (the card's)
    let card: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(repo("models/face/card.json")).unwrap()).unwrap();
    let r = source::Scored {
        name: "models/face, LFW View 2 (chip from the LFW frame)".into(),
        threshold: card["threshold"].as_f64(),
        ..source::read_eval(&repo("results/resnet-lfw/eval_lfw.json")).unwrap()
    };
    pictures.push(("results/resnet-lfw/roc.svg".into(), roc::figure(std::slice::from_ref(&r)).unwrap()));
    pictures.push(("results/resnet-lfw/scores.svg".into(), scores::figure(&r, 40).unwrap()));
    for (k, (path, fig)) in pictures.iter().enumerate() {
        let out = tmp(&format!("current-{k}.svg"));
        let layout = plot::save(fig, &out, None).unwrap();
        assert_legends_clear(&layout);
        assert!(std::fs::read_to_string(&out).unwrap() == std::fs::read_to_string(repo(path)).unwrap(), "{path} differs from what the code draws now: redraw it with siamface plot");
    }
}
