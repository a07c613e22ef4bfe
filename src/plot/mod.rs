//! Pictures of results, drawn with `plotters` to PNG or SVG (chosen by the file's extension):
//! the training curves (`curves`), ROC curves of one or several models (`roc`) and genuine and
//! impostor score histograms (`scores`). Each picture is first described as data (a `Figure` of
//! `Panel`s); `save` draws it and returns the `Layout`: where every legend box and every data point
//! landed in pixels, so that tests can check that no legend covers the data. The font (DejaVu
//! Sans, `assets/fonts`) is compiled in, so drawing never depends on the fonts of the system.
pub mod curves;
mod draw;
pub mod roc;
pub mod scores;
pub mod source;

use std::path::Path;

use plotters::style::RGBColor;

use crate::error::{Error, Result};

pub const BLUE: RGBColor = RGBColor(31, 119, 180);
pub const ORANGE: RGBColor = RGBColor(255, 127, 14);
pub const GREEN: RGBColor = RGBColor(44, 160, 44);
pub const RED: RGBColor = RGBColor(214, 39, 40);
pub const PURPLE: RGBColor = RGBColor(148, 103, 189);
pub const GREY: RGBColor = RGBColor(90, 90, 90);
/// Colours given to models in turn on a comparison picture.
pub const PALETTE: [RGBColor; 5] = [BLUE, ORANGE, GREEN, RED, PURPLE];

/// The x axis of a panel: linear, or logarithmic (both ends must be positive).
#[derive(Clone, Copy, Debug)]
pub enum Axis {
    Linear(f64, f64),
    Log(f64, f64),
}

/// A polyline in data coordinates.
#[derive(Clone, Debug)]
pub struct Line {
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    pub dashed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    Circle,
    Square,
}

/// A marked point (an operating point, the equal error rate, the best epoch).
#[derive(Clone, Debug)]
pub struct Mark {
    pub at: (f64, f64),
    pub color: RGBColor,
    pub shape: Shape,
}

/// Histogram bars `(from x, to x, height)` of one colour.
#[derive(Clone, Debug)]
pub struct Bars {
    pub bins: Vec<(f64, f64, f64)>,
    pub color: RGBColor,
}

/// What a legend row shows beside its label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Key {
    Line,
    Dashed,
    Bar,
    Marker(Shape),
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub label: String,
    pub color: RGBColor,
    pub key: Key,
}

/// Where the legend may go, in order of preference, before it is moved out of the data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Corner {
    UpperLeft,
    UpperRight,
    LowerLeft,
    LowerRight,
}

/// One chart: axes with titles, the data, and its legend.
#[derive(Clone, Debug)]
pub struct Panel {
    pub title: String,
    pub x_title: String,
    pub y_title: String,
    pub x: Axis,
    pub y: (f64, f64),
    /// Label x ticks as whole numbers (epochs).
    pub x_integer: bool,
    pub lines: Vec<Line>,
    pub bars: Vec<Bars>,
    pub marks: Vec<Mark>,
    /// Vertical reference lines (a threshold, the best epoch), drawn dashed.
    pub vlines: Vec<(f64, RGBColor)>,
    pub legend: Vec<Entry>,
    pub corners: [Corner; 4],
}

impl Panel {
    pub fn new(title: &str, x_title: &str, y_title: &str, x: Axis, y: (f64, f64)) -> Self {
        Panel {
            title: title.into(),
            x_title: x_title.into(),
            y_title: y_title.into(),
            x,
            y,
            x_integer: false,
            lines: Vec::new(),
            bars: Vec::new(),
            marks: Vec::new(),
            vlines: Vec::new(),
            legend: Vec::new(),
            corners: [Corner::UpperRight, Corner::LowerRight, Corner::UpperLeft, Corner::LowerLeft],
        }
    }
}

/// A picture: a caption over panels side by side.
#[derive(Clone, Debug)]
pub struct Figure {
    pub caption: String,
    pub panels: Vec<Panel>,
    /// Size when the caller gives none, in pixels.
    pub size: (u32, u32),
}

/// A pixel rectangle, `x0..x1` by `y0..y1` (ends excluded).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x0: i32,
    pub y0: i32,
    pub x1: i32,
    pub y1: i32,
}

impl Rect {
    pub fn contains(&self, (x, y): (i32, i32)) -> bool {
        x >= self.x0 && x < self.x1 && y >= self.y0 && y < self.y1
    }

    pub fn overlaps(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }

    /// Whether the segment from `a` to `b` passes through the rectangle (Liang-Barsky clipping).
    pub fn crosses(&self, a: (i32, i32), b: (i32, i32)) -> bool {
        let (x0, y0) = (a.0 as f64, a.1 as f64);
        let (dx, dy) = ((b.0 - a.0) as f64, (b.1 - a.1) as f64);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        let edges = [(-dx, x0 - self.x0 as f64), (dx, (self.x1 - 1) as f64 - x0), (-dy, y0 - self.y0 as f64), (dy, (self.y1 - 1) as f64 - y0)];
        for (p, q) in edges {
            if p == 0.0 {
                if q < 0.0 {
                    return false;
                }
            } else {
                let t = q / p;
                if p < 0.0 {
                    t0 = t0.max(t);
                } else {
                    t1 = t1.min(t);
                }
                if t0 > t1 {
                    return false;
                }
            }
        }
        true
    }
}

/// Where one panel's parts landed in the picture, in pixels.
#[derive(Clone, Debug)]
pub struct PanelLayout {
    pub plot_area: Rect,
    pub legend: Rect,
    pub legend_labels: Vec<String>,
    /// Each line's points, in the order of `Panel::lines`.
    pub lines: Vec<Vec<(i32, i32)>>,
    pub marks: Vec<(i32, i32)>,
    pub bars: Vec<Rect>,
    /// Each vertical line as its two ends.
    pub vlines: Vec<((i32, i32), (i32, i32))>,
    /// Whether the legend had to leave the data area for a strip below the panel.
    pub legend_outside: bool,
}

/// Radius in pixels of a mark, which a legend must also keep clear of.
pub const MARK_RADIUS: i32 = 5;

impl PanelLayout {
    /// Whether `r` keeps clear of every line, mark, bar and reference line of the panel.
    pub fn clear_of_data(&self, r: &Rect) -> bool {
        let lines_clear = self.lines.iter().all(|l| match l.as_slice() {
            [p] => !r.contains(*p),
            _ => l.windows(2).all(|w| !r.crosses(w[0], w[1])),
        });
        let m = MARK_RADIUS;
        lines_clear
            && self.marks.iter().all(|&(x, y)| !r.overlaps(&Rect { x0: x - m, y0: y - m, x1: x + m + 1, y1: y + m + 1 }))
            && self.bars.iter().all(|b| !r.overlaps(b))
            && self.vlines.iter().all(|&(a, b)| !r.crosses(a, b))
    }
}

#[derive(Clone, Debug)]
pub struct Layout {
    pub size: (u32, u32),
    pub panels: Vec<PanelLayout>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    Png,
    Svg,
}

fn format_of(path: &Path) -> Result<Format> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("png") => Ok(Format::Png),
        Some("svg") => Ok(Format::Svg),
        _ => Err(Error::data(path, None, "a picture must be named .png or .svg")),
    }
}

/// Draws `fig` to `path` (PNG or SVG by extension) at `size` (the figure's own when `None`).
pub fn save(fig: &Figure, path: &Path, size: Option<(u32, u32)>) -> Result<Layout> {
    let format = format_of(path)?;
    let (w, h) = size.unwrap_or(fig.size);
    let n = fig.panels.len().max(1) as u32;
    if w < 240 * n || h < 200 || w > 10_000 || h > 10_000 {
        return Err(Error::config("size", format!("{w}x{h} pixels: give 240 to 10000 pixels per panel across ({} panels) and 200 to 10000 down", n)));
    }
    draw::register_font();
    let failed = |e: String| Error::data(path, None, format!("drawing failed: {e}"));
    match format {
        Format::Png => {
            let mut buf = vec![255u8; w as usize * h as usize * 3];
            let layout = {
                let root = plotters::backend::BitMapBackend::with_buffer(&mut buf, (w, h));
                draw::figure(fig, root).map_err(failed)?
            };
            image::save_buffer_with_format(path, &buf, w, h, image::ExtendedColorType::Rgb8, image::ImageFormat::Png)
                .map_err(|e| match e {
                    image::ImageError::IoError(e) => Error::io(path, e),
                    e => Error::data(path, None, e.to_string()),
                })?;
            Ok(layout)
        }
        Format::Svg => {
            let mut svg = String::new();
            let layout = {
                let root = plotters::backend::SVGBackend::with_string(&mut svg, (w, h));
                draw::figure(fig, root).map_err(failed)?
            };
            std::fs::write(path, svg).map_err(|e| Error::io(path, e))?;
            Ok(layout)
        }
    }
}

/// `v` as a percentage with enough digits to tell small rates apart.
pub fn percent(v: f64) -> String {
    let p = 100.0 * v;
    if p == 0.0 || p >= 1.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.2}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_through_a_rectangle_crosses_it_and_one_beside_it_does_not() {
        let r = Rect { x0: 10, y0: 10, x1: 20, y1: 20 };
        assert!(r.crosses((0, 0), (30, 30)));
        assert!(r.crosses((12, 12), (13, 13)));
        assert!(!r.crosses((0, 0), (30, 5)));
        assert!(!r.crosses((20, 0), (20, 30)));
        assert!(r.crosses((19, 0), (19, 30)));
    }

    #[test]
    fn picture_names_other_than_png_or_svg_are_refused() {
        let fig = Figure { caption: String::new(), panels: vec![], size: (400, 300) };
        let err = save(&fig, Path::new("/tmp/x.jpg"), None).unwrap_err().to_string();
        assert!(err.contains("x.jpg") && err.contains(".png or .svg"), "{err}");
    }
}
