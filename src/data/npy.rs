//! Reading NumPy `.npy` arrays (and `.npz` archives of them) of bytes, which is how Omniglot is
//! distributed in one file per split.
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

pub struct Array {
    pub shape: Vec<usize>,
    /// One byte per element (`|u1`, `|i1` or `|b1`), C order.
    pub data: Vec<u8>,
}

/// Reads array `name` (without `.npy`) from the `.npz` archive at `path`.
pub fn read_npz(path: &Path, name: &str) -> Result<Array> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| Error::data(path, None, format!("not an npz archive: {e}")))?;
    let mut entry = zip
        .by_name(&format!("{name}.npy"))
        .map_err(|_| Error::data(path, None, format!("archive has no array `{name}`")))?;
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut bytes).map_err(|e| Error::data(path, None, format!("array `{name}`: {e}")))?;
    parse(&bytes).map_err(|reason| Error::data(path, None, format!("array `{name}`: {reason}")))
}

/// Parses a whole `.npy` file of one-byte elements.
pub fn parse(bytes: &[u8]) -> std::result::Result<Array, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy array (bad magic)".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = bytes.get(start..start + header_len).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let descr = field(header, "descr").ok_or("header has no descr")?;
    if !["'|u1'", "'|b1'", "'|i1'"].contains(&descr) {
        return Err(format!("element type {descr}: only one-byte arrays are supported"));
    }
    if field(header, "fortran_order") != Some("False") {
        return Err("Fortran-ordered arrays are not supported".into());
    }
    let shape_text = field(header, "shape").ok_or("header has no shape")?;
    let shape = shape_text
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("bad shape {shape_text}")))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let n: usize = shape.iter().product();
    let data = bytes.get(start + header_len..).ok_or("truncated data")?;
    if data.len() != n {
        return Err(format!("shape {shape:?} needs {n} bytes, file has {}", data.len()));
    }
    Ok(Array { shape, data: data.to_vec() })
}

/// The text of `'key': value` in a .npy header dict (a tuple value runs to its `)`).
fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let rest = &header[header.find(&format!("'{key}'"))? + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') { rest.find(')')? + 1 } else { rest.find(',').unwrap_or(rest.len()) };
    Some(rest[..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut h = header.to_string();
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((h.len() as u16).to_le_bytes());
        out.extend(h.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn parses_a_bool_array() {
        let a = parse(&npy("{'descr': '|b1', 'fortran_order': False, 'shape': (2, 3), }", &[0, 255, 0, 1, 1, 0])).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vec![0, 255, 0, 1, 1, 0]);
    }

    #[test]
    fn rejects_wrong_type_and_truncation() {
        let e = parse(&npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", &[0; 4])).err().unwrap();
        assert!(e.contains("<f4"), "{e}");
        let e = parse(&npy("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", &[0; 3])).err().unwrap();
        assert!(e.contains("needs 4 bytes"), "{e}");
        assert!(parse(b"PK\x03\x04 not npy").is_err());
    }
}
