//! NumPy `.npy` (format version 1.0) for the tensors this crate produces: `u8` and
//! little-endian `f32`, C order.
//!
//! Hand-written on purpose: the format is a 10-byte preamble plus a Python-literal header
//! dict; the crates that implement it (`npyz`, `ndarray-npy`) bring generic machinery we do
//! not need. The reader accepts only what we write (`|u1` / `<f4`, C order, versions 1–3).

use std::io::Write;
use std::path::Path;

use crate::MediaError;

/// A tensor read back from a `.npy` file.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

/// Shape + data of a `.npy` file.
#[derive(Clone, Debug, PartialEq)]
pub struct Npy {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

fn header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    // Preamble (10 bytes) + dict + '\n' padded with spaces to a multiple of 64.
    let total = (10 + dict.len() + 1).div_ceil(64) * 64;
    while 10 + dict.len() + 1 < total {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

fn io_err(path: &Path, e: std::io::Error) -> MediaError {
    MediaError::Io {
        what: format!("writing {}", path.display()),
        source: e,
    }
}

fn write_atomic(path: &Path, head: &[u8], body: &[u8]) -> Result<(), MediaError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io_err(path, e))?;
    tmp.write_all(head).map_err(|e| io_err(path, e))?;
    tmp.write_all(body).map_err(|e| io_err(path, e))?;
    tmp.as_file().sync_all().map_err(|e| io_err(path, e))?;
    tmp.persist(path).map_err(|e| io_err(path, e.error))?;
    Ok(())
}

fn check_len(shape: &[usize], len: usize) -> Result<(), MediaError> {
    let n: usize = shape.iter().product();
    if n != len {
        return Err(MediaError::Npy {
            what: "(writing)".into(),
            message: format!("shape {shape:?} holds {n} values but {len} were given"),
        });
    }
    Ok(())
}

/// Write a `u8` tensor atomically (temp file in the same directory, then rename).
pub fn write_u8(path: &Path, shape: &[usize], data: &[u8]) -> Result<(), MediaError> {
    check_len(shape, data.len())?;
    write_atomic(path, &header("|u1", shape), data)
}

/// Write an `f32` tensor (little-endian) atomically.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<(), MediaError> {
    check_len(shape, data.len())?;
    let body: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_atomic(path, &header("<f4", shape), &body)
}

/// Read a `.npy` file written by this module (or NumPy, for `|u1` / `<f4` C-order arrays).
pub fn read(path: &Path) -> Result<Npy, MediaError> {
    let bytes = std::fs::read(path).map_err(|e| MediaError::Io {
        what: format!("reading {}", path.display()),
        source: e,
    })?;
    parse(&bytes).map_err(|message| MediaError::Npy {
        what: path.display().to_string(),
        message,
    })
}

/// Parse `.npy` bytes.
pub fn parse(bytes: &[u8]) -> Result<Npy, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (missing \\x93NUMPY magic)".into());
    }
    let (hlen, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let end = start
        .checked_add(hlen)
        .filter(|&e| e <= bytes.len())
        .ok_or("header length runs past the end of the file")?;
    let head = std::str::from_utf8(&bytes[start..end]).map_err(|_| "header is not text")?;
    let field = |key: &str| -> Option<&str> {
        let i = head.find(&format!("'{key}':"))? + key.len() + 3;
        Some(head[i..].trim_start())
    };
    let descr = field("descr").ok_or("header has no 'descr'")?;
    let descr = descr.split('\'').nth(1).ok_or("bad 'descr'")?;
    if !field("fortran_order")
        .ok_or("header has no 'fortran_order'")?
        .starts_with("False")
    {
        return Err("Fortran-order arrays are not supported".into());
    }
    let shape_s = field("shape").ok_or("header has no 'shape'")?;
    let close = shape_s.find(')').ok_or("bad 'shape'")?;
    let shape: Vec<usize> = shape_s[1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad shape entry {s:?}"))
        })
        .collect::<Result<_, _>>()?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("shape overflows")?;
    let body = &bytes[end..];
    let data = match descr {
        "|u1" | "u1" => {
            if body.len() != n {
                return Err(format!("expected {n} bytes of data, found {}", body.len()));
            }
            NpyData::U8(body.to_vec())
        }
        "<f4" => {
            if Some(body.len()) != n.checked_mul(4) {
                return Err(format!(
                    "expected {n} f32 values, found {} bytes",
                    body.len()
                ));
            }
            NpyData::F32(
                body.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            )
        }
        other => return Err(format!("unsupported dtype {other:?} (only |u1 and <f4)")),
    };
    Ok(Npy { shape, data })
}
