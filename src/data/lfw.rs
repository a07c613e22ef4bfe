//! Labeled Faces in the Wild in its distributed layout: `NAME/NAME_NNNN.jpg` images and the
//! protocol files (`pairs.txt`, `pairsDevTrain.txt`, `pairsDevTest.txt`, `people*.txt`), parsed
//! strictly: a malformed line is an error that names the file and the line.
use std::path::{Path, PathBuf};

use std::collections::HashMap;

use super::imageset::{Class, ImageSet};
use super::photo::{self, Crop};
use crate::error::{Error, Result};

/// One image: a person and the 1-based image number.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Face {
    pub name: String,
    pub number: usize,
}

impl Face {
    /// `root/NAME/NAME_NNNN.jpg`.
    pub fn path(&self, root: &Path) -> PathBuf {
        root.join(&self.name).join(format!("{}_{:04}.jpg", self.name, self.number))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    pub a: Face,
    pub b: Face,
    pub same: bool,
}

/// The pairs of a protocol file, split into its folds (View 1 files have one fold).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pairs {
    pub folds: Vec<Vec<Pair>>,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

fn number(path: &Path, line: usize, s: &str, what: &str) -> Result<usize> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 || what == "count" => Ok(n),
        _ => Err(Error::data(path, Some(line), format!("{what} `{s}` is not a positive number"))),
    }
}

impl Pairs {
    /// Parses `pairs.txt` (first line `FOLDS N`) or a View 1 file (first line `N`): each fold is
    /// N same pairs (`name n1 n2`) then N different pairs (`name1 n1 name2 n2`).
    pub fn parse(path: &Path) -> Result<Self> {
        let text = read(path)?;
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).filter(|(_, l)| !l.trim().is_empty());
        let (hn, header) = lines.next().ok_or_else(|| Error::data(path, Some(1), "empty file"))?;
        let h: Vec<&str> = header.split_whitespace().collect();
        let (folds, n) = match h[..] {
            [n] => (1, number(path, hn, n, "pair count")?),
            [f, n] => (number(path, hn, f, "fold count")?, number(path, hn, n, "pair count")?),
            _ => return Err(Error::data(path, Some(hn), format!("header `{header}`: expected `FOLDS N` or `N`"))),
        };
        let mut out = Vec::with_capacity(folds);
        for fold in 0..folds {
            let mut pairs = Vec::with_capacity(2 * n);
            for k in 0..2 * n {
                let same = k < n;
                let (ln, line) = lines.next().ok_or_else(|| {
                    Error::data(path, None, format!("ends early: fold {} needs {n} same and {n} different pairs", fold + 1))
                })?;
                let f: Vec<&str> = line.split_whitespace().collect();
                let pair = match (same, &f[..]) {
                    (true, [name, a, b]) => Pair {
                        a: Face { name: name.to_string(), number: number(path, ln, a, "image number")? },
                        b: Face { name: name.to_string(), number: number(path, ln, b, "image number")? },
                        same: true,
                    },
                    (false, [n1, a, n2, b]) => Pair {
                        a: Face { name: n1.to_string(), number: number(path, ln, a, "image number")? },
                        b: Face { name: n2.to_string(), number: number(path, ln, b, "image number")? },
                        same: false,
                    },
                    _ => {
                        let want = if same { "a same pair `name n1 n2`" } else { "a different pair `name1 n1 name2 n2`" };
                        return Err(Error::data(path, Some(ln), format!("expected {want}, found `{line}`")));
                    }
                };
                pairs.push(pair);
            }
            out.push(pairs);
        }
        if let Some((ln, line)) = lines.next() {
            return Err(Error::data(path, Some(ln), format!("unexpected line after the last fold: `{line}`")));
        }
        Ok(Pairs { folds: out })
    }
}

/// The identities of a `people*.txt` file, by fold: `(name, image count)`.
pub fn people(path: &Path) -> Result<Vec<Vec<(String, usize)>>> {
    let text = read(path)?;
    let rows: Vec<(usize, Vec<&str>)> =
        text.lines().enumerate().map(|(i, l)| (i + 1, l.split_whitespace().collect::<Vec<_>>())).filter(|(_, f)| !f.is_empty()).collect();
    let mut it = rows.into_iter().peekable();
    let (hn, header) = it.next().ok_or_else(|| Error::data(path, Some(1), "empty file"))?;
    let first = header.first().copied().unwrap_or_default();
    let first_n = number(path, hn, first, "count")?;
    // people.txt starts with the fold count, then each fold's size; View 1 files start with the
    // single list's size. A file is the first kind when its second row is a bare number too.
    let folded = it.peek().is_some_and(|(_, f)| f.len() == 1);
    let fold_count = if folded { first_n } else { 1 };
    let mut out = Vec::with_capacity(fold_count);
    for fold in 0..fold_count {
        let size = if folded {
            let (ln, f) = it.next().ok_or_else(|| Error::data(path, None, format!("ends before fold {}", fold + 1)))?;
            if f.len() != 1 {
                return Err(Error::data(path, Some(ln), format!("expected the size of fold {}, found `{}`", fold + 1, f.join(" "))));
            }
            number(path, ln, f[0], "count")?
        } else {
            first_n
        };
        let mut names = Vec::with_capacity(size);
        for _ in 0..size {
            let (ln, f) = it.next().ok_or_else(|| Error::data(path, None, format!("fold {} ends early", fold + 1)))?;
            match f[..] {
                [name, n] => names.push((name.to_string(), number(path, ln, n, "image count")?)),
                _ => return Err(Error::data(path, Some(ln), format!("expected `name count`, found `{}`", f.join(" ")))),
            }
        }
        out.push(names);
    }
    if let Some((ln, f)) = it.next() {
        return Err(Error::data(path, Some(ln), format!("unexpected line `{}`", f.join(" "))));
    }
    Ok(out)
}

/// The part of a deep-funneled 250x250 image that is face: the aligned face sits in the middle,
/// and its central half (125x125) holds eyes to chin with little background.
pub const FACE_CROP: Crop = Crop::center(0.5);

/// Loads the given faces into an image set (one class per person, in order of first appearance),
/// returning the set and each face's image index.
pub fn load_faces(root: &Path, faces: &[Face], crop: Crop, w: usize, h: usize, channels: usize) -> Result<(ImageSet, Vec<usize>)> {
    let mut set = ImageSet::new(h, w, channels);
    let g = set.group("lfw");
    let mut seen: HashMap<&Face, usize> = HashMap::new();
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    let mut index = Vec::with_capacity(faces.len());
    for f in faces {
        if let Some(&i) = seen.get(f) {
            index.push(i);
            continue;
        }
        let i = set.push_image(&photo::load(&f.path(root), crop, w, h, channels)?)?;
        let c = *by_name.entry(f.name.as_str()).or_insert_with(|| {
            set.classes.push(Class { name: f.name.clone(), group: g, items: Vec::new() });
            set.classes.len() - 1
        });
        set.classes[c].items.push(i);
        seen.insert(f, i);
        index.push(i);
    }
    Ok((set, index))
}

/// Every image of the listed people (`name`, image count), e.g. one fold of `people.txt`.
pub fn people_faces(people: &[(String, usize)]) -> Vec<Face> {
    people.iter().flat_map(|(name, n)| (1..=*n).map(move |k| Face { name: name.clone(), number: k })).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("siamface-lfw-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn parses_folds_of_same_then_different() {
        let p = file("ok.txt", "2\t1\nA\t1\t2\nB\t1\tC\t3\nD\t2\t4\nE\t1\tF\t1\n");
        let pairs = Pairs::parse(&p).unwrap();
        assert_eq!(pairs.folds.len(), 2);
        assert_eq!(pairs.folds[1][0], Pair { a: Face { name: "D".into(), number: 2 }, b: Face { name: "D".into(), number: 4 }, same: true });
        assert!(!pairs.folds[1][1].same);
        assert_eq!(Face { name: "A_B".into(), number: 7 }.path(Path::new("/r")), PathBuf::from("/r/A_B/A_B_0007.jpg"));
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let p = file("bad.txt", "1\t1\nA\t1\t2\nB\t1\tC\n");
        let err = Pairs::parse(&p).unwrap_err().to_string();
        assert!(err.contains("bad.txt:3") && err.contains("different pair"), "{err}");
        let p = file("bad2.txt", "1\t1\nA\tone\t2\nB\t1\tC\t2\n");
        let err = Pairs::parse(&p).unwrap_err().to_string();
        assert!(err.contains("bad2.txt:2") && err.contains("`one`"), "{err}");
        let p = file("short.txt", "1\t2\nA\t1\t2\n");
        assert!(Pairs::parse(&p).unwrap_err().to_string().contains("ends early"));
        let p = file("long.txt", "1\nA\t1\t2\nB\t1\tC\t2\nextra\n");
        assert!(Pairs::parse(&p).unwrap_err().to_string().contains("long.txt:4"));
    }

    #[test]
    fn people_files_with_and_without_folds() {
        let p = file("people.txt", "2\n1\nA\t3\n2\nB\t1\nC\t2\n");
        assert_eq!(people(&p).unwrap(), vec![vec![("A".into(), 3)], vec![("B".into(), 1), ("C".into(), 2)]]);
        let p = file("dev.txt", "2\nA\t3\nB\t1\n");
        assert_eq!(people(&p).unwrap(), vec![vec![("A".into(), 3), ("B".into(), 1)]]);
        let p = file("badpeople.txt", "2\nA\t3\nB\n");
        assert!(people(&p).unwrap_err().to_string().contains("badpeople.txt:3"));
    }
}
