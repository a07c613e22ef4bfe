//! Reading photos from disk into network-sized images: decode (JPEG, PNG, PGM/PPM, WebP),
//! centre-crop, resize, and convert to gray or RGB bytes.
use std::path::Path;

use image::imageops::FilterType;
use image::DynamicImage;

use crate::error::{Error, Result};

/// Which part of the photo becomes the network input, as fractions of its width and height.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Crop {
    pub left: f32,
    pub top: f32,
    pub width: f32,
    pub height: f32,
}

impl Crop {
    pub const FULL: Crop = Crop { left: 0.0, top: 0.0, width: 1.0, height: 1.0 };

    /// The centre square covering `fraction` of the shorter side.
    pub const fn center(fraction: f32) -> Crop {
        Crop { left: (1.0 - fraction) / 2.0, top: (1.0 - fraction) / 2.0, width: fraction, height: fraction }
    }
}

/// The largest photo accepted: 40 megapixels. Bigger files are refused before decoding, so a
/// hostile or accidental huge image cannot exhaust memory.
pub const MAX_PIXELS: u64 = 40_000_000;

/// The most memory one decoded photo may take: width x height x channels x bytes per sample,
/// read from the header before decoding. 120 MB is a 40-megapixel 8-bit colour photo; the same
/// size with 16-bit samples or an alpha channel is refused.
pub const MAX_DECODED_BYTES: u64 = 120_000_000;

/// Bytes a decoder may allocate for one image, pixels and everything else (colour profiles,
/// metadata) together.
pub const MAX_ALLOC: u64 = MAX_DECODED_BYTES + 16_000_000;

/// The longest side accepted: 65,535 pixels, the most a JPEG can hold, so a photo that decodes
/// can always be saved as one (`/api/collect` does). It also bounds what shrinking a long strip
/// costs: `image::imageops::resize` scales the height first, into a buffer of the full width
/// times the new height in four-channel f32, so the face detector bringing a 40,000,000 x 1
/// strip to 640 px took 640 MB. With this side and `MAX_PIXELS` that buffer is largest for a
/// square photo, 6,324 x 640 x 16 bytes = 65 MB (`resize_buffer_bytes`).
pub const MAX_SIDE_PX: u32 = 65_535;

/// The buffer `image::imageops::resize` allocates between its two passes when an image of
/// `w x h` is scaled to fit `side x side` as the face detector scales it: the full width times
/// the scaled height, four f32 channels per pixel.
pub fn resize_buffer_bytes(w: u32, h: u32, side: u32) -> u64 {
    let scale = side as f64 / w.max(h).max(1) as f64;
    let new_h = ((h as f64 * scale).round() as u64).max(1);
    w as u64 * new_h * 16
}

/// Decodes `path` (format from the content, not the name), applies its EXIF orientation, and
/// refuses images over `MAX_PIXELS`, `MAX_DECODED_BYTES` or `MAX_SIDE_PX` and files cut short;
/// errors name the file and say what was wrong.
pub fn open(path: &Path) -> Result<DynamicImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode(&bytes).map_err(|reason| Error::data(path, None, reason))
}

/// `open` for bytes already in memory (uploads); the error is the reason alone.
pub fn decode(bytes: &[u8]) -> std::result::Result<DynamicImage, String> {
    decode_if(bytes, |_, _, _| Ok(()))
}

/// A face crop as the gallery stores it: a PNG of exactly `side x side` pixels, refused from its
/// header otherwise, and decoded under the same allocation limit as an upload. Crops come back
/// from files anyone can edit (an exported folder, the gallery file itself), so they get no
/// more trust than a photo from the network.
pub fn decode_crop(bytes: &[u8], side: u32) -> std::result::Result<image::RgbImage, String> {
    let img = decode_if(bytes, |format, w, h| {
        if format != image::ImageFormat::Png {
            return Err(format!("a {format:?} file; stored crops are PNG"));
        }
        if (w, h) != (side, side) {
            return Err(format!("{w}x{h} pixels; stored crops are {side}x{side}"));
        }
        Ok(())
    })?;
    Ok(img.to_rgb8())
}

/// What a decoder may allocate for one image. Decoders allocate for more than pixels (a PNG's
/// compressed colour profile unpacks as it is opened, before its size is known): everything one
/// image may allocate is bounded.
pub fn limits() -> image::Limits {
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_ALLOC);
    limits
}

/// `decode`, with `accept` asked about the format and size (from the header) before decoding.
fn decode_if(bytes: &[u8], accept: impl Fn(image::ImageFormat, u32, u32) -> std::result::Result<(), String>) -> std::result::Result<DynamicImage, String> {
    use image::ImageDecoder;
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| e.to_string())?;
    reader.limits(limits());
    let Some(format) = reader.format() else {
        return Err("not an image (JPEG, PNG, PGM/PPM or WebP)".into());
    };
    complete(format, bytes)?;
    let mut decoder = reader.into_decoder().map_err(|e| format!("cannot decode image: {e}"))?;
    let (w, h) = decoder.dimensions();
    accept(format, w, h)?;
    if w.max(h) > MAX_SIDE_PX {
        return Err(format!("image is {w}x{h}; the longest side may be {MAX_SIDE_PX} pixels"));
    }
    if w as u64 * h as u64 > MAX_PIXELS {
        return Err(format!("image is {w}x{h} = {:.0} megapixels; the limit is {} megapixels", (w as f64 * h as f64) / 1e6, MAX_PIXELS / 1_000_000));
    }
    if decoder.total_bytes() > MAX_DECODED_BYTES {
        return Err(format!(
            "image is {w}x{h} {:?}: {} MB once decoded; the limit is {} MB",
            decoder.color_type(),
            decoder.total_bytes() / 1_000_000,
            MAX_DECODED_BYTES / 1_000_000
        ));
    }
    let orientation = decoder.orientation().map_err(|e| format!("cannot read orientation: {e}"))?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| format!("cannot decode image: {e}"))?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Refuses a file that ends before its format's end marker. Decoders fill what a cut file lacks
/// with grey and say nothing, and a half-grey face would be enrolled as if it were whole.
fn complete(format: image::ImageFormat, b: &[u8]) -> std::result::Result<(), String> {
    use image::ImageFormat as F;
    let cut = |what: &str| Err(format!("the file is cut short: {what}"));
    match format {
        F::Jpeg => jpeg_complete(b),
        // Chunks from the signature on: length, type, data, CRC, up to IEND.
        F::Png => {
            let mut at = 8;
            while at + 8 <= b.len() {
                let len = u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize;
                if &b[at + 4..at + 8] == b"IEND" {
                    return Ok(());
                }
                at = at.saturating_add(12).saturating_add(len);
            }
            cut("the PNG ends before its IEND chunk")
        }
        // RIFF header: bytes 4..8 say how many bytes follow the first 8.
        F::WebP if b.len() >= 12 => {
            let riff = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
            if b.len() < riff.saturating_add(8) { cut(&format!("the WebP says {} bytes, the file has {}", riff + 8, b.len())) } else { Ok(()) }
        }
        _ => Ok(()),
    }
}

/// Whether a JPEG's segments lead from its start to an end-of-image marker after at least one
/// scan. The walk follows each segment's length and, after a start-of-scan, the entropy-coded
/// data, where a 0xFF byte is followed by 0x00 (a stuffed byte), a restart marker or the next
/// marker. Bytes after the end marker (a camera's trailer, an appended video) are not looked at,
/// so a 0xFF 0xDA pair among them does not count as a scan.
fn jpeg_complete(b: &[u8]) -> std::result::Result<(), String> {
    let cut = |what: &str| Err(format!("the file is cut short: {what}"));
    let (mut at, mut scans) = (2, 0);
    loop {
        // The next marker; decoders skip stray bytes and fill bytes (0xFF runs) before one.
        match b.get(at..).and_then(|r| r.iter().position(|&x| x == 0xFF)) {
            Some(p) => at += p,
            None => return cut("the JPEG has no end-of-image marker"),
        }
        while b.get(at) == Some(&0xFF) {
            at += 1;
        }
        let Some(&marker) = b.get(at) else { return cut("the JPEG has no end-of-image marker") };
        at += 1;
        match marker {
            0xD9 if scans > 0 => return Ok(()),
            0xD9 => return cut("the JPEG has no image data (no start-of-scan marker)"),
            // Markers without a length: restarts, start-of-image, TEM, and a stray 0xFF 0x00.
            0xD0..=0xD8 | 0x01 | 0x00 => continue,
            _ => {}
        }
        let Some(len) = b.get(at..at + 2).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize) else {
            return cut("the JPEG ends inside a segment header");
        };
        at += len;
        if at > b.len() {
            return cut("the JPEG ends inside a segment");
        }
        if marker == 0xDA {
            scans += 1;
            // Entropy-coded data up to the next marker that is not a stuffed byte or a restart.
            loop {
                match b.get(at..).and_then(|r| r.iter().position(|&x| x == 0xFF)) {
                    Some(p) => at += p,
                    None => return cut("the JPEG ends inside its image data"),
                }
                match b.get(at + 1) {
                    None => return cut("the JPEG ends inside its image data"),
                    Some(0x00 | 0xD0..=0xD7) => at += 2,
                    Some(_) => break,
                }
            }
        }
    }
}

/// Crops (fractions of the image) and resizes to `w x h`, as gray (`channels` 1) or RGB (3).
pub fn prepare(img: &DynamicImage, crop: Crop, w: usize, h: usize, channels: usize) -> Vec<u8> {
    let (iw, ih) = (img.width() as f32, img.height() as f32);
    let x = (crop.left * iw).round().clamp(0.0, iw - 1.0) as u32;
    let y = (crop.top * ih).round().clamp(0.0, ih - 1.0) as u32;
    let cw = ((crop.width * iw).round() as u32).clamp(1, img.width() - x);
    let ch = ((crop.height * ih).round() as u32).clamp(1, img.height() - y);
    let cropped = img.crop_imm(x, y, cw, ch).resize_exact(w as u32, h as u32, FilterType::Triangle);
    match channels {
        1 => cropped.to_luma8().into_raw(),
        _ => cropped.to_rgb8().into_raw(),
    }
}

/// `open` then `prepare`.
pub fn load(path: &Path, crop: Crop, w: usize, h: usize, channels: usize) -> Result<Vec<u8>> {
    Ok(prepare(&open(path)?, crop, w, h, channels))
}

/// Whether a file name has an image extension this reader decodes.
pub fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["jpg", "jpeg", "png", "pgm", "ppm", "pnm", "webp"].contains(&e.to_ascii_lowercase().as_str()))
}
