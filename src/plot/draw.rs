//! Draws a `Figure` on any plotters backend and records where each part landed. A legend goes in
//! the first corner of the data area (in the panel's order of preference) that no line, mark,
//! bar or reference line passes through; when every corner is taken, the data area is shortened
//! and the legend drawn in a strip below it, outside the data.
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Axis, Corner, Figure, Key, Layout, Panel, PanelLayout, Rect, Shape, MARK_RADIUS};

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Makes the compiled-in font the one plotters' "sans-serif" resolves to (once per process).
pub(super) fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is part of the program, not input: failing to parse it is a build defect.
        assert!(plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok(), "assets/fonts/DejaVuSans.ttf does not parse");
    });
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

const LEGEND_FONT: u32 = 14;
const LEGEND_ROW: i32 = 20;
const LEGEND_PAD: i32 = 6;
const LEGEND_KEY: i32 = 26;
const LEGEND_INSET: i32 = 8;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

pub(super) fn figure<DB: DrawingBackend>(fig: &Figure, backend: DB) -> Result<Layout, String> {
    let root = backend.into_drawing_area();
    let size = root.dim_in_pixel();
    root.fill(&WHITE).map_err(err)?;
    let body = if fig.caption.is_empty() { root.clone() } else { root.titled(&fig.caption, (FAMILY, 19)).map_err(err)? };
    let cells = body.split_evenly((1, fig.panels.len().max(1)));
    let mut panels = Vec::new();
    for (p, cell) in fig.panels.iter().zip(&cells) {
        panels.push(panel(&root, cell, p)?);
    }
    root.present().map_err(err)?;
    Ok(Layout { size, panels })
}

/// Maps a data x to the chart's x (log10 on a log axis).
type XMap = Box<dyn Fn(f64) -> f64>;

/// The chart's x range and the map from data x to chart x.
fn x_map(a: Axis) -> ((f64, f64), XMap) {
    match a {
        Axis::Linear(lo, hi) => ((lo, hi), Box::new(|x| x)),
        Axis::Log(lo, hi) => ((lo.log10(), hi.log10()), Box::new(move |x: f64| x.max(lo).log10())),
    }
}

fn build<'a, DB: DrawingBackend>(area: &'a DrawingArea<DB, Shift>, x: (f64, f64), y: (f64, f64)) -> Result<Chart<'a, DB>, String> {
    ChartBuilder::on(area).margin(12).x_label_area_size(52).y_label_area_size(66).build_cartesian_2d(x.0..x.1, y.0..y.1).map_err(err)
}

fn px<DB: DrawingBackend>(chart: &Chart<'_, DB>, p: (f64, f64)) -> (i32, i32) {
    chart.backend_coord(&p)
}

/// Where the panel's data lands on this chart (the legend is filled in later).
fn place_data<DB: DrawingBackend>(chart: &Chart<'_, DB>, p: &Panel, tx: &dyn Fn(f64) -> f64) -> PanelLayout {
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let lines = p.lines.iter().map(|l| l.points.iter().map(|&(x, y)| px(chart, (tx(x), y))).collect()).collect();
    let marks = p.marks.iter().map(|m| px(chart, (tx(m.at.0), m.at.1))).collect();
    let bars = p
        .bars
        .iter()
        .flat_map(|b| b.bins.iter().filter(|bin| bin.2 > 0.0))
        .map(|&(x0, x1, h)| {
            let (a, b) = (px(chart, (tx(x0), h)), px(chart, (tx(x1), p.y.0)));
            Rect { x0: a.0.min(b.0), y0: a.1.min(b.1), x1: a.0.max(b.0) + 1, y1: a.1.max(b.1) + 1 }
        })
        .collect();
    let vlines = p.vlines.iter().map(|&(x, _)| (px(chart, (tx(x), p.y.0)), px(chart, (tx(x), p.y.1)))).collect();
    PanelLayout {
        plot_area: Rect { x0: xr.start, y0: yr.start, x1: xr.end, y1: yr.end },
        legend: Rect { x0: 0, y0: 0, x1: 0, y1: 0 },
        legend_labels: p.legend.iter().map(|e| e.label.clone()).collect(),
        lines,
        marks,
        bars,
        vlines,
        legend_outside: false,
    }
}

fn legend_size<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, p: &Panel) -> Result<(i32, i32), String> {
    let font = TextStyle::from((FAMILY, LEGEND_FONT).into_font());
    let mut text_w = 0;
    for e in &p.legend {
        text_w = text_w.max(root.estimate_text_size(&e.label, &font).map_err(err)?.0 as i32);
    }
    Ok((2 * LEGEND_PAD + LEGEND_KEY + 6 + text_w, 2 * LEGEND_PAD + LEGEND_ROW * p.legend.len() as i32))
}

fn corner_rect(area: &Rect, c: Corner, (w, h): (i32, i32)) -> Rect {
    let i = LEGEND_INSET;
    let x0 = if matches!(c, Corner::UpperLeft | Corner::LowerLeft) { area.x0 + i } else { area.x1 - i - w };
    let y0 = if matches!(c, Corner::UpperLeft | Corner::UpperRight) { area.y0 + i } else { area.y1 - i - h };
    Rect { x0, y0, x1: x0 + w, y1: y0 + h }
}

fn panel<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, cell: &DrawingArea<DB, Shift>, p: &Panel) -> Result<PanelLayout, String> {
    let inner = if p.title.is_empty() { cell.clone() } else { cell.titled(&p.title, (FAMILY, 17)).map_err(err)? };
    let (xr, tx) = x_map(p.x);
    let size = legend_size(root, p)?;
    let chart = build(&inner, xr, p.y)?;
    let mut layout = place_data(&chart, p, &*tx);
    let a = layout.plot_area;
    let fits = size.0 + 2 * LEGEND_INSET <= a.x1 - a.x0 && size.1 + 2 * LEGEND_INSET <= a.y1 - a.y0;
    let corner = p.corners.iter().map(|&c| corner_rect(&a, c, size)).find(|r| fits && layout.clear_of_data(r));
    if p.legend.is_empty() || corner.is_some() {
        layout.legend = corner.unwrap_or(Rect { x0: a.x1, y0: a.y0, x1: a.x1, y1: a.y0 });
        draw_chart(chart, p, &*tx)?;
    } else {
        let (w, h) = inner.dim_in_pixel();
        let strip = size.1 + 2 * LEGEND_INSET;
        let (upper, _) = inner.split_vertically((h as i32 - strip).max(h as i32 / 2));
        let chart = build(&upper, xr, p.y)?;
        layout = place_data(&chart, p, &*tx);
        let (bx, by) = inner.get_base_pixel();
        let y0 = by + h as i32 - strip + LEGEND_INSET;
        let x0 = bx + ((w as i32 - size.0) / 2).max(0);
        layout.legend = Rect { x0, y0, x1: x0 + size.0, y1: y0 + size.1 };
        layout.legend_outside = true;
        draw_chart(chart, p, &*tx)?;
    }
    if !p.legend.is_empty() {
        draw_legend(root, p, &layout.legend)?;
    }
    Ok(layout)
}

fn draw_chart<DB: DrawingBackend>(mut chart: Chart<'_, DB>, p: &Panel, tx: &dyn Fn(f64) -> f64) -> Result<(), String> {
    let log = matches!(p.x, Axis::Log(..));
    let integer = p.x_integer;
    let fmt = move |v: &f64| {
        let whole = (v - v.round()).abs() < 1e-9;
        match (log, integer, whole) {
            (true, _, true) if v.round() == 0.0 => "1".to_string(),
            (true, _, true) => format!("1e{}", v.round()),
            (true, _, false) | (false, true, false) => String::new(),
            (false, true, true) => format!("{}", v.round()),
            (false, false, _) => format!("{}", (v * 1e6).round() / 1e6),
        }
    };
    let (xr, _) = x_map(p.x);
    let n_x = if log { (xr.1 - xr.0).round() as usize + 1 } else { 8 };
    chart
        .configure_mesh()
        .x_desc(&p.x_title)
        .y_desc(&p.y_title)
        .axis_desc_style((FAMILY, 16))
        .label_style((FAMILY, 13))
        .x_labels(n_x)
        .y_labels(6)
        .x_label_formatter(&fmt)
        .bold_line_style(RGBColor(220, 220, 220).stroke_width(1))
        .light_line_style(RGBColor(244, 244, 244).stroke_width(1))
        .draw()
        .map_err(err)?;
    if let Axis::Log(lo, hi) = p.x {
        // Minor grid at 2..9 x 10^k, so a reader can place 3e-3 by eye.
        let mut e = lo.log10().floor() as i32;
        while 10f64.powi(e) < hi {
            for k in 2..10 {
                let x = k as f64 * 10f64.powi(e);
                if x > lo && x < hi {
                    chart.draw_series(LineSeries::new([(x.log10(), p.y.0), (x.log10(), p.y.1)], RGBColor(236, 236, 236).stroke_width(1))).map_err(err)?;
                }
            }
            e += 1;
        }
    }
    for b in &p.bars {
        let base = p.y.0;
        chart.draw_series(b.bins.iter().map(|&(x0, x1, h)| Rectangle::new([(tx(x0), base), (tx(x1), h)], b.color.mix(0.35).filled()))).map_err(err)?;
        let mut outline = Vec::with_capacity(2 * b.bins.len() + 2);
        for &(x0, x1, h) in &b.bins {
            outline.extend([(tx(x0), h), (tx(x1), h)]);
        }
        if let (Some(&(x0, _, _)), Some(&(_, x1, _))) = (b.bins.first(), b.bins.last()) {
            outline.insert(0, (tx(x0), base));
            outline.push((tx(x1), base));
        }
        chart.draw_series(LineSeries::new(outline, b.color.stroke_width(2))).map_err(err)?;
    }
    for &(x, color) in &p.vlines {
        chart.draw_series(DashedLineSeries::new([(tx(x), p.y.0), (tx(x), p.y.1)], 7, 5, color.stroke_width(2))).map_err(err)?;
    }
    for l in &p.lines {
        let pts = l.points.iter().map(|&(x, y)| (tx(x), y));
        if l.dashed {
            chart.draw_series(DashedLineSeries::new(pts, 7, 5, l.color.stroke_width(2))).map_err(err)?;
        } else {
            chart.draw_series(LineSeries::new(pts, l.color.stroke_width(2))).map_err(err)?;
        }
    }
    for m in &p.marks {
        let at = (tx(m.at.0), m.at.1);
        let r = MARK_RADIUS;
        match m.shape {
            Shape::Circle => {
                chart.draw_series([Circle::new(at, r, m.color.filled())]).map_err(err)?;
                chart.draw_series([Circle::new(at, r, BLACK.stroke_width(1))]).map_err(err)?;
            }
            Shape::Square => {
                chart.draw_series([EmptyElement::at(at) + Rectangle::new([(-r, -r), (r, r)], m.color.filled())]).map_err(err)?;
                chart.draw_series([EmptyElement::at(at) + Rectangle::new([(-r, -r), (r, r)], BLACK.stroke_width(1))]).map_err(err)?;
            }
        }
    }
    Ok(())
}

fn draw_legend<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, p: &Panel, r: &Rect) -> Result<(), String> {
    root.draw(&Rectangle::new([(r.x0, r.y0), (r.x1 - 1, r.y1 - 1)], WHITE.filled())).map_err(err)?;
    root.draw(&Rectangle::new([(r.x0, r.y0), (r.x1 - 1, r.y1 - 1)], RGBColor(160, 160, 160).stroke_width(1))).map_err(err)?;
    let font = (FAMILY, LEGEND_FONT).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, e) in p.legend.iter().enumerate() {
        let y = r.y0 + LEGEND_PAD + LEGEND_ROW * i as i32 + LEGEND_ROW / 2;
        let (k0, k1) = (r.x0 + LEGEND_PAD, r.x0 + LEGEND_PAD + LEGEND_KEY);
        let kc = (k0 + k1) / 2;
        let style = e.color.stroke_width(2);
        match e.key {
            Key::Line => root.draw(&PathElement::new([(k0, y), (k1, y)], style)).map_err(err)?,
            Key::Dashed => {
                for s in [k0, k0 + 10, k0 + 20] {
                    root.draw(&PathElement::new([(s, y), ((s + 6).min(k1), y)], style)).map_err(err)?;
                }
            }
            Key::Bar => {
                root.draw(&Rectangle::new([(k0, y - 6), (k1, y + 6)], e.color.mix(0.35).filled())).map_err(err)?;
                root.draw(&Rectangle::new([(k0, y - 6), (k1, y + 6)], style)).map_err(err)?;
            }
            Key::Marker(Shape::Circle) => {
                root.draw(&Circle::new((kc, y), MARK_RADIUS, e.color.filled())).map_err(err)?;
                root.draw(&Circle::new((kc, y), MARK_RADIUS, BLACK.stroke_width(1))).map_err(err)?;
            }
            Key::Marker(Shape::Square) => {
                let m = MARK_RADIUS;
                root.draw(&Rectangle::new([(kc - m, y - m), (kc + m, y + m)], e.color.filled())).map_err(err)?;
                root.draw(&Rectangle::new([(kc - m, y - m), (kc + m, y + m)], BLACK.stroke_width(1))).map_err(err)?;
            }
        }
        root.draw(&Text::new(e.label.clone(), (k1 + 6, y), font.clone())).map_err(err)?;
    }
    Ok(())
}
