//! YUV4MPEG2 (`.y4m`) video streams: what `ffmpeg -i clip.mp4 -f yuv4mpegpipe -` writes, read
//! frame by frame into RGB images, and written back for tests and for the file Chromium's fake
//! camera plays (`--use-file-for-fake-video-capture`).
//!
//! A stream is one header line, `YUV4MPEG2` and space-separated tags (`W` width, `H` height, `F`
//! frame rate `n:d`, `C` colorspace, `I`, `A`, `X...`), then for each frame a `FRAME` line and
//! the planes Y, Cb, Cr at 8 bits per sample, each row after row with no padding.
//!
//! Colour follows ffmpeg: BT.601 coefficients; limited range (Y 16-235, chroma 16-240) unless the
//! header says `XCOLORRANGE=FULL`, which ffmpeg writes for `yuvj` and gray sources. `Cmono`
//! without the tag is read as full range, as ffmpeg converts gray. 4:2:0 and 4:2:2 chroma is
//! upsampled bilinearly, sited between luma samples (`C420jpeg`, ffmpeg's default); the
//! `mpeg2` and `paldv` sitings differ by a quarter of a chroma sample, which is read the same.
//! The writer averages each chroma block and always writes limited range, tagged.
//!
//! Nothing is allocated for a frame before its size is checked against `MAX_SIDE_PX` and
//! `photo::MAX_PIXELS`, so a hostile header cannot make us allocate gigabytes.
use std::io::{self, BufRead, Read, Write};

use image::RgbImage;

use super::photo::MAX_PIXELS;
use crate::error::{Error, Result};

/// The longest side of a frame accepted.
pub const MAX_SIDE_PX: u32 = 8192;
/// The longest header or `FRAME` line accepted, newline included.
const MAX_LINE_BYTES: usize = 1024;
const MAGIC: &[u8] = b"YUV4MPEG2";

/// How the chroma planes are sampled: the `C` tag of the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colorspace {
    /// `C420jpeg`: 4:2:0, chroma centred between luma samples; also what a header without `C` means.
    C420Jpeg,
    /// `C420mpeg2`: 4:2:0, chroma in line with the left luma column.
    C420Mpeg2,
    /// `C420paldv`: 4:2:0, PAL DV siting.
    C420Paldv,
    /// `C420`: 4:2:0, siting unspecified.
    C420,
    /// `C422`: chroma at half the width, full height.
    C422,
    /// `C444`: chroma at full size.
    C444,
    /// `Cmono`: luma alone.
    Mono,
}

const COLORSPACES: [Colorspace; 7] = [
    Colorspace::C420Jpeg,
    Colorspace::C420Mpeg2,
    Colorspace::C420Paldv,
    Colorspace::C420,
    Colorspace::C422,
    Colorspace::C444,
    Colorspace::Mono,
];

impl Colorspace {
    /// The header tag, `C` included.
    pub fn tag(self) -> &'static str {
        match self {
            Colorspace::C420Jpeg => "C420jpeg",
            Colorspace::C420Mpeg2 => "C420mpeg2",
            Colorspace::C420Paldv => "C420paldv",
            Colorspace::C420 => "C420",
            Colorspace::C422 => "C422",
            Colorspace::C444 => "C444",
            Colorspace::Mono => "Cmono",
        }
    }

    /// Luma samples per chroma sample (across, down); `None` when there is no chroma.
    fn subsampling(self) -> Option<(usize, usize)> {
        match self {
            Colorspace::C420Jpeg | Colorspace::C420Mpeg2 | Colorspace::C420Paldv | Colorspace::C420 => {
                Some((2, 2))
            }
            Colorspace::C422 => Some((2, 1)),
            Colorspace::C444 => Some((1, 1)),
            Colorspace::Mono => None,
        }
    }

    /// Bytes of one frame's planes.
    fn frame_bytes(self, width: usize, height: usize) -> usize {
        let chroma = self.subsampling().map_or(0, |(sx, sy)| 2 * width.div_ceil(sx) * height.div_ceil(sy));
        width * height + chroma
    }

    fn parse(tag: &str) -> std::result::Result<Self, String> {
        if let Some(c) = COLORSPACES.into_iter().find(|c| c.tag() == tag) {
            return Ok(c);
        }
        // ffmpeg's names for more than 8 bits: C420p10, C444p16, Cmono12, ...
        let deep = ["C420p", "C422p", "C444p", "Cmono"]
            .iter()
            .filter_map(|p| tag.strip_prefix(p))
            .any(|bits| !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()));
        if deep {
            return Err(format!(
                "colorspace {tag} has more than 8 bits per sample; only 8-bit streams are read \
                 (convert with ffmpeg -pix_fmt yuv420p)"
            ));
        }
        let known: Vec<_> = COLORSPACES.iter().map(|c| c.tag()).collect();
        Err(format!("colorspace {tag} is not supported (expected one of {})", known.join(", ")))
    }
}

/// Which byte values span black to white: `XCOLORRANGE=LIMITED` (Y 16-235) or `=FULL` (0-255).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    Limited,
    Full,
}

/// What the header line says.
#[derive(Debug, PartialEq)]
struct Header {
    width: u32,
    height: u32,
    fps: Option<(u32, u32)>,
    colorspace: Colorspace,
    range: Range,
}

/// Reads a YUV4MPEG2 stream frame by frame.
pub struct Reader<R: BufRead> {
    input: R,
    name: String,
    header: Header,
    /// Frames read so far: messages number frames from 1.
    frames: usize,
    /// The last line read (header, then each `FRAME` line).
    line: Vec<u8>,
    /// One frame's planes as read; sized at the first frame.
    planes: Vec<u8>,
    rows: Rows,
}

impl<R: BufRead> Reader<R> {
    /// Reads and checks the stream header; `name` (a path, or `-` for stdin) is how errors
    /// name the stream.
    pub fn new(mut input: R, name: &str) -> Result<Reader<R>> {
        let mut line = Vec::new();
        read_line(&mut input, &mut line).map_err(|e| Error::io(name, e))?;
        let header = parse_header(&line).map_err(|reason| Error::data(name, None, reason))?;
        let (name, planes, rows) = (name.to_string(), Vec::new(), Rows::default());
        Ok(Reader { input, name, header, frames: 0, line, planes, rows })
    }

    pub fn width(&self) -> u32 {
        self.header.width
    }

    pub fn height(&self) -> u32 {
        self.header.height
    }

    /// Frames per second as `(numerator, denominator)`; `None` when the header has no `F` tag
    /// or says `F0:0` (unknown).
    pub fn fps(&self) -> Option<(u32, u32)> {
        self.header.fps
    }

    pub fn colorspace(&self) -> Colorspace {
        self.header.colorspace
    }

    pub fn range(&self) -> Range {
        self.header.range
    }

    /// The next frame in RGB; `Ok(None)` when the stream ends cleanly between two frames. A
    /// stream that ends inside a frame, or a frame that does not start with `FRAME`, is an
    /// error naming the frame (counted from 1).
    pub fn next_frame(&mut self) -> Result<Option<RgbImage>> {
        let number = self.frames + 1;
        read_line(&mut self.input, &mut self.line).map_err(|e| Error::io(&self.name, e))?;
        if self.line.is_empty() {
            return Ok(None);
        }
        if let Err(reason) = check_marker(&self.line) {
            return Err(Error::data(&self.name, None, format!("frame {number}: {reason}")));
        }
        let (w, h) = (self.header.width as usize, self.header.height as usize);
        let expected = self.header.colorspace.frame_bytes(w, h);
        if self.planes.len() != expected {
            self.planes = vec![0; expected];
        }
        let found = fill(&mut self.input, &mut self.planes).map_err(|e| Error::io(&self.name, e))?;
        if found < expected {
            let reason = format!("frame {number} is cut short ({expected} bytes expected, {found} found)");
            return Err(Error::data(&self.name, None, reason));
        }
        self.frames = number;
        Ok(Some(to_rgb(&self.planes, &self.header, &mut self.rows)))
    }
}

/// Reads one line into `line`, newline included, stopping after `MAX_LINE_BYTES`.
fn read_line(input: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<()> {
    line.clear();
    input.take(MAX_LINE_BYTES as u64).read_until(b'\n', line)?;
    Ok(())
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn fill(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The first bytes of `bytes`, quoted, for a message.
fn quote(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(24)];
    let more = if bytes.len() > shown.len() { "..." } else { "" };
    format!("\"{}{more}\"", String::from_utf8_lossy(shown).escape_debug())
}

fn parse_header(line: &[u8]) -> std::result::Result<Header, String> {
    if line.is_empty() {
        return Err("empty stream: no YUV4MPEG2 header".into());
    }
    if !line.starts_with(MAGIC) || !matches!(line.get(MAGIC.len()), None | Some(b' ' | b'\n')) {
        return Err(format!("not a YUV4MPEG2 stream: it starts with {}", quote(line)));
    }
    let Some(body) = line.strip_suffix(b"\n") else {
        return Err(if line.len() >= MAX_LINE_BYTES {
            format!("header line is longer than {MAX_LINE_BYTES} bytes")
        } else {
            "stream ends inside the header line".into()
        });
    };
    let body = String::from_utf8_lossy(&body[MAGIC.len()..]);
    let (mut width, mut height, mut fps, mut range) = (None, None, None, None);
    let mut colorspace = Colorspace::C420Jpeg;
    for tag in body.split(' ').filter(|t| !t.is_empty()) {
        // Tags start with an ASCII letter; split after it (a lossy character is not one).
        let Some(value) = tag.get(1..) else { continue };
        match tag.as_bytes()[0] {
            b'W' => width = Some(side("width", tag, value)?),
            b'H' => height = Some(side("height", tag, value)?),
            b'F' => fps = rate(tag, value)?,
            b'C' => colorspace = Colorspace::parse(tag)?,
            b'X' => match value.strip_prefix("COLORRANGE=") {
                Some("FULL") => range = Some(Range::Full),
                Some("LIMITED") => range = Some(Range::Limited),
                Some(_) => return Err(format!("tag {tag}: expected XCOLORRANGE=FULL or XCOLORRANGE=LIMITED")),
                None => {}
            },
            // Interlacing (I), pixel aspect (A) and tags of later versions do not change the bytes.
            _ => {}
        }
    }
    let width = width.ok_or("header has no width (W tag)")?;
    let height = height.ok_or("header has no height (H tag)")?;
    if width > MAX_SIDE_PX || height > MAX_SIDE_PX || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(format!(
            "frame size {width}x{height} is over the limit of {MAX_SIDE_PX} pixels a side and {} megapixels",
            MAX_PIXELS / 1_000_000
        ));
    }
    let range = range.unwrap_or(if colorspace == Colorspace::Mono { Range::Full } else { Range::Limited });
    Ok(Header { width, height, fps, colorspace, range })
}

fn side(what: &str, tag: &str, value: &str) -> std::result::Result<u32, String> {
    match value.parse::<u32>() {
        Ok(0) => Err(format!("{what} is zero ({tag})")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{what} tag {tag} is not a number of pixels")),
    }
}

fn rate(tag: &str, value: &str) -> std::result::Result<Option<(u32, u32)>, String> {
    let parsed = value.split_once(':').and_then(|(n, d)| Some((n.parse::<u32>().ok()?, d.parse::<u32>().ok()?)));
    match parsed {
        Some((n, d)) if n > 0 && d > 0 => Ok(Some((n, d))),
        Some(_) => Ok(None),
        None => Err(format!("frame rate tag {tag} is not a ratio n:d")),
    }
}

/// Checks a frame's first line: `FRAME`, optional tags (ignored), newline.
fn check_marker(line: &[u8]) -> std::result::Result<(), String> {
    const MARKER: &[u8] = b"FRAME";
    let body = line.strip_suffix(b"\n");
    let text = body.unwrap_or(line);
    if body.is_none() && MARKER.starts_with(text) {
        return Err("stream ends inside the FRAME marker".into());
    }
    if !text.starts_with(MARKER) || !matches!(text.get(MARKER.len()), None | Some(b' ')) {
        return Err(format!("expected a FRAME marker, found {}", quote(line)));
    }
    if body.is_none() {
        return Err(if line.len() >= MAX_LINE_BYTES {
            format!("FRAME line is longer than {MAX_LINE_BYTES} bytes")
        } else {
            "stream ends inside the FRAME line".into()
        });
    }
    Ok(())
}

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
struct Rows {
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
fn to_rgb(planes: &[u8], header: &Header, rows: &mut Rows) -> RgbImage {
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

/// Writes `frames` (all one size) as a YUV4MPEG2 stream at `fps` frames per second
/// (numerator, denominator), limited range, tagged. The header and frame lines are the plain
/// form Chromium's fake camera parses, which takes only the 4:2:0 colorspaces.
pub fn write<'a, W: Write>(
    out: &mut W,
    frames: impl IntoIterator<Item = &'a RgbImage>,
    fps: (u32, u32),
    colorspace: Colorspace,
) -> io::Result<()> {
    let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
    let mut size = None;
    let mut planes = Vec::new();
    for (i, frame) in frames.into_iter().enumerate() {
        let (w, h) = frame.dimensions();
        match size {
            None if w == 0 || h == 0 => return Err(invalid(format!("frame 1 is {w}x{h}: nothing to write"))),
            None => {
                let (n, d) = fps;
                writeln!(out, "YUV4MPEG2 W{w} H{h} F{n}:{d} Ip A1:1 {} XCOLORRANGE=LIMITED", colorspace.tag())?;
                size = Some((w, h));
            }
            Some((w0, h0)) if (w0, h0) != (w, h) => {
                return Err(invalid(format!("frame {} is {w}x{h}, frame 1 is {w0}x{h0}", i + 1)));
            }
            Some(_) => {}
        }
        to_planes(frame, colorspace, &mut planes);
        out.write_all(b"FRAME\n")?;
        out.write_all(&planes)?;
    }
    if size.is_none() {
        return Err(invalid("no frames to write".into()));
    }
    Ok(())
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
fn to_planes(image: &RgbImage, colorspace: Colorspace, planes: &mut Vec<u8>) {
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

#[cfg(test)]
#[path = "y4m_tests.rs"]
mod tests;
