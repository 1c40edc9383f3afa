//! HTML report: structure, charts, worst-mistakes table, escaping, offline-only resources.

use gas_bench::report::{WORST_ROWS, render_html};
use gas_bench::results::{
    BenchResults, DatasetResult, ErrorExample, Metrics, ModelInfo, Overall, Timing,
};
use gas_datasets::Mode;
use gas_score::Label;
use gas_score::PredictionRow;

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

fn metrics(accuracy: f64, mcc: Option<f64>, brier: f64, sn34: Option<f64>) -> Metrics {
    Metrics {
        weight_sum: 0.0,
        n_real: 0,
        n_synthetic: 0,
        accuracy,
        mcc,
        brier,
        cross_entropy: 0.3,
        mcc_norm: None,
        brier_norm: 0.0,
        sn34_score: sn34,
        confusion: Default::default(),
    }
}

fn dataset(name: &str, media_type: Label, n: u64, n_failed: u64, m: Metrics) -> DatasetResult {
    DatasetResult {
        name: name.into(),
        media_type,
        n,
        n_failed,
        metrics: Some(m),
        robustness: None,
    }
}

fn row(dataset: &str, id: String, label: Label, p_synthetic: f64) -> PredictionRow {
    PredictionRow {
        dataset: dataset.into(),
        sample_id: id,
        label,
        p_synthetic,
        weight: 1.0,
        predicted: Some(u8::from(p_synthetic >= 0.5)),
        probs: vec![1.0 - p_synthetic, p_synthetic],
    }
}

fn fixture() -> (BenchResults, Vec<PredictionRow>) {
    let overall = Overall {
        n: 40,
        metrics: metrics(0.875, Some(0.75), 0.1, Some(0.8123)),
        ..Overall::default()
    };
    let mut results = BenchResults {
        model: ModelInfo {
            name: "detector-x".into(),
            version: "1.2".into(),
            modality: "image".into(),
            sha256: Some("ab".repeat(32)),
            ..ModelInfo::default()
        },
        mode: Mode::Small,
        seed: 42,
        overall,
        per_dataset: vec![
            dataset(
                "faces/real",
                Label::Real,
                20,
                1,
                metrics(0.9, Some(0.0), 0.08, None),
            ),
            dataset(
                "<script>alert(1)</script>",
                Label::Synthetic,
                20,
                0,
                metrics(0.85, None, 0.2, None),
            ),
        ],
        timing: Timing {
            samples_per_s: 120.0,
            ..Timing::default()
        },
        ..BenchResults::default()
    };
    results.errors.counts.insert("unreadable_media".into(), 1);
    results.errors.examples.push(ErrorExample {
        kind: "unreadable_media".into(),
        dataset: "faces/real".into(),
        id: "x.png".into(),
        message: "<bad>".into(),
    });
    let mut rows = Vec::new();
    for i in 0..20 {
        // 0 .. 0.475: all correct
        rows.push(row(
            "faces/real",
            format!("r{i}.png"),
            Label::Real,
            i as f64 / 40.0,
        ));
    }
    for i in 0..20 {
        // 0 .. 0.95: the first 10 are wrong
        rows.push(row(
            "<script>alert(1)</script>",
            format!("s{i}\"<img src=x>.png"),
            Label::Synthetic,
            i as f64 / 20.0,
        ));
    }
    (results, rows)
}

#[test]
fn report_has_tables_charts_and_header() {
    let (results, rows) = fixture();
    let html = render_html(&results, &rows, &[]);
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
    let html = render_html(&results, &rows, &[]);
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
    let rows: Vec<PredictionRow> = (0..100)
        .map(|i| {
            row(
                "d",
                format!("{i:03}"),
                Label::Semisynthetic,
                i as f64 / 1000.0,
            )
        })
        .collect();
    let html = render_html(&BenchResults::default(), &rows, &[]);
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
    let html = render_html(&BenchResults::default(), &[], &[]);
    assert_balanced(&html);
    assert!(html.contains("No per-sample predictions"));
    assert!(html.contains("No per-dataset results"));
    assert!(html.contains("id=\"sn34\">—<"));
    // A dataset name that needs escaping.
    let results = BenchResults {
        per_dataset: vec![dataset(
            "a&b",
            Label::Real,
            3,
            0,
            metrics(0.5, None, 0.25, None),
        )],
        ..BenchResults::default()
    };
    let html = render_html(&results, &[], &[]);
    assert!(html.contains("<td>a&amp;b</td>") && html.contains("<td>0.5000</td>"));
}

#[test]
fn report_shows_the_robustness_pass_when_it_ran() {
    let (mut results, rows) = fixture();
    let html = render_html(&results, &rows, &[]);
    assert!(!html.contains("id=\"robustness\""), "no pass, no section");
    results.per_dataset[0].robustness = Some(gas_bench::results::DatasetRobustness {
        n_aug: 5,
        aug_sn34_score: Some(0.4321),
        mean_prob_loss: Some(0.25),
        p95_prob_loss: Some(0.5),
    });
    results.robustness = Some(gas_bench::results::Robustness {
        base_sn34_score: Some(0.9),
        aug_sn34_score: Some(0.5),
        aug_weight: 0.2,
        augmentation_robustness: Some(0.5 / 0.9),
        n_aug: 5,
        mean_prob_loss: Some(0.25),
        p95_prob_loss: Some(0.5),
    });
    // five degraded copies: the synthetic ones lose half their p_synthetic
    let aug: Vec<PredictionRow> = rows
        .iter()
        .take(5)
        .map(|r| {
            let p = if r.label == Label::Real {
                r.p_synthetic
            } else {
                r.p_synthetic / 2.0
            };
            PredictionRow {
                p_synthetic: p,
                probs: vec![1.0 - p, p],
                ..r.clone()
            }
        })
        .collect();
    let html = render_html(&results, &rows, &aug);
    assert_balanced(&html);
    let plot = section(&html, "paired");
    assert_eq!(plot.matches("class=\"pair\"").count(), 5, "{plot}");
    let degraded = section(&html, "degraded");
    assert_eq!(degraded.matches("<tr>").count(), 1 + 5);
    let table = section(&html, "robustness");
    assert_eq!(
        table.matches("<tr>").count(),
        2,
        "header + the one dataset with a pass"
    );
    assert!(
        table.contains("<td>5</td>") && table.contains("0.4321"),
        "{table}"
    );
    assert!(html.contains("robustness (degraded / base) 0.556 on 5 degraded samples"));
}

/// A thumbnail is the tensor's pixels (nearest-neighbour, first frame of a clip) as a PNG data
/// URI no larger than THUMB_SIDE; other shapes give none.
#[test]
fn thumbnails_show_the_tensor() {
    use base64::Engine as _;
    let (h, w) = (150usize, 100usize);
    let mut chw = vec![0u8; 3 * h * w];
    for y in 0..h {
        for x in 0..w {
            chw[y * w + x] = (x * 2) as u8;
            chw[h * w + y * w + x] = y as u8;
            chw[2 * h * w + y * w + x] = 7;
        }
    }
    let decode = |uri: String| {
        let b64 = uri.strip_prefix("data:image/png;base64,").unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        image::load_from_memory(&png).unwrap().to_rgb8()
    };
    let img = decode(gas_bench::report::thumbnail(&chw, &[3, h, w]).unwrap());
    // step ceil(150 / 72) = 3: 50 × 34
    assert_eq!((img.width(), img.height()), (34, 50));
    for (x, y) in [(0u32, 0u32), (10, 20), (33, 49)] {
        let (sx, sy) = (x as usize * 3, y as usize * 3);
        assert_eq!(
            img.get_pixel(x, y).0,
            [(sx * 2) as u8, sy as u8, 7],
            "({x}, {y})"
        );
    }
    let mut clip = chw.clone();
    clip.extend(vec![255u8; 3 * h * w]);
    let first = decode(gas_bench::report::thumbnail(&clip, &[2, 3, h, w]).unwrap());
    assert_eq!(first, img, "a clip shows its first frame");
    assert!(gas_bench::report::thumbnail(&chw, &[h * w * 3]).is_none());
    assert!(gas_bench::report::thumbnail(&chw[..10], &[3, h, w]).is_none());
}
