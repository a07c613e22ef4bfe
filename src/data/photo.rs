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

/// Decodes `path` (format from the content, not the name), applies its EXIF orientation, and
/// refuses images over `MAX_PIXELS`; errors name the file and say what was wrong.
pub fn open(path: &Path) -> Result<DynamicImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode(&bytes).map_err(|reason| Error::data(path, None, reason))
}

/// `open` for bytes already in memory (uploads); the error is the reason alone.
pub fn decode(bytes: &[u8]) -> std::result::Result<DynamicImage, String> {
    use image::ImageDecoder;
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| e.to_string())?;
    if reader.format().is_none() {
        return Err("not an image (JPEG, PNG, PGM/PPM or WebP)".into());
    }
    let mut decoder = reader.into_decoder().map_err(|e| format!("cannot decode image: {e}"))?;
    let (w, h) = decoder.dimensions();
    if w as u64 * h as u64 > MAX_PIXELS {
        return Err(format!("image is {w}x{h} = {:.0} megapixels; the limit is {} megapixels", (w as f64 * h as f64) / 1e6, MAX_PIXELS / 1_000_000));
    }
    let orientation = decoder.orientation().map_err(|e| format!("cannot read orientation: {e}"))?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| format!("cannot decode image: {e}"))?;
    img.apply_orientation(orientation);
    Ok(img)
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
