//! `identify --video` and `enroll --video`: frames from a YUV4MPEG2 stream (a file or standard
//! input) or from a list of images, handed one by one to the face service's video calls.
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::data::y4m;
use crate::error::Result;
use crate::face::track::{Settings, State};
use crate::service::stream::Stream;
use crate::service::FaceService;

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
            let file = std::fs::File::open(one).map_err(|e| crate::Error::io(one, e))?;
            let mut r: Box<dyn BufRead> = Box::new(std::io::BufReader::new(file));
            let head = r.fill_buf().map_err(|e| crate::Error::io(one, e))?;
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
                Some(p) => Ok(Some(crate::data::photo::open(&p)?.to_rgb8())),
            },
        }
    }
}

/// A frame number as a time, when the rate is known.
fn when(frame: u64, fps: Option<f64>) -> String {
    match fps {
        Some(f) => format!("{:>8.2}s", frame as f64 / f),
        None => format!("frame {frame:>5}"),
    }
}

pub fn identify(service: &FaceService, paths: &[PathBuf], json: bool) -> anyhow::Result<ExitCode> {
    let mut frames = Frames::open(paths)?;
    let fps = frames.fps();
    let mut stream = Stream::new(service.faces()?, Settings::default());
    // For the readable log: each track's last state and name, to print changes only.
    let mut shown: std::collections::HashMap<u64, (State, Option<String>)> = Default::default();
    while let Some(img) = frames.next_frame()? {
        let report = stream.next(service, &img)?;
        if json {
            println!("{}", serde_json::to_string(&report)?);
            continue;
        }
        for f in &report.faces {
            let now = (f.state, f.name.clone());
            if shown.get(&f.track) != Some(&now) && f.state != State::Identifying {
                let what = match &f.name {
                    Some(n) => format!("{n} (score {})", crate::service::card::show(f.score)),
                    None => format!("unknown (best score {})", crate::service::card::show(f.score)),
                };
                println!("{}  track {}: {what}", when(report.frame, fps), f.track);
                shown.insert(f.track, now);
            }
        }
    }
    let summary = stream.summary();
    if json {
        println!("{}", serde_json::json!({ "summary": summary }));
    } else {
        println!("{} frames; who was seen:", stream.frames());
        // Tracks of a frame or two are mostly the detector's mistakes: listed only with --json.
        for s in summary.iter().filter(|s| s.last >= s.first + 2) {
            let who = s.name.as_deref().unwrap_or("unknown");
            println!("  track {}: {who}, {} to {}", s.track, when(s.first, fps).trim(), when(s.last, fps).trim());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `enroll NAME --video`: the person of the clip's one track, from its sharpest, most varied
/// frames.
pub fn enroll(service: &FaceService, name: &str, paths: &[PathBuf], add: bool) -> Result<crate::service::Enrolled> {
    let mut frames = Frames::open(paths)?;
    service.enroll_video(name, &mut || frames.next_frame(), add)
}
