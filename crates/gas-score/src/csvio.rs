//! The predictions CSV: written by the benchmark, read back by `gascli d score`.
//!
//! Header row required. Columns (any order, names case-insensitive):
//! - `label` (required): `real|synthetic|semisynthetic` or `0|1|2`;
//! - `p_synthetic`, or `p_real` (then `p_synthetic = 1 − p_real`); when both are present
//!   `p_synthetic` is used and `p_real` must agree with it within 1e-6;
//! - `weight` (optional, ≥ 0, default 1), `dataset` (optional);
//! - `predicted` (optional, 0 or 1): the network's call for the sample; when absent or empty the
//!   call is `p_synthetic > 0.5`;
//! - anything else is ignored (`sample_id` and `probs`, the model's raw probabilities, among them).

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::{Label, Prediction, ScoreError};

/// One row of the predictions file the benchmark writes.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRow {
    pub dataset: String,
    pub sample_id: String,
    pub label: Label,
    pub p_synthetic: f64,
    pub weight: f64,
    /// The network's call (0 real, 1 synthetic), when the row comes from a model's output.
    pub predicted: Option<u8>,
    /// The raw probabilities the network records for the sample (1, 2, 3 or more values).
    pub probs: Vec<f64>,
}

fn find(headers: &csv::StringRecord, name: &str) -> Option<usize> {
    headers
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case(name))
}

/// Reads a predictions CSV. Every bad row is an error naming the line, the column and the fix.
pub fn read_predictions_csv(path: &Path) -> Result<Vec<Prediction>, ScoreError> {
    let file = File::open(path).map_err(|source| ScoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(std::io::BufReader::new(file));
    let csv_err = |e: csv::Error| ScoreError::Csv {
        path: path.to_path_buf(),
        line: e.position().map_or(0, |p| p.line()),
        message: e.to_string(),
    };
    let headers = rdr.headers().map_err(csv_err)?.clone();
    let header_err = |message: String| ScoreError::Header {
        path: path.to_path_buf(),
        message,
    };
    let label_col = find(&headers, "label").ok_or_else(|| {
        header_err(format!(
            "no `label` column in the header ({}); add one with real/synthetic/semisynthetic or 0/1",
            headers.iter().collect::<Vec<_>>().join(",")
        ))
    })?;
    let ps_col = find(&headers, "p_synthetic");
    let pr_col = find(&headers, "p_real");
    if ps_col.is_none() && pr_col.is_none() {
        return Err(header_err(
            "no `p_synthetic` (or `p_real`) column in the header; add the model's probability that each sample is synthetic".into(),
        ));
    }
    let w_col = find(&headers, "weight");
    let d_col = find(&headers, "dataset");
    let c_col = find(&headers, "predicted");

    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |p| p.line());
        let row_err = |column: &str, message: String| ScoreError::Row {
            path: path.to_path_buf(),
            line,
            column: column.to_string(),
            message,
        };
        let field = |i: usize| rec.get(i).unwrap_or("");
        let label: Label = field(label_col)
            .parse()
            .map_err(|e: crate::ParseLabelError| row_err("label", e.to_string()))?;
        let prob = |col: &str, i: usize| -> Result<f64, ScoreError> {
            let raw = field(i);
            let v: f64 = raw.parse().map_err(|_| {
                row_err(
                    col,
                    format!("`{raw}` is not a number; expected a probability in [0, 1]"),
                )
            })?;
            if !v.is_finite() || !(0.0..=1.0).contains(&v) {
                return Err(row_err(
                    col,
                    format!("{raw} is outside [0, 1]; expected a probability"),
                ));
            }
            Ok(v)
        };
        let p_syn = match (ps_col, pr_col) {
            (Some(i), Some(j)) => {
                let ps = prob("p_synthetic", i)?;
                let pr = prob("p_real", j)?;
                if (ps + pr - 1.0).abs() > 1e-6 {
                    return Err(row_err(
                        "p_real",
                        format!(
                            "p_real {pr} + p_synthetic {ps} ≠ 1; give softmax probabilities or drop one column"
                        ),
                    ));
                }
                ps
            }
            (Some(i), None) => prob("p_synthetic", i)?,
            (None, Some(j)) => 1.0 - prob("p_real", j)?,
            (None, None) => unreachable!("checked above"),
        };
        let weight = match w_col.map(field) {
            None | Some("") => 1.0,
            Some(raw) => {
                let w: f64 = raw
                    .parse()
                    .map_err(|_| row_err("weight", format!("`{raw}` is not a number")))?;
                if !w.is_finite() || w < 0.0 {
                    return Err(row_err(
                        "weight",
                        format!("{raw}: weights must be finite and ≥ 0"),
                    ));
                }
                w
            }
        };
        let dataset = d_col
            .map(field)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let predicted = match c_col.map(field) {
            None | Some("") => None,
            Some("0") => Some(0),
            Some("1") => Some(1),
            Some(raw) => {
                return Err(row_err(
                    "predicted",
                    format!("`{raw}` is not a call; expected 0 (real), 1 (synthetic) or empty"),
                ));
            }
        };
        out.push(Prediction {
            label,
            p_synthetic: p_syn,
            weight,
            dataset,
            probs: None,
            predicted,
        });
    }
    Ok(out)
}

/// The predictions CSV of `rows`, columns
/// `dataset,sample_id,label,p_synthetic,weight,predicted,probs` (`probs`: the raw probabilities,
/// space-separated). Probabilities keep full precision (`{:?}` of f64 round-trips exactly).
pub fn predictions_csv(rows: &[PredictionRow]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * (rows.len() + 1));
    // Writing into a Vec cannot fail.
    let _ = write_rows(&mut out, rows);
    out
}

fn write_rows(out: &mut impl Write, rows: &[PredictionRow]) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "dataset",
        "sample_id",
        "label",
        "p_synthetic",
        "weight",
        "predicted",
        "probs",
    ])?;
    for r in rows {
        let probs: Vec<String> = r.probs.iter().map(|p| format!("{p:?}")).collect();
        w.write_record([
            r.dataset.as_str(),
            r.sample_id.as_str(),
            r.label.as_str(),
            &format!("{:?}", r.p_synthetic),
            &format!("{:?}", r.weight),
            &r.predicted.map(|c| c.to_string()).unwrap_or_default(),
            &probs.join(" "),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// Writes [`predictions_csv`] atomically (temp file in the same directory, then rename).
pub fn write_predictions_csv(path: &Path, rows: &[PredictionRow]) -> Result<(), ScoreError> {
    let io = |source| ScoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    {
        let mut buf = std::io::BufWriter::new(tmp.as_file_mut());
        write_rows(&mut buf, rows).map_err(|e| io(std::io::Error::other(e.to_string())))?;
        buf.flush().map_err(io)?;
    }
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(s: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(s.as_bytes()).unwrap();
        f
    }

    #[test]
    fn reads_all_column_variants() {
        let f = write(
            "dataset,label,p_real,p_synthetic,weight,extra\nA,real,0.9,0.1,2,x\nB,1,0.2,0.8,,y\n",
        );
        let p = read_predictions_csv(f.path()).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].weight, 2.0);
        assert_eq!(p[1].label, Label::Synthetic);
        assert_eq!(p[1].dataset.as_deref(), Some("B"));
        let f = write("label,p_real\nsemisynthetic,0.25\n");
        let p = read_predictions_csv(f.path()).unwrap();
        assert_eq!(p[0].p_synthetic, 0.75);
    }

    #[test]
    fn bad_rows_name_the_line_and_column() {
        let f = write("label,p_synthetic\nreal,0.1\nfake,0.2\n");
        let e = read_predictions_csv(f.path()).unwrap_err().to_string();
        assert!(
            e.contains(":3:") && e.contains("label") && e.contains("fake"),
            "{e}"
        );
        let f = write("label,p_synthetic\nreal,1.5\n");
        let e = read_predictions_csv(f.path()).unwrap_err().to_string();
        assert!(
            e.contains(":2:") && e.contains("p_synthetic") && e.contains("outside"),
            "{e}"
        );
        let f = write("label,p_synthetic,weight\nreal,0.5,-1\n");
        assert!(
            read_predictions_csv(f.path())
                .unwrap_err()
                .to_string()
                .contains("weight")
        );
        let f = write("label,p_real,p_synthetic\nreal,0.5,0.6\n");
        assert!(
            read_predictions_csv(f.path())
                .unwrap_err()
                .to_string()
                .contains("≠ 1")
        );
        let f = write("lbl,p_synthetic\nreal,0.5\n");
        assert!(
            read_predictions_csv(f.path())
                .unwrap_err()
                .to_string()
                .contains("no `label` column")
        );
        let f = write("label,score\nreal,0.5\n");
        assert!(
            read_predictions_csv(f.path())
                .unwrap_err()
                .to_string()
                .contains("p_synthetic")
        );
    }

    #[test]
    fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("preds.csv");
        let rows = vec![
            PredictionRow {
                dataset: "d,1".into(),
                sample_id: "a\"b".into(),
                label: Label::Semisynthetic,
                p_synthetic: 0.1 + 0.2,
                weight: 1.0,
                predicted: Some(0),
                probs: vec![0.7, 0.1, 0.2],
            },
            PredictionRow {
                dataset: "d2".into(),
                sample_id: "x".into(),
                label: Label::Real,
                p_synthetic: 1e-9,
                weight: 0.5,
                predicted: None,
                probs: Vec::new(),
            },
        ];
        write_predictions_csv(&path, &rows).unwrap();
        let back = read_predictions_csv(&path).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].p_synthetic, 0.1 + 0.2);
        assert_eq!(back[0].dataset.as_deref(), Some("d,1"));
        assert_eq!(back[1].weight, 0.5);
        // the network's call survives (here: real although p_synthetic rounds either way)
        assert_eq!(back[0].predicted, Some(0));
        assert_eq!(back[1].predicted, None);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("0.7 0.1 0.2"), "{text}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
