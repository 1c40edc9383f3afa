//! Header-only safetensors checks: the 8-byte length, the JSON header, dtypes, shapes and
//! offsets, checked against the total size of the file (or ZIP entry) without reading the data.

use safetensors::tensor::{Dtype, TensorInfo};
use serde::de::{Deserializer, MapAccess, Visitor};
use std::collections::BTreeSet;
use std::fmt;
use std::io::Read;

/// Largest JSON header accepted (the safetensors crate uses the same 100 MB cap).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// What the header says about the tensors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TensorStats {
    pub tensors: u64,
    pub parameters: u64,
    pub dtypes: Vec<String>,
}

/// Entries of the header in file order, keeping duplicates (serde maps would drop them).
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object mapping tensor names to {dtype, shape, data_offsets}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Entries, A::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = m.next_entry::<String, serde_json::Value>()? {
                    v.push((k, val));
                }
                Ok(Entries(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// Check a safetensors stream whose total length is `total_len` bytes. Reads only the first
/// `8 + N` bytes. Returns the stats or a list of human-readable problems.
pub fn check_reader<R: Read>(mut r: R, total_len: u64) -> Result<TensorStats, Vec<String>> {
    if total_len < 8 {
        return Err(vec![format!(
            "file is {total_len} bytes, shorter than the 8-byte header length; re-save it with safetensors.torch.save_file"
        )]);
    }
    let mut len_buf = [0u8; 8];
    r.read_exact(&mut len_buf)
        .map_err(|e| vec![format!("cannot read the header length: {e}")])?;
    let n = u64::from_le_bytes(len_buf);
    if n > MAX_HEADER_BYTES {
        return Err(vec![format!(
            "header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit; this is not a safetensors file (re-save with safetensors.torch.save_file)"
        )]);
    }
    if n > total_len - 8 {
        return Err(vec![format!(
            "header length {n} runs past the end of the {total_len}-byte file; the file is truncated or not safetensors"
        )]);
    }
    let mut header = Vec::with_capacity(n as usize);
    (&mut r)
        .take(n)
        .read_to_end(&mut header)
        .map_err(|e| vec![format!("cannot read the {n}-byte header: {e}")])?;
    if header.len() as u64 != n {
        return Err(vec![format!(
            "header is truncated ({} of {n} bytes)",
            header.len()
        )]);
    }
    let text = std::str::from_utf8(&header)
        .map_err(|e| vec![format!("header is not UTF-8 ({e}); the file is corrupt")])?;
    let entries: Entries = serde_json::from_str(text.trim_end_matches(' '))
        .map_err(|e| vec![format!("header is not a valid JSON object: {e}")])?;
    check_entries(entries.0, total_len - 8 - n)
}

fn check_entries(
    entries: Vec<(String, serde_json::Value)>,
    data_len: u64,
) -> Result<TensorStats, Vec<String>> {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    let mut dtypes = BTreeSet::new();
    let mut ranges: Vec<(u64, u64, String)> = Vec::new();
    let mut params: u64 = 0;
    for (name, value) in entries {
        if !seen.insert(name.clone()) {
            problems.push(format!("tensor name {name:?} appears twice in the header"));
            continue;
        }
        if name == "__metadata__" {
            let ok = value
                .as_object()
                .is_some_and(|m| m.values().all(|v| v.is_string()));
            if !ok {
                problems.push("`__metadata__` must map strings to strings".into());
            }
            continue;
        }
        let info: TensorInfo = match serde_json::from_value(value) {
            Ok(i) => i,
            Err(e) => {
                problems.push(format!(
                    "tensor {name:?}: bad entry ({e}); expected {{dtype, shape, data_offsets}} with a known dtype"
                ));
                continue;
            }
        };
        let numel = info
            .shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
        let bits = info.dtype.bitsize() as u64;
        let expected = numel
            .and_then(|n| n.checked_mul(bits))
            .map(|b| b.div_ceil(8));
        let (b, e) = (info.data_offsets.0 as u64, info.data_offsets.1 as u64);
        match expected {
            None => problems.push(format!("tensor {name:?}: shape {:?} overflows", info.shape)),
            Some(len) => {
                if e < b || e - b != len {
                    problems.push(format!(
                        "tensor {name:?}: data_offsets [{b}, {e}] hold {} bytes but {:?} × {:?} needs {len}",
                        e.saturating_sub(b), info.shape, info.dtype
                    ));
                } else if e > data_len {
                    problems.push(format!(
                        "tensor {name:?}: data_offsets end {e} is past the {data_len}-byte data section (file truncated?)"
                    ));
                } else {
                    params = params.saturating_add(numel.unwrap_or(0));
                    ranges.push((b, e, name.clone()));
                }
            }
        }
        dtypes.insert(dtype_name(info.dtype));
    }
    ranges.sort();
    let mut pos = 0u64;
    for (b, e, name) in &ranges {
        if *b < pos {
            problems.push(format!(
                "tensor {name:?} overlaps the previous tensor's bytes"
            ));
        } else if *b > pos {
            problems.push(format!(
                "{} unused bytes before tensor {name:?} (gap in the data section)",
                b - pos
            ));
        }
        pos = pos.max(*e);
    }
    if problems.is_empty() && pos != data_len {
        problems.push(format!(
            "the data section is {data_len} bytes but tensors cover only {pos}; trailing bytes are not allowed"
        ));
    }
    if problems.is_empty() {
        Ok(TensorStats {
            tensors: ranges.len() as u64,
            parameters: params,
            dtypes: dtypes.into_iter().collect(),
        })
    } else {
        Err(problems)
    }
}

fn dtype_name(d: Dtype) -> String {
    format!("{d:?}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Build a safetensors file by hand: `(name, dtype, shape)`; data is zero-filled.
    pub fn build(tensors: &[(&str, &str, &[usize])]) -> Vec<u8> {
        let mut header = serde_json::Map::new();
        let mut off = 0usize;
        for (name, dtype, shape) in tensors {
            let size = match *dtype {
                "F32" | "I32" => 4,
                "F16" | "BF16" => 2,
                "F64" | "I64" => 8,
                _ => 1,
            };
            let len = shape.iter().product::<usize>() * size;
            header.insert(
                name.to_string(),
                serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [off, off + len]}),
            );
            off += len;
        }
        let h = serde_json::to_vec(&header).unwrap();
        let mut out = (h.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&h);
        out.resize(out.len() + off, 0);
        out
    }

    fn check(bytes: &[u8]) -> Result<TensorStats, Vec<String>> {
        check_reader(bytes, bytes.len() as u64)
    }

    #[test]
    fn good_file() {
        let f = build(&[("w", "F32", &[2, 3]), ("b", "F16", &[2])]);
        let s = check(&f).unwrap();
        assert_eq!(s.tensors, 2);
        assert_eq!(s.parameters, 8);
        assert_eq!(s.dtypes, vec!["F16".to_string(), "F32".to_string()]);
    }

    #[test]
    fn truncated_data_is_refused() {
        let f = build(&[("w", "F32", &[4])]);
        let err = check(&f[..f.len() - 1]).unwrap_err();
        assert!(err[0].contains("past"), "{err:?}");
    }

    #[test]
    fn trailing_bytes_and_gaps_are_refused() {
        let mut f = build(&[("w", "F32", &[4])]);
        f.push(0);
        assert!(check(&f).unwrap_err()[0].contains("trailing"));
        let hdr = br#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}"#;
        let mut g = (hdr.len() as u64).to_le_bytes().to_vec();
        g.extend_from_slice(hdr);
        g.extend_from_slice(&[0; 4]);
        assert!(check(&g).unwrap_err()[0].contains("gap"));
    }

    #[test]
    fn wrong_size_duplicate_and_unknown_dtype() {
        let hdr = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]},"a":{"dtype":"U8","shape":[1],"data_offsets":[4,5]},"c":{"dtype":"Q7","shape":[1],"data_offsets":[5,6]}}"#;
        let mut g = (hdr.len() as u64).to_le_bytes().to_vec();
        g.extend_from_slice(hdr);
        g.extend_from_slice(&[0; 6]);
        let err = check(&g).unwrap_err();
        assert!(err.iter().any(|e| e.contains("needs 8")), "{err:?}");
        assert!(err.iter().any(|e| e.contains("twice")), "{err:?}");
        assert!(err.iter().any(|e| e.contains("\"c\"")), "{err:?}");
    }

    #[test]
    fn absurd_header_length() {
        let mut g = u64::MAX.to_le_bytes().to_vec();
        g.extend_from_slice(b"{}");
        assert!(check(&g).unwrap_err()[0].contains("limit"));
        assert!(check(b"abc").is_err());
        let mut h = 50u64.to_le_bytes().to_vec();
        h.extend_from_slice(b"{}");
        assert!(check(&h).unwrap_err()[0].contains("past the end"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = check(&bytes);
        }
        #[test]
        fn never_panics_with_plausible_header(body in "\\PC{0,200}", extra in 0usize..64) {
            let mut g = (body.len() as u64).to_le_bytes().to_vec();
            g.extend_from_slice(body.as_bytes());
            g.resize(g.len() + extra, 0);
            let _ = check(&g);
        }
    }
}
