//! HTML report: structure, charts, worst-mistakes table, escaping, offline-only resources.

use gas_bench::report::{ReportRow, WORST_ROWS, render_html};
use gas_score::Label;
use serde_json::json;

/// Checks that every non-void element we open is closed in order (a small structural parser for
/// the subset of HTML the report emits).
fn assert_balanced(html: &str) {
    let void = ["meta", "br", "line", "circle", "polyline", "!doctype"];
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').expect("unterminated tag");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .unwrap_or_else(|| panic!("</{name}> without opening tag"));
            assert_eq!(open, name.trim(), "mismatched closing tag");
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/')
            .collect::<String>()
            .to_ascii_lowercase();
        if tag.ends_with('/') || void.contains(&name.as_str()) {
            continue;
        }
        stack.push(name);
    }
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
}

fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let rest = &html[start..];
    let end = rest
        .find("</table>")
        .or_else(|| rest.find("</svg>"))
        .unwrap();
    &rest[..end]
}

fn fixture() -> (serde_json::Value, Vec<ReportRow>) {
    let results = json!({
        "schema_version": 1,
        "tool_version": "0.1.0",
        "finished_at": "2026-11-25T06:00:00Z",
        "model": {"name": "detector-x", "version": "1.2", "modality": "image", "sha256": "ab".repeat(32)},
        "mode": "small",
        "seed": 42,
        "overall": {"n": 40, "accuracy": 0.875, "mcc": 0.75, "brier": 0.1, "cross_entropy": 0.3, "sn34_score": 0.8123},
        "per_dataset": [
            {"name": "faces/real", "media_type": "real", "n": 20, "n_failed": 1, "accuracy": 0.9, "mcc": 0.0, "brier": 0.08},
            {"name": "<script>alert(1)</script>", "media_type": "synthetic", "n": 20, "n_failed": 0, "accuracy": 0.85}
        ],
        "timing": {"decode_ms_per_sample": 1.5, "samples_per_s": 120.0},
        "errors": {"counts": {"unreadable_media": 1}, "examples": ["faces/real: x.png <bad>"]}
    });
    let mut rows = Vec::new();
    for i in 0..20 {
        rows.push(ReportRow {
            dataset: "faces/real".into(),
            id: format!("r{i}.png"),
            label: Label::Real,
            p_synthetic: i as f64 / 40.0, // 0 .. 0.475: all correct
        });
    }
    for i in 0..20 {
        rows.push(ReportRow {
            dataset: "<script>alert(1)</script>".into(),
            id: format!("s{i}\"<img src=x>.png"),
            label: Label::Synthetic,
            p_synthetic: i as f64 / 20.0, // 0 .. 0.95: the first 10 are wrong
        });
    }
    (results, rows)
}

#[test]
fn report_has_tables_charts_and_header() {
    let (results, rows) = fixture();
    let html = render_html(&results, &rows);
    // For looking at it as a person would (e.g. a headless-browser screenshot).
    if let Some(out) = std::env::var_os("GASCLI_REPORT_SAMPLE") {
        std::fs::write(out, &html).unwrap();
    }
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_balanced(&html);
    assert!(html.contains("detector-x") && html.contains("mode small") && html.contains("seed 42"));
    assert!(html.contains("id=\"sn34\">0.8123<"), "sn34 card");
    assert!(html.contains("name=\"viewport\""), "responsive");

    let table = section(&html, "per-dataset");
    assert_eq!(table.matches("<tr>").count(), 3, "header + 2 datasets");
    assert!(table.contains(
        "<td>faces/real</td><td class=\"l\">real</td><td>20</td><td>1</td><td>0.9000</td>"
    ));

    let rel = section(&html, "reliability");
    // 20 real in bins 0-4, 20 synthetic across all 10 bins: all 10 bins populated.
    assert_eq!(rel.matches("class=\"bin\"").count(), 10);
    assert_eq!(rel.matches("<circle").count(), 10);
    let hist = section(&html, "histogram");
    assert!(hist.matches("class=\"hbar\"").count() >= 20);
    assert!(html.contains("real (20)") && html.contains("synthetic (20)"));
    assert!(
        !html.contains("semisynthetic ("),
        "absent class not in legend"
    );

    let worst = section(&html, "worst");
    assert_eq!(
        worst.matches("<tr>").count(),
        1 + 10,
        "header + the 10 mistakes"
    );
    assert!(html.contains("10 of 40 misclassified"));
    // Most confident mistake first: synthetic with p = 0.
    let first_row = worst.split("<tr>").nth(2).unwrap();
    assert!(first_row.contains("s0&quot;&lt;img src=x&gt;.png") && first_row.contains("1.0000"));

    assert!(html.contains("id=\"timing\"") && html.contains("samples_per_s"));
    assert!(html.contains("unreadable_media") && html.contains("x.png &lt;bad&gt;"));
}

#[test]
fn report_is_offline_and_escapes_user_text() {
    let (results, rows) = fixture();
    let html = render_html(&results, &rows);
    let lower = html.to_ascii_lowercase();
    assert!(
        !lower.contains("http://") && !lower.contains("https://"),
        "no remote URLs"
    );
    assert!(
        !lower.contains("<script"),
        "no scripts, and dataset names are escaped"
    );
    assert!(!lower.contains("<link") && !lower.contains("@import") && !lower.contains("url("));
    assert!(!lower.contains("<img"), "ids are escaped");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[test]
fn worst_table_is_capped() {
    let rows: Vec<ReportRow> = (0..100)
        .map(|i| ReportRow {
            dataset: "d".into(),
            id: format!("{i:03}"),
            label: Label::Semisynthetic,
            p_synthetic: i as f64 / 1000.0,
        })
        .collect();
    let html = render_html(&json!({}), &rows);
    let worst = section(&html, "worst");
    assert_eq!(worst.matches("<tr>").count(), 1 + WORST_ROWS);
    assert!(html.contains("100 of 100 misclassified"));
    // Per-dataset table falls back to the predictions.
    let table = section(&html, "per-dataset");
    assert!(table.contains("<td>d</td><td class=\"l\">semisynthetic</td><td>100</td>"));
    assert_balanced(&html);
}

#[test]
fn report_tolerates_missing_fields_and_no_predictions() {
    let html = render_html(&json!({"overall": null, "per_dataset": {}}), &[]);
    assert_balanced(&html);
    assert!(html.contains("No per-sample predictions"));
    assert!(html.contains("No per-dataset results"));
    assert!(html.contains("id=\"sn34\">—<"));
    // per_dataset as an object keyed by name, metrics under `binary`.
    let html = render_html(
        &json!({"per_dataset": {"a&b": {"n": 3, "binary": {"accuracy": 0.5}}}}),
        &[],
    );
    assert!(html.contains("<td>a&amp;b</td>") && html.contains("<td>0.5000</td>"));
}
