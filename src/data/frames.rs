//! Frames of a video as the commands take them: a YUV4MPEG2 stream (a file, or standard input
//! as `-`) or a list of images taken as consecutive frames.
use std::io::BufRead;
use std::path::PathBuf;

use super::y4m;
use crate::error::{Error, Result};

/// Where frames come from.
pub enum Frames {
    Y4m(y4m::Reader<Box<dyn BufRead>>),
    Images(std::vec::IntoIter<PathBuf>),
}

impl Frames {
    /// One argument that is `-` or a Y4M file: that stream; otherwise each path is a frame.
    pub fn open(paths: &[PathBuf]) -> Result<Frames> {
        if let [one] = paths {
            if one.as_os_str() == "-" {
                let r: Box<dyn BufRead> = Box::new(std::io::BufReader::new(std::io::stdin()));
                return Ok(Frames::Y4m(y4m::Reader::new(r, "standard input")?));
            }
            let file = std::fs::File::open(one).map_err(|e| Error::io(one, e))?;
            let mut r: Box<dyn BufRead> = Box::new(std::io::BufReader::new(file));
            let head = r.fill_buf().map_err(|e| Error::io(one, e))?;
            if head.starts_with(b"YUV4MPEG2") {
                return Ok(Frames::Y4m(y4m::Reader::new(r, &one.display().to_string())?));
            }
        }
        Ok(Frames::Images(paths.to_vec().into_iter()))
    }

    /// Frames per second, when the stream says.
    pub fn fps(&self) -> Option<f64> {
        match self {
            Frames::Y4m(r) => r.fps().filter(|f| f.1 > 0 && f.0 > 0).map(|(n, d)| n as f64 / d as f64),
            Frames::Images(_) => None,
        }
    }

    /// The next frame; `None` at the end.
    pub fn next_frame(&mut self) -> Result<Option<image::RgbImage>> {
        match self {
            Frames::Y4m(r) => r.next_frame(),
            Frames::Images(paths) => match paths.next() {
                None => Ok(None),
                Some(p) => Ok(Some(super::photo::open(&p)?.to_rgb8())),
            },
        }
    }
}
