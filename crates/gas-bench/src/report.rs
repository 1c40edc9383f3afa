//! Self-contained HTML report of one benchmark run: header (model, mode, sn34), overall metrics,
//! per-dataset table, reliability diagram, p_synthetic histograms per class, the worst
//! misclassified samples, and with the robustness pass its figures, a paired plot and the ten
//! worst-degraded samples with thumbnails of what the model saw (as is and degraded). Inline
//! CSS, inline SVG and inline PNG data URIs only: no scripts, fonts or other resources are
//! loaded, so the file opens offline and on a phone.
//!
//! Input: the typed [`BenchResults`] and the per-sample predictions, both in memory. Everything
//! that comes from the user (dataset names, ids, model names) is HTML-escaped.

use crate::results::{BenchResults, DatasetResult};
use gas_score::Label;
use gas_score::PredictionRow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Rows shown in the "worst misclassified" table.
pub const WORST_ROWS: usize = 20;
/// Bins of the reliability diagram.
pub const RELIABILITY_BINS: usize = 10;
/// Bins of the score histograms.
pub const HISTOGRAM_BINS: usize = 20;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn truth(label: Label) -> f64 {
    // Binary view (bench.md): real → 0, synthetic and semisynthetic → 1.
    match label {
        Label::Real => 0.0,
        _ => 1.0,
    }
}

fn clamp01(p: f64) -> f64 {
    if p.is_nan() { 0.5 } else { p.clamp(0.0, 1.0) }
}

fn fmt_num(x: Option<f64>, digits: usize) -> String {
    match x {
        Some(x) if x.is_finite() => {
            if digits == 0 && x.abs() < 1e15 {
                format!("{}", x.round() as i64)
            } else {
                format!("{x:.digits$}")
            }
        }
        _ => "—".to_string(),
    }
}

const CSS: &str = r#"
:root{--fg:#1d2330;--muted:#5b6474;--bg:#fff;--card:#f5f7fa;--line:#d9dee7;--real:#2f6fdb;--syn:#d9483b;--semi:#e09b1a;--ok:#1f8f4e}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1100px;margin:0 auto;padding:16px}
h1{font-size:1.5rem;margin:.2em 0}
h2{font-size:1.15rem;margin:1.6em 0 .5em;border-bottom:1px solid var(--line);padding-bottom:.2em}
.muted{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:10px}
.card{background:var(--card);border-radius:8px;padding:10px 12px}
.card .k{font-size:.8rem;color:var(--muted)}
.card .v{font-size:1.3rem;font-weight:600;font-variant-numeric:tabular-nums}
.card.big .v{font-size:1.8rem;color:var(--ok)}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th:first-child,td:first-child,td.l,th.l{text-align:left}
td.id{white-space:normal;word-break:break-all;text-align:left;max-width:360px}
th{background:var(--card);font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:16px}
figure{margin:0;background:var(--card);border-radius:8px;padding:10px}
figcaption{font-size:.85rem;color:var(--muted);margin-top:4px}
svg{width:100%;height:auto;display:block}
img.thumb{display:block;image-rendering:pixelated;max-width:72px;max-height:72px}
svg text{font-size:11px;fill:var(--muted)}
.legend span{display:inline-block;margin-right:12px;font-size:.85rem}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:middle}
@media (max-width:600px){main{padding:10px}th,td{padding:5px 6px;font-size:13px}td:first-child,td.id{white-space:normal;overflow-wrap:anywhere;min-width:9ch}}
"#;

/// Thumbnails of the samples the robustness pass saw, as the model received them: keyed by
/// (dataset, sample id), data URIs of small PNGs ([`thumbnail`]).
#[derive(Debug, Clone, Default)]
pub struct Thumbnails {
    pub base: BTreeMap<(String, String), String>,
    pub degraded: BTreeMap<(String, String), String>,
}

/// Longest side of a thumbnail, in pixels.
pub const THUMB_SIDE: usize = 72;

/// A `data:image/png;base64,…` thumbnail of a `u8` tensor of `shape` `[3, H, W]` (an image) or
/// `[T, 3, H, W]` (a clip: its first frame), nearest-neighbour scaled to at most
/// [`THUMB_SIDE`] px; `None` for other shapes.
pub fn thumbnail(chw: &[u8], shape: &[usize]) -> Option<String> {
    use base64::Engine as _;
    let (h, w) = match shape {
        [3, h, w] | [_, 3, h, w] => (*h, *w),
        _ => return None,
    };
    if h == 0 || w == 0 || chw.len() < 3 * h * w {
        return None;
    }
    let step = h.max(w).div_ceil(THUMB_SIDE).max(1);
    let (th, tw) = (h.div_ceil(step), w.div_ceil(step));
    let plane = h * w;
    let mut rgb = Vec::with_capacity(th * tw * 3);
    for y in 0..th {
        for x in 0..tw {
            let at = y * step * w + x * step;
            rgb.extend([chw[at], chw[plane + at], chw[2 * plane + at]]);
        }
    }
    let img = image::RgbImage::from_raw(tw as u32, th as u32, rgb)?;
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).ok()?;
    Some(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png.into_inner())
    ))
}

/// Renders the report. Never fails: missing figures show as "—" and empty predictions produce
/// a note instead of charts.
pub fn render_html(
    results: &BenchResults,
    preds: &[PredictionRow],
    aug: &[PredictionRow],
) -> String {
    render_html_with(results, preds, aug, &Thumbnails::default())
}

/// [`render_html`] with thumbnails in the worst-degraded table.
pub fn render_html_with(
    results: &BenchResults,
    preds: &[PredictionRow],
    aug: &[PredictionRow],
    thumbs: &Thumbnails,
) -> String {
    let mut h = String::with_capacity(32 * 1024);
    let model_name = if results.model.name.is_empty() {
        "model"
    } else {
        results.model.name.as_str()
    };
    let title = format!("gascli benchmark — {model_name}");
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body><main>",
        escape_html(&title)
    );
    header(&mut h, results, model_name, preds);
    per_dataset(&mut h, results, preds);
    charts(&mut h, preds);
    worst(&mut h, preds);
    robustness(&mut h, results);
    paired(&mut h, preds, aug, thumbs);
    extras(&mut h, results);
    let _ = writeln!(
        h,
        "<p class=\"muted\">Generated by {} {} · run finished {}.</p></main></body></html>",
        escape_html(&results.tool.name),
        escape_html(&results.tool.version),
        results
            .finished_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    h
}

fn header(h: &mut String, results: &BenchResults, model_name: &str, preds: &[PredictionRow]) {
    let m = &results.model;
    let _ = write!(h, "<h1>{}", escape_html(model_name));
    if !m.version.is_empty() {
        let _ = write!(
            h,
            " <span class=\"muted\">{}</span>",
            escape_html(&m.version)
        );
    }
    h.push_str("</h1><p class=\"muted\">");
    let mut bits = Vec::new();
    if !m.modality.is_empty() {
        bits.push(format!("modality {}", escape_html(&m.modality)));
    }
    bits.push(format!("mode {}", results.mode.as_str()));
    bits.push(format!("seed {}", results.seed));
    if !results.device.is_empty() {
        bits.push(format!("device {}", escape_html(&results.device)));
    }
    if let Some(s) = &m.sha256 {
        let short: String = s.chars().take(12).collect();
        bits.push(format!("sha256 <code>{}</code>", escape_html(&short)));
    }
    h.push_str(&bits.join(" · "));
    h.push_str("</p>");

    let o = &results.overall;
    let scored = o.n > 0;
    let n = if scored {
        Some(o.n as f64)
    } else {
        (!preds.is_empty()).then_some(preds.len() as f64)
    };
    let acc = if scored {
        Some(o.metrics.accuracy)
    } else {
        accuracy(preds.iter())
    };
    let when = |x: Option<f64>| if scored { x } else { None };
    let cards: [(&str, Option<f64>, usize); 6] = [
        ("samples", n, 0),
        ("accuracy", acc, 4),
        ("MCC", when(o.metrics.mcc), 4),
        ("Brier", when(Some(o.metrics.brier)), 4),
        ("cross-entropy", when(Some(o.metrics.cross_entropy)), 4),
        ("samples / s", Some(results.timing.samples_per_s), 1),
    ];
    h.push_str("<h2>Overall</h2><div class=\"cards\">");
    let _ = write!(
        h,
        "<div class=\"card big\"><div class=\"k\">sn34 score</div><div class=\"v\" id=\"sn34\">{}</div></div>",
        fmt_num(when(results.sn34()), 4)
    );
    for (k, v, d) in cards {
        let _ = write!(
            h,
            "<div class=\"card\"><div class=\"k\">{k}</div><div class=\"v\">{}</div></div>",
            fmt_num(v, d)
        );
    }
    h.push_str("</div>");
}

fn accuracy<'a>(rows: impl Iterator<Item = &'a PredictionRow>) -> Option<f64> {
    let (mut n, mut ok) = (0usize, 0usize);
    for r in rows {
        n += 1;
        if (clamp01(r.p_synthetic) >= 0.5) == (truth(r.label) == 1.0) {
            ok += 1;
        }
    }
    (n > 0).then(|| ok as f64 / n as f64)
}

/// A row of the per-dataset table.
struct DatasetRow {
    name: String,
    media_type: Label,
    n: u64,
    n_failed: Option<u64>,
    accuracy: Option<f64>,
    mcc: Option<f64>,
    brier: Option<f64>,
    sn34: Option<f64>,
}

impl From<&DatasetResult> for DatasetRow {
    fn from(d: &DatasetResult) -> Self {
        let m = d.metrics.as_ref();
        DatasetRow {
            name: d.name.clone(),
            media_type: d.media_type,
            n: d.n,
            n_failed: Some(d.n_failed),
            accuracy: m.map(|m| m.accuracy),
            mcc: m.and_then(|m| m.mcc),
            brier: m.map(|m| m.brier),
            sn34: m.and_then(|m| m.sn34_score),
        }
    }
}

fn per_dataset(h: &mut String, results: &BenchResults, preds: &[PredictionRow]) {
    let mut entries: Vec<DatasetRow> = results.per_dataset.iter().map(Into::into).collect();
    if entries.is_empty() {
        // Fall back to what the predictions say.
        let mut by: BTreeMap<&str, Vec<&PredictionRow>> = BTreeMap::new();
        for r in preds {
            by.entry(&r.dataset).or_default().push(r);
        }
        entries = by
            .into_iter()
            .map(|(name, rows)| DatasetRow {
                name: name.to_string(),
                media_type: rows.first().map_or(Label::Real, |r| r.label),
                n: rows.len() as u64,
                n_failed: None,
                accuracy: accuracy(rows.iter().copied()),
                mcc: None,
                brier: None,
                sn34: None,
            })
            .collect();
    }
    h.push_str("<h2>Per dataset</h2>");
    if entries.is_empty() {
        h.push_str("<p class=\"muted\">No per-dataset results.</p>");
        return;
    }
    h.push_str(
        "<div class=\"scroll\"><table id=\"per-dataset\"><thead><tr><th class=\"l\">dataset</th>\
         <th class=\"l\">media type</th><th>n</th><th>failed</th><th>accuracy</th><th>MCC</th>\
         <th>Brier</th><th>sn34</th></tr></thead><tbody>",
    );
    for d in &entries {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(&d.name),
            d.media_type.as_str(),
            d.n,
            fmt_num(d.n_failed.map(|n| n as f64), 0),
            fmt_num(d.accuracy, 4),
            fmt_num(d.mcc, 4),
            fmt_num(d.brier, 4),
            fmt_num(d.sn34, 4),
        );
    }
    h.push_str("</tbody></table></div>");
}

fn charts(h: &mut String, preds: &[PredictionRow]) {
    h.push_str("<h2>Calibration and score distribution</h2>");
    if preds.is_empty() {
        h.push_str(
            "<p class=\"muted\">No per-sample predictions: charts need the predictions file.</p>",
        );
        return;
    }
    h.push_str("<div class=\"charts\">");
    reliability(h, preds);
    histogram(h, preds);
    h.push_str("</div>");
}

// Chart geometry (SVG user units).
const W: f64 = 320.0;
const H: f64 = 240.0;
const PAD_L: f64 = 36.0;
const PAD_B: f64 = 40.0;
const PAD_T: f64 = 10.0;
const PAD_R: f64 = 10.0;

fn px(x: f64) -> f64 {
    PAD_L + x * (W - PAD_L - PAD_R)
}
fn py(y: f64) -> f64 {
    H - PAD_B - y * (H - PAD_B - PAD_T)
}

fn axes(h: &mut String, y_max_label: &str, y_title: &str) {
    let _ = write!(
        h,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">predicted p_synthetic</text>\
         <text x=\"10\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 10 {:.1})\">{}</text>",
        px(0.5),
        H - 8.0,
        py(0.5),
        py(0.5),
        escape_html(y_title)
    );
    let _ = write!(
        h,
        "<line x1=\"{l}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#888\"/>\
         <line x1=\"{l}\" y1=\"{b}\" x2=\"{l}\" y2=\"{t}\" stroke=\"#888\"/>\
         <text x=\"{l}\" y=\"{ty}\" text-anchor=\"middle\">0</text>\
         <text x=\"{m}\" y=\"{ty}\" text-anchor=\"middle\">0.5</text>\
         <text x=\"{r}\" y=\"{ty}\" text-anchor=\"middle\">1</text>\
         <text x=\"{yl}\" y=\"{b}\" text-anchor=\"end\">0</text>\
         <text x=\"{yl}\" y=\"{t2}\" text-anchor=\"end\">{ymax}</text>",
        l = px(0.0),
        r = px(1.0),
        m = px(0.5),
        b = py(0.0),
        t = py(1.0),
        t2 = py(1.0) + 4.0,
        ty = H - PAD_B + 14.0,
        yl = PAD_L - 4.0,
        ymax = escape_html(y_max_label),
    );
}

fn reliability(h: &mut String, preds: &[PredictionRow]) {
    let bins = gas_score::calibration_bins(
        preds.iter().map(|r| (r.p_synthetic, r.label)),
        RELIABILITY_BINS,
    );
    let mut ece = 0.0;
    h.push_str(&format!(
        "<figure><svg id=\"reliability\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"Reliability diagram\">"
    ));
    axes(h, "1", "fraction synthetic");
    let _ = write!(
        h,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#aaa\" stroke-dasharray=\"4 3\"/>",
        px(0.0),
        py(0.0),
        px(1.0),
        py(1.0)
    );
    let bw = (px(1.0) - px(0.0)) / RELIABILITY_BINS as f64;
    let mut points = Vec::new();
    for bin in &bins {
        let (b, frac, mean_p) = (bin.index, bin.frac_synthetic, bin.mean_p);
        ece += (bin.n as f64 / preds.len() as f64) * (frac - mean_p).abs();
        let x = px(b as f64 / RELIABILITY_BINS as f64);
        let _ = write!(
            h,
            "<rect class=\"bin\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#2f6fdb\" fill-opacity=\"0.25\" stroke=\"#2f6fdb\"><title>p in [{:.1}, {:.1}): {} samples, {:.0}% synthetic, mean p {:.3}</title></rect>",
            x + 1.0,
            py(frac),
            bw - 2.0,
            py(0.0) - py(frac),
            b as f64 / RELIABILITY_BINS as f64,
            (b + 1) as f64 / RELIABILITY_BINS as f64,
            bin.n,
            frac * 100.0,
            mean_p
        );
        points.push(format!("{:.1},{:.1}", px(mean_p), py(frac)));
    }
    let _ = write!(
        h,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#d9483b\" stroke-width=\"2\"/>",
        points.join(" ")
    );
    for p in &points {
        if let Some((x, y)) = p.split_once(',') {
            let _ = write!(
                h,
                "<circle cx=\"{x}\" cy=\"{y}\" r=\"3\" fill=\"#d9483b\"/>"
            );
        }
    }
    let _ = write!(
        h,
        "</svg><figcaption>Reliability diagram ({RELIABILITY_BINS} bins of predicted p_synthetic): \
         bars = fraction of samples that are synthetic; red points = (mean predicted p, observed \
         fraction) per bin; dashed = perfect calibration. ECE {ece:.4}.</figcaption></figure>"
    );
}

fn histogram(h: &mut String, preds: &[PredictionRow]) {
    let classes: [(Label, &str, &str); 3] = [
        (Label::Real, "real", "#2f6fdb"),
        (Label::Synthetic, "synthetic", "#d9483b"),
        (Label::Semisynthetic, "semisynthetic", "#e09b1a"),
    ];
    let mut counts = vec![[0usize; HISTOGRAM_BINS]; classes.len()];
    for r in preds {
        let ci = classes.iter().position(|c| c.0 == r.label).unwrap_or(0);
        let p = clamp01(r.p_synthetic);
        let b = ((p * HISTOGRAM_BINS as f64) as usize).min(HISTOGRAM_BINS - 1);
        counts[ci][b] += 1;
    }
    let present: Vec<usize> = (0..classes.len())
        .filter(|&i| counts[i].iter().any(|&c| c > 0))
        .collect();
    let max = counts
        .iter()
        .flat_map(|c| c.iter())
        .copied()
        .max()
        .unwrap_or(1)
        .max(1);
    let _ = write!(
        h,
        "<figure><svg id=\"histogram\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"Histogram of p_synthetic per class\">"
    );
    axes(h, &max.to_string(), "samples");
    let bw = (px(1.0) - px(0.0)) / HISTOGRAM_BINS as f64;
    let sub = bw / present.len().max(1) as f64;
    for (k, &ci) in present.iter().enumerate() {
        let (_, name, color) = classes[ci];
        for (b, &c) in counts[ci].iter().enumerate() {
            if c == 0 {
                continue;
            }
            let frac = c as f64 / max as f64;
            let _ = write!(
                h,
                "<rect class=\"hbar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\" fill-opacity=\"0.8\"><title>{name}: {c} with p in [{:.2}, {:.2})</title></rect>",
                px(b as f64 / HISTOGRAM_BINS as f64) + k as f64 * sub,
                py(frac),
                sub.max(0.5),
                py(0.0) - py(frac),
                b as f64 / HISTOGRAM_BINS as f64,
                (b + 1) as f64 / HISTOGRAM_BINS as f64,
            );
        }
    }
    let _ = write!(
        h,
        "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#444\" stroke-dasharray=\"2 3\"/>",
        py(0.0),
        py(1.0),
        x = px(0.5)
    );
    h.push_str("</svg><figcaption class=\"legend\">");
    for &ci in &present {
        let (_, name, color) = classes[ci];
        let n: usize = counts[ci].iter().sum();
        let _ = write!(
            h,
            "<span><i class=\"sw\" style=\"background:{color}\"></i>{name} ({n})</span>"
        );
    }
    let _ = write!(
        h,
        "<br>Histogram of predicted p_synthetic per true class ({HISTOGRAM_BINS} bins); dotted line = 0.5 threshold.</figcaption></figure>"
    );
}

fn worst(h: &mut String, preds: &[PredictionRow]) {
    let mut wrong: Vec<(&PredictionRow, f64)> = preds
        .iter()
        .filter_map(|r| {
            let p = clamp01(r.p_synthetic);
            let y = truth(r.label);
            ((p >= 0.5) != (y == 1.0)).then_some((r, (p - y).abs()))
        })
        .collect();
    wrong.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then_with(|| a.0.dataset.cmp(&b.0.dataset))
            .then_with(|| a.0.sample_id.cmp(&b.0.sample_id))
    });
    let total_wrong = wrong.len();
    wrong.truncate(WORST_ROWS);
    h.push_str("<h2>Worst misclassified samples</h2>");
    if wrong.is_empty() {
        h.push_str(if preds.is_empty() {
            "<p class=\"muted\">No per-sample predictions.</p>"
        } else {
            "<p class=\"muted\">No misclassified samples.</p>"
        });
        return;
    }
    let _ = write!(
        h,
        "<p class=\"muted\">{} of {} misclassified (threshold 0.5); the {} most confident mistakes:</p>",
        total_wrong,
        preds.len(),
        wrong.len()
    );
    h.push_str(
        "<div class=\"scroll\"><table id=\"worst\"><thead><tr><th class=\"l\">dataset</th>\
         <th class=\"l\">sample</th><th class=\"l\">label</th><th>p_synthetic</th><th>|p − y|</th></tr></thead><tbody>",
    );
    for (r, err) in wrong {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"id\">{}</td><td class=\"l\">{}</td><td>{:.4}</td><td>{:.4}</td></tr>",
            escape_html(&r.dataset),
            escape_html(&r.sample_id),
            r.label.as_str(),
            clamp01(r.p_synthetic),
            err
        );
    }
    h.push_str("</tbody></table></div>");
}

/// The robustness pass (when it ran): the blend and, per dataset, how much the degraded copies
/// cost (sn34 on them, loss of the correct-class probability paired by sample).
fn robustness(h: &mut String, results: &BenchResults) {
    let Some(r) = &results.robustness else {
        return;
    };
    h.push_str("<h2>Robustness (degraded copies)</h2>");
    let _ = write!(
        h,
        "<p>sn34 = (1 − {w})·base {base} + {w}·degraded {aug} = <b>{final_}</b>; robustness (degraded / base) {ratio} on {n} degraded samples; correct-class probability lost: mean {mean}, 95th percentile {p95}.</p>",
        w = fmt_num(Some(r.aug_weight), 2),
        base = fmt_num(r.base_sn34_score, 4),
        aug = fmt_num(r.aug_sn34_score, 4),
        final_ = fmt_num(results.overall.metrics.sn34_score, 4),
        ratio = fmt_num(r.augmentation_robustness, 3),
        n = r.n_aug,
        mean = fmt_num(r.mean_prob_loss, 3),
        p95 = fmt_num(r.p95_prob_loss, 3),
    );
    h.push_str(
        "<div class=\"scroll\"><table id=\"robustness\"><thead><tr><th class=\"l\">dataset</th>\
         <th>n degraded</th><th>sn34 base</th><th>sn34 degraded</th><th>mean loss</th>\
         <th>p95 loss</th></tr></thead><tbody>",
    );
    for d in &results.per_dataset {
        let Some(dr) = &d.robustness else { continue };
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(&d.name),
            dr.n_aug,
            fmt_num(d.metrics.as_ref().and_then(|m| m.sn34_score), 4),
            fmt_num(dr.aug_sn34_score, 4),
            fmt_num(dr.mean_prob_loss, 3),
            fmt_num(dr.p95_prob_loss, 3),
        );
    }
    h.push_str("</tbody></table></div>");
}

/// Points drawn at most in the paired plot.
const PAIRED_MAX_POINTS: usize = 2000;

/// The robustness pass, sample by sample: the correct-class probability as is (x) against the
/// degraded copy's (y); points under the diagonal lost confidence.
fn paired(h: &mut String, preds: &[PredictionRow], aug: &[PredictionRow], thumbs: &Thumbnails) {
    if aug.is_empty() {
        return;
    }
    // as the network pairs them: by sample, the binary label's probability
    let pc = |r: &PredictionRow| r.probs.get(usize::from(r.label.binary())).copied();
    let base: std::collections::HashMap<(&str, &str), f64> = preds
        .iter()
        .filter_map(|r| Some(((r.dataset.as_str(), r.sample_id.as_str()), pc(r)?)))
        .collect();
    let pairs: Vec<(f64, f64, &PredictionRow)> = aug
        .iter()
        .filter_map(|r| {
            let b = base.get(&(r.dataset.as_str(), r.sample_id.as_str()))?;
            Some((*b, pc(r)?, r))
        })
        .collect();
    let _ = write!(
        h,
        "<h2>Robustness, sample by sample</h2><figure><svg id=\"paired\" viewBox=\"0 0 {W} {H}\" \
         role=\"img\" aria-label=\"Correct-class probability as is and degraded\">\
         <line x1=\"{l}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#888\"/>\
         <line x1=\"{l}\" y1=\"{b}\" x2=\"{l}\" y2=\"{t}\" stroke=\"#888\"/>\
         <line x1=\"{l}\" y1=\"{b}\" x2=\"{r}\" y2=\"{t}\" stroke=\"#aaa\" stroke-dasharray=\"4 3\"/>\
         <text x=\"{m}\" y=\"{xl}\" text-anchor=\"middle\">correct-class p, as is</text>\
         <text x=\"10\" y=\"{my}\" text-anchor=\"middle\" transform=\"rotate(-90 10 {my})\">degraded</text>",
        l = px(0.0),
        r = px(1.0),
        m = px(0.5),
        b = py(0.0),
        t = py(1.0),
        my = py(0.5),
        xl = H - 8.0,
    );
    for (x, y, r) in pairs.iter().take(PAIRED_MAX_POINTS) {
        let _ = write!(
            h,
            "<g><title>{} {}: {:.3} → {:.3}</title><circle class=\"pair\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{}\" fill-opacity=\"0.6\"/></g>",
            escape_html(&r.dataset),
            escape_html(&r.sample_id),
            x,
            y,
            px(clamp01(*x)),
            py(clamp01(*y)),
            if y < x { "#d9483b" } else { "#2f6fdb" },
        );
    }
    let lost = pairs.iter().filter(|(x, y, _)| y < x).count();
    let _ = write!(
        h,
        "</svg><figcaption>{} paired samples (the first {PAIRED_MAX_POINTS} drawn); {lost} lost \
         confidence in the correct class (red, under the diagonal).</figcaption></figure>",
        pairs.len()
    );
    // the worst-degraded samples
    let mut worst: Vec<&(f64, f64, &PredictionRow)> = pairs.iter().collect();
    worst.sort_by(|a, b| (b.0 - b.1).total_cmp(&(a.0 - a.1)));
    h.push_str(
        "<div class=\"scroll\"><table id=\"degraded\"><thead><tr><th class=\"l\">dataset</th>\
         <th class=\"l\">sample</th><th>as is</th><th>degraded</th><th>p as is</th><th>p degraded</th><th>lost</th></tr></thead><tbody>",
    );
    let img = |m: &BTreeMap<(String, String), String>, r: &PredictionRow| {
        m.get(&(r.dataset.clone(), r.sample_id.clone()))
            .map(|uri| {
                format!(
                    "<img class=\"thumb\" alt=\"\" src=\"{}\">",
                    escape_html(uri)
                )
            })
            .unwrap_or_else(|| "—".into())
    };
    for (x, y, r) in worst.into_iter().take(10) {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{x:.4}</td><td>{y:.4}</td><td>{:.4}</td></tr>",
            escape_html(&r.dataset),
            escape_html(&r.sample_id),
            img(&thumbs.base, r),
            img(&thumbs.degraded, r),
            x - y
        );
    }
    h.push_str("</tbody></table></div>");
}

fn extras(h: &mut String, results: &BenchResults) {
    h.push_str("<h2>Timing</h2><div class=\"scroll\"><table id=\"timing\"><tbody>");
    for (k, v) in results.timing.rows() {
        let _ = write!(h, "<tr><td>{k}</td><td>{}</td></tr>", fmt_num(v, 4));
    }
    h.push_str("</tbody></table></div>");
    let errors = &results.errors;
    if !errors.counts.is_empty() {
        h.push_str("<h2>Errors</h2><div class=\"scroll\"><table id=\"errors\"><thead><tr><th class=\"l\">kind</th><th>count</th></tr></thead><tbody>");
        for (k, n) in &errors.counts {
            let _ = write!(h, "<tr><td>{}</td><td>{n}</td></tr>", escape_html(k));
        }
        h.push_str("</tbody></table></div>");
    }
    if !errors.examples.is_empty() {
        h.push_str("<ul class=\"muted\">");
        for e in errors.examples.iter().take(10) {
            let parts = [&e.dataset, &e.id, &e.message];
            let what: Vec<String> = parts
                .iter()
                .filter(|p| !p.is_empty())
                .map(|p| escape_html(p))
                .collect();
            let _ = write!(h, "<li>{}: {}</li>", escape_html(&e.kind), what.join(" "));
        }
        h.push_str("</ul>");
    }
}
