//! Tests of `y4m`, kept apart so the module itself stays readable.
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
