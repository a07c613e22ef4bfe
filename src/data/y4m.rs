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
mod tests {
    use super::*;

    /// Smooth ramps in every channel, so subsampled chroma loses little.
    fn ramp(w: u32, h: u32, shift: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x * 255 / (w - 1).max(1), y * 255 / (h - 1).max(1));
            image::Rgb([(fx + shift).min(255) as u8, fy as u8, (255 - (fx + fy) / 2) as u8])
        })
    }

    fn stream(frames: &[RgbImage], colorspace: Colorspace) -> Vec<u8> {
        let mut bytes = Vec::new();
        write(&mut bytes, frames, (25, 1), colorspace).unwrap();
        bytes
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<RgbImage>> {
        let mut reader = Reader::new(bytes, "clip.y4m")?;
        let mut frames = Vec::new();
        while let Some(f) = reader.next_frame()? {
            frames.push(f);
        }
        Ok(frames)
    }

    fn max_diff(a: &RgbImage, b: &RgbImage) -> u8 {
        a.as_raw().iter().zip(b.as_raw()).map(|(&x, &y)| x.abs_diff(y)).max().unwrap()
    }

    fn header_error(bytes: &[u8]) -> String {
        match Reader::new(bytes, "clip.y4m") {
            Ok(_) => panic!("{} was accepted", quote(bytes)),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn round_trip_every_colorspace_within_tolerance() {
        // Tolerance: 8-bit limited range quantises Y in steps of 255/219 and chroma in steps of
        // 255/224, so 4:4:4 comes back within 2. Subsampled chroma comes back within 3 away from
        // the border; on the outer two rows and columns bilinear upsampling repeats the edge
        // chroma sample, half a pixel off, and the ramps change by up to 4 a pixel: within 6.
        let frames = [ramp(64, 48, 0), ramp(64, 48, 40)];
        for colorspace in COLORSPACES {
            let back = read_all(&stream(&frames, colorspace)).unwrap();
            assert_eq!(back.len(), 2, "{colorspace:?}");
            for (a, b) in frames.iter().zip(&back) {
                let expected = if colorspace == Colorspace::Mono {
                    // Luma only: gray is Y' = 0.299 R + 0.587 G + 0.114 B.
                    RgbImage::from_fn(64, 48, |x, y| {
                        let p = a.get_pixel(x, y).0.map(f32::from);
                        image::Rgb([(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]).round() as u8; 3])
                    })
                } else {
                    a.clone()
                };
                let inner = |i: &RgbImage| image::imageops::crop_imm(i, 2, 2, 60, 44).to_image();
                let (all, inside) = (max_diff(&expected, b), max_diff(&inner(&expected), &inner(b)));
                let (all_max, inside_max) = match colorspace {
                    Colorspace::C444 | Colorspace::Mono => (2, 2),
                    _ => (6, 3),
                };
                assert!(all <= all_max && inside <= inside_max, "{colorspace:?}: off by {all}, {inside} inside");
            }
        }
    }

    #[test]
    fn odd_size_420_round_trips_with_rounded_up_chroma() {
        for (w, h) in [(33, 17), (1, 1), (3, 2), (2, 5)] {
            let frame = ramp(w, h, 0);
            let bytes = stream(std::slice::from_ref(&frame), Colorspace::C420Jpeg);
            let header_len = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
            let (cw, ch) = (w.div_ceil(2) as usize, h.div_ceil(2) as usize);
            assert_eq!(bytes.len(), header_len + 6 + (w * h) as usize + 2 * cw * ch);
            let back = read_all(&bytes).unwrap();
            assert_eq!(back[0].dimensions(), (w, h));
            // Tiny frames have steep ramps, so the edge chroma is further off than in the
            // 64x48 test; constant colour must still come back within 2.
            let flat = RgbImage::from_pixel(w, h, image::Rgb([200, 40, 90]));
            let back = read_all(&stream(std::slice::from_ref(&flat), Colorspace::C420Jpeg)).unwrap();
            assert!(max_diff(&flat, &back[0]) <= 2, "{w}x{h}");
        }
    }

    #[test]
    fn writer_red_is_the_bt601_colour_bar_value() {
        // ITU-R BT.601 100% red: Y 81, Cb 90, Cr 240 (16 + 219 * 0.299 = 81.5 rounds down
        // from 81.48).
        let red = RgbImage::from_pixel(2, 2, image::Rgb([255, 0, 0]));
        let bytes = stream(&[red], Colorspace::C420Jpeg);
        assert!(bytes.ends_with(b"FRAME\n\x51\x51\x51\x51\x5a\xf0"), "{:?}", &bytes[bytes.len() - 6..]);
        let back = &read_all(&bytes).unwrap()[0];
        assert!(max_diff(back, &RgbImage::from_pixel(2, 2, image::Rgb([255, 0, 0]))) <= 2);
    }

    #[test]
    fn range_tag_decides_black() {
        // Y 16, chroma neutral: black in limited range, 16 in full range; Y 235 limited is white.
        let cases = [("", 16, 0), (" XCOLORRANGE=LIMITED", 16, 0), (" XCOLORRANGE=FULL", 16, 16), ("", 235, 255)];
        for (tag, y, rgb) in cases {
            let mut bytes = format!("YUV4MPEG2 W2 H2 C420{tag}\nFRAME\n").into_bytes();
            bytes.extend([y, y, y, y, 128, 128]);
            let frame = &read_all(&bytes).unwrap()[0];
            assert_eq!(frame.as_raw(), &vec![rgb; 12], "{tag} Y {y}");
        }
        let mono = Reader::new(&b"YUV4MPEG2 W2 H2 Cmono\n"[..], "m").unwrap();
        assert_eq!(mono.range(), Range::Full);
    }

    #[test]
    fn header_tags_in_any_order_unknown_ones_ignored() {
        let mut bytes = b"YUV4MPEG2 XFOO=1 C444 F30000:1001 Ip H1 A1:1 W2 XYSCSS=444 Q9\n".to_vec();
        bytes.extend(b"FRAME Ixyz XBAR=2\n");
        bytes.extend([16, 235, 128, 128, 128, 128]);
        bytes.extend(b"FRAME\n\x10\xeb\x80\x80\x80\x80");
        let mut reader = Reader::new(&bytes[..], "clip.y4m").unwrap();
        assert_eq!((reader.width(), reader.height()), (2, 1));
        assert_eq!(reader.fps(), Some((30000, 1001)));
        assert_eq!((reader.colorspace(), reader.range()), (Colorspace::C444, Range::Limited));
        for _ in 0..2 {
            assert_eq!(reader.next_frame().unwrap().unwrap().as_raw(), &[0, 0, 0, 255, 255, 255]);
        }
        assert!(reader.next_frame().unwrap().is_none());
    }

    #[test]
    fn header_defaults_420_and_unknown_rate() {
        for (tags, fps) in [("", None), (" F0:0", None), (" F25:1", Some((25, 1)))] {
            let header = format!("YUV4MPEG2 W4 H2{tags}\n");
            let reader = Reader::new(header.as_bytes(), "clip.y4m").unwrap();
            assert_eq!(reader.fps(), fps);
            assert_eq!((reader.colorspace(), reader.range()), (Colorspace::C420Jpeg, Range::Limited));
        }
    }

    #[test]
    fn clean_end_is_none_every_time() {
        let bytes = stream(&[ramp(6, 4, 0)], Colorspace::C422);
        let mut reader = Reader::new(&bytes[..], "clip.y4m").unwrap();
        assert!(reader.next_frame().unwrap().is_some());
        assert!(reader.next_frame().unwrap().is_none());
        assert!(reader.next_frame().unwrap().is_none());
        assert!(read_all(b"YUV4MPEG2 W6 H4\n").unwrap().is_empty());
    }

    #[test]
    fn stream_cut_inside_frame_names_frame_and_bytes() {
        let bytes = stream(&[ramp(8, 6, 0), ramp(8, 6, 9), ramp(8, 6, 20)], Colorspace::C420Mpeg2);
        let frame_len = 6 + 8 * 6 + 2 * 4 * 3;
        let second = bytes.len() - 2 * frame_len;
        let e = read_all(&bytes[..second + 6 + 10]).unwrap_err().to_string();
        assert_eq!(e, "clip.y4m: frame 2 is cut short (72 bytes expected, 10 found)");
        let e = read_all(&bytes[..second + 6]).unwrap_err().to_string();
        assert_eq!(e, "clip.y4m: frame 2 is cut short (72 bytes expected, 0 found)");
    }

    #[test]
    fn stream_cut_inside_frame_marker_names_frame() {
        let bytes = stream(&[ramp(8, 6, 0), ramp(8, 6, 9)], Colorspace::C420Paldv);
        let second = bytes.len() - (6 + 72);
        for cut in [1, 3, 5] {
            let e = read_all(&bytes[..second + cut]).unwrap_err().to_string();
            assert_eq!(e, "clip.y4m: frame 2: stream ends inside the FRAME marker", "cut {cut}");
        }
        let e = read_all(&[&bytes[..second], b"FRAME Ixy"].concat()).unwrap_err().to_string();
        assert_eq!(e, "clip.y4m: frame 2: stream ends inside the FRAME line");
    }

    #[test]
    fn frame_marker_other_than_frame_is_refused() {
        for bad in [&b"FRAMX\n"[..], b"FRAMES\n", b"frame\n", b"\x00\x01\x02\x03\x04\x05", b"YUV4MPEG2 W2 H2\n"] {
            let bytes = [&b"YUV4MPEG2 W2 H2\n"[..], bad, &[0; 6]].concat();
            let e = read_all(&bytes).unwrap_err().to_string();
            assert!(e.starts_with("clip.y4m: frame 1: expected a FRAME marker, found \""), "{e}");
        }
        let long = [&b"YUV4MPEG2 W2 H2\nFRAME "[..], &[b'x'; 2000]].concat();
        let e = read_all(&long).unwrap_err().to_string();
        assert_eq!(e, "clip.y4m: frame 1: FRAME line is longer than 1024 bytes");
    }

    #[test]
    fn bad_headers_are_refused_with_the_reason() {
        let long = [&b"YUV4MPEG2 W2 H2 X"[..], &[b'a'; 5000]].concat();
        let cases: [(&[u8], &str); 16] = [
            (b"", "empty stream"),
            (b"\x89PNG\r\n\x1a\n", "not a YUV4MPEG2 stream: it starts with \"\u{fffd}PNG\\r\\n"),
            (b"YUV4MPEG W2 H2\n", "not a YUV4MPEG2 stream"),
            (b"YUV4MPEG2X W2 H2\n", "not a YUV4MPEG2 stream"),
            (b"YUV4MPEG2 W2 H2", "stream ends inside the header line"),
            (&long, "header line is longer than 1024 bytes"),
            (b"YUV4MPEG2 H2\n", "header has no width (W tag)"),
            (b"YUV4MPEG2 W2\n", "header has no height (H tag)"),
            (b"YUV4MPEG2 W0 H2\n", "width is zero (W0)"),
            (b"YUV4MPEG2 W2 H0\n", "height is zero (H0)"),
            (b"YUV4MPEG2 Wabc H2\n", "width tag Wabc is not a number of pixels"),
            (b"YUV4MPEG2 W2 H-2\n", "height tag H-2 is not a number of pixels"),
            (b"YUV4MPEG2 W2 H2 C411\n", "colorspace C411 is not supported (expected one of C420jpeg,"),
            (b"YUV4MPEG2 W2 H2 C420p10\n", "colorspace C420p10 has more than 8 bits per sample"),
            (b"YUV4MPEG2 W2 H2 F30\n", "frame rate tag F30 is not a ratio n:d"),
            (b"YUV4MPEG2 W2 H2 XCOLORRANGE=MAYBE\n", "tag XCOLORRANGE=MAYBE: expected"),
        ];
        for (bytes, reason) in cases {
            let e = header_error(bytes);
            assert!(e.starts_with(&format!("clip.y4m: {reason}")), "{e}");
        }
        assert!(header_error(b"YUV4MPEG2 W2 H2 Cmono16\n").contains("Cmono16 has more than 8 bits"));
    }

    #[test]
    fn huge_frame_size_is_refused_before_any_frame_is_read() {
        // The header alone: refused in `new`, so no frame buffer is ever sized from it.
        let sizes = [("W100000 H100000", true), ("W8193 H2", true), ("W8192 H8192", true), ("W8000 H5000", false)];
        for (size, refused) in sizes {
            let header = format!("YUV4MPEG2 {size} C444\n");
            assert_eq!(Reader::new(header.as_bytes(), "clip.y4m").is_err(), refused, "{size}");
        }
        let e = header_error(b"YUV4MPEG2 W100000 H100000\n");
        let limit = "is over the limit of 8192 pixels a side and 40 megapixels";
        assert_eq!(e, format!("clip.y4m: frame size 100000x100000 {limit}"));
    }

    #[test]
    fn writer_refuses_mixed_sizes_and_no_frames() {
        let mut out = Vec::new();
        let e = write(&mut out, &[ramp(4, 4, 0), ramp(4, 2, 0)], (25, 1), Colorspace::C420).unwrap_err();
        assert_eq!(e.to_string(), "frame 2 is 4x2, frame 1 is 4x4");
        assert!(write(&mut Vec::new(), &[], (25, 1), Colorspace::C420).is_err());
        assert!(write(&mut Vec::new(), &[RgbImage::new(0, 3)], (25, 1), Colorspace::C420).is_err());
    }

    #[test]
    fn writer_header_is_what_chromium_parses() {
        // Chromium's fake camera reads the first 200 bytes, splits tags on single spaces and
        // expects plain `FRAME\n` between frames.
        let bytes = stream(&[ramp(640, 360, 0)], Colorspace::C420Jpeg);
        let header = b"YUV4MPEG2 W640 H360 F25:1 Ip A1:1 C420jpeg XCOLORRANGE=LIMITED\nFRAME\n";
        assert!(bytes.starts_with(header));
    }
}
