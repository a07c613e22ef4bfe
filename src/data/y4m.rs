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
use colour::{to_planes, to_rgb, Rows};
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

#[path = "y4m_colour.rs"]
mod colour;

#[cfg(test)]
#[path = "y4m_tests.rs"]
mod tests;
