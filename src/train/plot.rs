//! Line charts drawn straight into a PNG: the training curves and ROC curves need axes, a few
//! labels and lines, which a small rasteriser with a 5x7 bitmap font does without a plotting
//! stack or font files.
use std::path::Path;

use crate::error::{Error, Result};

pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub color: [u8; 3],
}

pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub series: Vec<Series>,
    /// Fixed y range; `None` fits the data.
    pub y_range: Option<(f64, f64)>,
}

pub const BLUE: [u8; 3] = [31, 119, 180];
pub const ORANGE: [u8; 3] = [255, 127, 14];
pub const GREEN: [u8; 3] = [44, 160, 44];
pub const RED: [u8; 3] = [214, 39, 40];

const PANEL_W: usize = 480;
const PANEL_H: usize = 340;

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            let i = (y as usize * self.w + x as usize) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), c: [u8; 3], thick: i64) {
        let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as i64).max(1);
        for s in 0..=steps {
            let t = s as f64 / steps as f64;
            let (x, y) = ((x0 + (x1 - x0) * t).round() as i64, (y0 + (y1 - y0) * t).round() as i64);
            for dy in 0..thick {
                for dx in 0..thick {
                    self.set(x + dx - thick / 2, y + dy - thick / 2, c);
                }
            }
        }
    }

    /// Text at pixel scale 2 (10x14 glyphs); lowercase is drawn as uppercase.
    fn text(&mut self, x: i64, y: i64, s: &str, c: [u8; 3]) {
        for (k, ch) in s.chars().enumerate() {
            let rows = glyph(ch.to_ascii_uppercase());
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                            self.set(x + k as i64 * 12 + col * 2 + dx, y + r as i64 * 2 + dy, c);
                        }
                    }
                }
            }
        }
    }
}

pub fn text_width(s: &str) -> i64 {
    s.chars().count() as i64 * 12
}

fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        '-' => [0, 0, 0, 0x1F, 0, 0, 0],
        ':' => [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '/' => [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '_' => [0, 0, 0, 0, 0, 0, 0x1F],
        ',' => [0, 0, 0, 0, 0x0C, 0x04, 0x08],
        '=' => [0, 0, 0x1F, 0, 0x1F, 0, 0],
        '+' => [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0],
        _ => [0; 7],
    }
}

fn tick_label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1000.0 {
        format!("{:.0}K", v / 1000.0)
    } else if v.abs() >= 10.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn draw(cv: &mut Canvas, chart: &Chart, ox: usize, oy: usize) {
    let (left, right, top, bottom) = (ox as f64 + 70.0, (ox + PANEL_W) as f64 - 15.0, oy as f64 + 40.0, (oy + PANEL_H) as f64 - 50.0);
    let pts = chart.series.iter().flat_map(|s| s.points.iter()).filter(|p| p.0.is_finite() && p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if let Some(r) = chart.y_range {
        (y0, y1) = r;
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 < 1e-12 {
        (y0, y1) = (y0 - 0.5, y1 + 0.5);
    }
    let sx = |x: f64| left + (x - x0) / (x1 - x0) * (right - left);
    let sy = |y: f64| bottom - (y - y0) / (y1 - y0) * (bottom - top);
    let (grid, black) = ([225, 225, 225], [0, 0, 0]);
    for k in 0..=4 {
        let t = k as f64 / 4.0;
        let (gx, gy) = (left + t * (right - left), bottom - t * (bottom - top));
        cv.line((left, gy), (right, gy), grid, 1);
        cv.line((gx, top), (gx, bottom), grid, 1);
        let yl = tick_label(y0 + t * (y1 - y0));
        cv.text(left as i64 - 8 - text_width(&yl), gy as i64 - 7, &yl, black);
        let xl = tick_label(x0 + t * (x1 - x0));
        cv.text(gx as i64 - text_width(&xl) / 2, bottom as i64 + 8, &xl, black);
    }
    cv.line((left, bottom), (right, bottom), black, 2);
    cv.line((left, top), (left, bottom), black, 2);
    cv.text(ox as i64 + (PANEL_W as i64 - text_width(&chart.title)) / 2, oy as i64 + 12, &chart.title, black);
    cv.text((left + right) as i64 / 2 - text_width(&chart.x_label) / 2, bottom as i64 + 28, &chart.x_label, black);
    for (k, s) in chart.series.iter().enumerate() {
        let p: Vec<(f64, f64)> = s.points.iter().filter(|p| p.0.is_finite() && p.1.is_finite()).map(|&(x, y)| (sx(x), sy(y))).collect();
        for w in p.windows(2) {
            cv.line(w[0], w[1], s.color, 3);
        }
        if p.len() == 1 {
            cv.line(p[0], p[0], s.color, 5);
        }
        let ly = top as i64 + 6 + 18 * k as i64;
        cv.line((right - 150.0, ly as f64 + 7.0), (right - 130.0, ly as f64 + 7.0), s.color, 3);
        cv.text(right as i64 - 124, ly, &s.name, black);
    }
}

/// Draws the charts in a grid `columns` wide and writes a PNG.
pub fn render(charts: &[Chart], columns: usize, path: &Path) -> Result<()> {
    let cols = columns.clamp(1, charts.len().max(1));
    let rows = charts.len().div_ceil(cols).max(1);
    let mut cv = Canvas { w: cols * PANEL_W, h: rows * PANEL_H, px: vec![255; cols * PANEL_W * rows * PANEL_H * 3] };
    for (i, c) in charts.iter().enumerate() {
        draw(&mut cv, c, (i % cols) * PANEL_W, (i / cols) * PANEL_H);
    }
    image::save_buffer(path, &cv.px, cv.w as u32, cv.h as u32, image::ColorType::Rgb8)
        .map_err(|e| Error::data(path, None, format!("cannot write PNG: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_png_with_the_series_colour() {
        let path = std::env::temp_dir().join(format!("siamface-plot-{}.png", std::process::id()));
        let chart = Chart {
            title: "Loss".into(),
            x_label: "epoch".into(),
            series: vec![Series { name: "train".into(), points: vec![(1.0, 0.7), (2.0, 0.5), (3.0, 0.4)], color: RED }],
            y_range: None,
        };
        render(&[chart], 1, &path).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), (PANEL_W as u32, PANEL_H as u32));
        assert!(img.pixels().any(|p| p.0 == RED), "the line is drawn");
        std::fs::remove_file(path).unwrap();
    }
}
