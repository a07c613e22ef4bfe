//! The service's calls on files named on the command line: photos read from disk, and a clip's
//! frames from a file or a pipe. The HTTP API makes the same calls on the bytes it was sent; here
//! a file that cannot be used is answered with its name, and one photo of many failing does not
//! stop `identify` from answering the others.
use std::fmt::{self, Display, Formatter};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::stream::Stream;
use super::{Comparison, Enrolled, FaceService, Log, Named, Photo};
use crate::data::frames::Frames;
use crate::error::{Error, Result};
use crate::face::track::Settings;

/// `identify` of one photo file: its faces, or why it could not be read or searched.
#[derive(Clone, Debug, Serialize)]
pub struct FileFaces {
    #[serde(flatten)]
    pub answer: Answer,
    pub file: String,
}

/// A file's faces, or its error as text (`{"faces": [...]}` or `{"error": "..."}` in JSON).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Answer {
    Error(String),
    Faces(Vec<Named>),
}

impl FileFaces {
    pub fn failed(&self) -> bool {
        matches!(self.answer, Answer::Error(_))
    }
}

/// One line per face, each starting with the file; or the error.
impl Display for FileFaces {
    fn fmt(&self, f: &mut Formatter) -> fmt::Result {
        match &self.answer {
            Answer::Error(e) => writeln!(f, "error: {e}"),
            Answer::Faces(faces) if faces.is_empty() => writeln!(f, "{}: no face found", self.file),
            Answer::Faces(faces) => faces.iter().try_for_each(|x| writeln!(f, "{}: {x}", self.file)),
        }
    }
}

impl Enrolled {
    /// What a person should know beside the answer: photos with several faces.
    pub fn notes(&self) -> impl Iterator<Item = String> + '_ {
        self.crowded.iter().map(|(file, n)| format!("note: {file}: {n} faces found; enrolled the largest"))
    }
}

impl Comparison {
    /// What a person should know beside the answer: photos with several faces.
    pub fn notes(&self) -> impl Iterator<Item = String> + '_ {
        [&self.a, &self.b].into_iter().filter(|s| s.faces > 1).map(|s| format!("note: {}: {} faces found; using the largest", s.file, s.faces))
    }
}

impl FaceService {
    /// `enroll` from files: photos, or with `video` a clip of the person (a Y4M file, `-` for
    /// standard input, or images taken as consecutive frames).
    pub fn enroll_files(&self, name: &str, paths: &[PathBuf], video: bool, add: bool) -> Result<Enrolled> {
        if video {
            let mut frames = Frames::open(paths)?;
            return self.enroll_video(name, &mut || frames.next_frame(), add);
        }
        let photos = paths.iter().map(|p| Photo::read(p)).collect::<Result<Vec<_>>>()?;
        self.enroll(name, &photos, add)
    }

    /// `identify` of the photo at `path`, answered with its file name.
    pub fn identify_file(&self, path: &Path, threshold: Option<f32>) -> FileFaces {
        let faces = Photo::read(path).and_then(|photo| self.identify(&photo, threshold, false));
        let answer = faces.map_or_else(|e| Answer::Error(e.to_string()), Answer::Faces);
        FileFaces { answer, file: path.display().to_string() }
    }

    /// `identify --video`: follows the faces of a clip's frames (as `Frames::open` takes them)
    /// and hands `out` each frame's answer as a line of JSON and then the summary's, or (without
    /// `json`) the lines of the readable track log (`Log`).
    pub fn follow(&self, paths: &[PathBuf], json: bool, out: &mut dyn FnMut(&str)) -> Result<()> {
        let mut frames = Frames::open(paths)?;
        let mut log = Log::new(frames.fps());
        let mut stream = Stream::new(self.faces()?, Settings::default());
        while let Some(img) = frames.next_frame()? {
            let report = stream.next(self, &img)?;
            out(&if json { json_line(&report)? } else { log.frame(&report) });
        }
        let summary = stream.summary();
        out(&if json { json_line(&serde_json::json!({ "summary": summary }))? } else { log.summary(stream.frames(), &summary) });
        Ok(())
    }
}

/// `v` as one line of JSON.
fn json_line<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map(|s| s + "\n").map_err(|e| Error::Internal(format!("writing JSON: {e}")))
}
