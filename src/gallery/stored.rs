//! What a stored image must be for the program to use it: its crop a PNG of the canonical face
//! frame (`face::CANONICAL_SIZE` square, as enrolment writes it) of at most `MAX_CROP_BYTES`,
//! decoded under an upload's allocation limit; its embedding finite numbers, as many as the
//! gallery's other embeddings have. Rows the program writes always are. Rows from elsewhere (an
//! exported folder, a file edited or damaged behind the program's back) are checked here when
//! they come in (`archive::import`), when a crop is read back to be embedded again
//! (`Store::crop`), and by `gallery check` (`Gallery::problems`): a 40000000x1 "crop" would
//! otherwise be decoded and resized with no bound, and a 3-value embedding compared with
//! 128-value queries.
use image::RgbImage;

use crate::data::photo;
use crate::face::CANONICAL_SIZE;

/// Largest stored crop accepted, in bytes. A 250x250 RGB PNG that does not compress at all is
/// about 190 KB (a filter byte and 750 bytes per row, and the chunks' framing).
pub const MAX_CROP_BYTES: usize = 1 << 20;

/// Most values an embedding may have (the models here make 128 to 4,096).
pub const MAX_DIM: usize = 1 << 16;

/// The crop decoded, or why it is not one the program stores.
pub fn crop(png: &[u8]) -> Result<RgbImage, String> {
    crop_size(png)?;
    photo::decode_crop(png, CANONICAL_SIZE)
}

/// The checks of `crop` that need no decoding: the length, the format and the dimensions its
/// header declares.
pub fn crop_header(png: &[u8]) -> Result<(), String> {
    crop_size(png)?;
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(png), image::ImageFormat::Png);
    reader.limits(photo::limits());
    match reader.into_dimensions() {
        Ok((w, h)) if (w, h) == (CANONICAL_SIZE, CANONICAL_SIZE) => Ok(()),
        Ok((w, h)) => Err(format!("{w}x{h} pixels; stored crops are {CANONICAL_SIZE}x{CANONICAL_SIZE}")),
        Err(e) => Err(format!("not a PNG: {e}")),
    }
}

fn crop_size(png: &[u8]) -> Result<(), String> {
    if png.len() > MAX_CROP_BYTES {
        return Err(format!("{} bytes; a stored crop is at most {MAX_CROP_BYTES}", png.len()));
    }
    Ok(())
}

/// An embedding as stored (little-endian f32s), checked: a whole number of values, at least one
/// and at most `MAX_DIM`, `dim` of them when the gallery's length is known, all finite.
pub fn embedding(blob: &[u8], dim: Option<usize>) -> Result<Vec<f32>, String> {
    if blob.len() % 4 != 0 {
        return Err(format!("the embedding is {} bytes, not a whole number of 4-byte values", blob.len()));
    }
    let v = super::from_blob(blob);
    values(&v, dim)?;
    Ok(v)
}

/// `embedding`'s checks of values already read.
pub fn values(v: &[f32], dim: Option<usize>) -> Result<(), String> {
    if v.is_empty() || v.len() > MAX_DIM {
        return Err(format!("the embedding has {} values; 1 to {MAX_DIM} are possible", v.len()));
    }
    if let Some(d) = dim.filter(|&d| d != v.len()) {
        return Err(format!("the embedding has {} values; the gallery's have {d}", v.len()));
    }
    if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(format!("value {i} of the embedding is {x}, not a finite number"));
    }
    // No model here makes these (Koch's embeddings are sigmoids in [0, 1], the ResNet's are near
    // unit length), and a gallery row of them would never match anyone or would swamp every
    // distance it enters: an embedding written by hand or by something else.
    if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| x.abs() > MAX_ABS) {
        return Err(format!("value {i} of the embedding is {x}; embeddings stay within +-{MAX_ABS}"));
    }
    if v.iter().all(|x| *x == 0.0) {
        return Err("every value of the embedding is 0: it points nowhere".into());
    }
    Ok(())
}

/// The largest magnitude a stored embedding value may have.
const MAX_ABS: f32 = 1e4;

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        image::DynamicImage::ImageRgb8(RgbImage::new(w, h)).write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn embeddings_that_no_model_makes_are_refused() {
        assert!(values(&[0.0, 0.0, 0.0], None).unwrap_err().contains("every value"));
        assert!(values(&[0.1, 1e38, 0.2], None).unwrap_err().contains("value 1"));
        assert!(values(&[-2e4, 0.0], None).unwrap_err().contains("+-"));
        values(&[0.0, 0.5, -0.3], None).unwrap();
        values(&[1e4, -1e4], None).unwrap();
    }

    #[test]
    fn crops_of_another_size_or_format_are_refused_before_decoding() {
        let side = CANONICAL_SIZE;
        assert_eq!(crop(&png(side, side)).unwrap().dimensions(), (side, side));
        crop_header(&png(side, side)).unwrap();
        for (w, h) in [(side + 1, side), (side, 1), (1, 1)] {
            let e = crop(&png(w, h)).unwrap_err();
            assert!(e.contains(&format!("{w}x{h} pixels")), "{e}");
            assert!(crop_header(&png(w, h)).unwrap_err().contains("pixels"));
        }
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageRgb8(RgbImage::new(side, side)).write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
        assert!(crop(&jpeg).unwrap_err().contains("stored crops are PNG"));
        assert!(crop_header(&jpeg).is_err());
        assert!(crop(&vec![0u8; MAX_CROP_BYTES + 1]).unwrap_err().contains("at most"));
    }

    #[test]
    fn embeddings_must_be_whole_finite_and_of_the_gallerys_length() {
        let blob = |v: &[f32]| super::super::to_blob(v);
        assert_eq!(embedding(&blob(&[0.5, -1.0, 2.0]), Some(3)).unwrap(), vec![0.5, -1.0, 2.0]);
        assert_eq!(embedding(&blob(&[0.5, -1.0, 2.0]), None).unwrap().len(), 3);
        for (b, dim, why) in [
            (blob(&[0.5, -1.0, 2.0]), Some(128), "the gallery's have 128"),
            (blob(&[0.5, f32::INFINITY]), None, "value 1 of the embedding is inf"),
            (blob(&[f32::NAN]), None, "value 0 of the embedding is NaN"),
            (Vec::new(), None, "0 values"),
            (vec![0u8; 7], None, "7 bytes"),
        ] {
            let e = embedding(&b, dim).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }
}
