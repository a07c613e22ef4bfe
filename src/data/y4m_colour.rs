//! Colour conversion of `y4m` frames: BT.601 YCbCr planes (any chroma subsampling, limited or
//! full range) to RGB, upsampling chroma bilinearly, and RGB back to limited-range planes for
//! the writer.
use image::RgbImage;

use super::{Colorspace, Header, Range};

/// BT.601 YCbCr to RGB in 16.16 fixed point: `R = Y + rv Cr`, `G = Y + gu Cb + gv Cr`,
/// `B = Y + bu Cb`, with `Y = ky (Y - y0)` and chroma centred on 128. Multiplying in the loop
/// is twice as fast as looking the products up in 256-entry tables, and the loop vectorises.
#[derive(Clone, Copy)]
struct Coefs {
    y0: i32,
    ky: i32,
    rv: i32,
    gu: i32,
    gv: i32,
    bu: i32,
}

impl Coefs {
    fn new(range: Range) -> Coefs {
        // Full range: R = Y + 1.402 Cr, G = Y - 0.344136 Cb - 0.714136 Cr, B = Y + 1.772 Cb
        // (Kr = 0.299, Kb = 0.114); limited range first stretches Y by 255/219 and chroma by 255/224.
        let (y0, ys, cs) = match range {
            Range::Full => (0, 1.0, 1.0),
            Range::Limited => (16, 255.0 / 219.0, 255.0 / 224.0),
        };
        let fixed = |f: f64| (f * 65536.0).round() as i32;
        Coefs {
            y0,
            ky: fixed(ys),
            rv: fixed(1.402 * cs),
            gu: fixed(-0.344136 * cs),
            gv: fixed(-0.714136 * cs),
            bu: fixed(1.772 * cs),
        }
    }
}

/// Scratch rows for one output row: Cb and Cr at full width, and a vertical blend.
#[derive(Default)]
pub(super) struct Rows {
    cb: Vec<u8>,
    cr: Vec<u8>,
    blend: Vec<u16>,
}

/// One chroma plane: `width` x `height` bytes, row after row.
#[derive(Clone, Copy)]
struct Plane<'a> {
    bytes: &'a [u8],
    width: usize,
    height: usize,
}

impl Plane<'_> {
    fn row(&self, i: usize) -> &[u8] {
        &self.bytes[i * self.width..][..self.width]
    }
}

/// One frame's planes to RGB.
pub(super) fn to_rgb(planes: &[u8], header: &Header, rows: &mut Rows) -> RgbImage {
    let (width, height) = (header.width as usize, header.height as usize);
    let coefs = Coefs::new(header.range);
    let mut image = RgbImage::new(header.width, header.height);
    let (luma, chroma) = planes.split_at(width * height);
    rows.cb.resize(width, 128);
    rows.cr.resize(width, 128);
    let out_rows = image.chunks_exact_mut(width * 3);
    match header.colorspace.subsampling() {
        None => {
            rows.cb.fill(128);
            for (out, y) in out_rows.zip(luma.chunks_exact(width)) {
                rgb_row(y, &rows.cb, &rows.cb, coefs, out);
            }
        }
        Some(sub) => {
            let (cw, ch) = (width.div_ceil(sub.0), height.div_ceil(sub.1));
            let (cb, cr) = chroma.split_at(cw * ch);
            let cb = Plane { bytes: cb, width: cw, height: ch };
            let cr = Plane { bytes: cr, ..cb };
            rows.blend.resize(cw, 0);
            for (r, (out, y)) in out_rows.zip(luma.chunks_exact(width)).enumerate() {
                upsample_row(cb, sub, r, &mut rows.blend, &mut rows.cb);
                upsample_row(cr, sub, r, &mut rows.blend, &mut rows.cr);
                rgb_row(y, &rows.cb, &rows.cr, coefs, out);
            }
        }
    }
    image
}

/// Chroma for output row `r` at full width into `out`, from a plane subsampled by `(sx, sy)`.
/// Bilinear with chroma centred between luma samples: each output sample weighs its chroma
/// sample 3/4 and the next nearest 1/4 along each subsampled axis, edges repeated.
fn upsample_row(plane: Plane, (sx, sy): (usize, usize), r: usize, blend: &mut [u16], out: &mut [u8]) {
    let cw = plane.width;
    // Vertical pass: `blend` holds 4x chroma.
    let k = r / sy;
    let row = plane.row(k);
    if sy == 2 {
        let other = if r.is_multiple_of(2) { k.saturating_sub(1) } else { (k + 1).min(plane.height - 1) };
        let near = plane.row(other);
        for ((b, &a), &n) in blend.iter_mut().zip(row).zip(near) {
            *b = 3 * u16::from(a) + u16::from(n);
        }
    } else {
        for (b, &a) in blend.iter_mut().zip(row) {
            *b = 4 * u16::from(a);
        }
    }
    // Horizontal pass: back to 1x with rounding.
    if sx == 1 {
        for (o, &b) in out.iter_mut().zip(blend.iter()) {
            *o = ((b + 2) >> 2) as u8;
        }
        return;
    }
    let w = out.len();
    let at = |i: usize| blend[i.min(cw - 1)];
    out[0] = ((4 * at(0) + 8) >> 4) as u8;
    // Interior pairs: the right sample of pair i and the left sample of pair i + 1 lie
    // between chroma samples i and i + 1.
    for (pair, o) in blend.windows(2).zip(out[1..].chunks_exact_mut(2)) {
        let (a, b) = (pair[0], pair[1]);
        o[0] = ((3 * a + b + 8) >> 4) as u8;
        o[1] = ((a + 3 * b + 8) >> 4) as u8;
    }
    if w.is_multiple_of(2) {
        out[w - 1] = ((4 * at(cw - 1) + 8) >> 4) as u8;
    }
}

fn rgb_row(y: &[u8], cb: &[u8], cr: &[u8], k: Coefs, out: &mut [u8]) {
    let clamp = |x: i32| (x >> 16).clamp(0, 255) as u8;
    let n = out.len() / 3;
    let (y, cb, cr) = (&y[..n], &cb[..n], &cr[..n]);
    for i in 0..n {
        // The rounding half is added once, to luma.
        let l = (i32::from(y[i]) - k.y0) * k.ky + (1 << 15);
        let (u, v) = (i32::from(cb[i]) - 128, i32::from(cr[i]) - 128);
        let px = &mut out[3 * i..3 * i + 3];
        px[0] = clamp(l + k.rv * v);
        px[1] = clamp(l + k.gu * u + k.gv * v);
        px[2] = clamp(l + k.bu * u);
    }
}

/// BT.601 limited range from R, G, B in 0..=255: with L = 0.299 R + 0.587 G + 0.114 B,
/// Y = 16 + L 219/255, Cb = 128 + (B - L) / 1.772 * 224/255, Cr = 128 + (R - L) / 1.402 * 224/255.
fn ycbcr(r: f32, g: f32, b: f32) -> (u8, u8, u8) {
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    let byte = |x: f32| x.round().clamp(0.0, 255.0) as u8;
    let s = 224.0 / 255.0;
    (byte(16.0 + y * 219.0 / 255.0), byte(128.0 + s * (b - y) / 1.772), byte(128.0 + s * (r - y) / 1.402))
}

/// An RGB image to planes in `colorspace`; each chroma sample is the mean of the pixels it covers.
pub(super) fn to_planes(image: &RgbImage, colorspace: Colorspace, planes: &mut Vec<u8>) {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let px: &[u8] = image.as_raw();
    planes.clear();
    planes.extend(px.chunks_exact(3).map(|p| ycbcr(p[0].into(), p[1].into(), p[2].into()).0));
    let Some((sx, sy)) = colorspace.subsampling() else { return };
    let (cw, ch) = (w.div_ceil(sx), h.div_ceil(sy));
    planes.resize(w * h + 2 * cw * ch, 0);
    let (cb, cr) = planes[w * h..].split_at_mut(cw * ch);
    for cy in 0..ch {
        for cx in 0..cw {
            let (mut sum, mut n) = ([0u32; 3], 0);
            for y in cy * sy..((cy + 1) * sy).min(h) {
                for x in cx * sx..((cx + 1) * sx).min(w) {
                    let p = &px[(y * w + x) * 3..][..3];
                    (0..3).for_each(|c| sum[c] += u32::from(p[c]));
                    n += 1;
                }
            }
            let mean = |c: usize| sum[c] as f32 / n as f32;
            let (_, u, v) = ycbcr(mean(0), mean(1), mean(2));
            cb[cy * cw + cx] = u;
            cr[cy * cw + cx] = v;
        }
    }
}

