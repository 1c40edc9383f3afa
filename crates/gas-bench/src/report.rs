//! Self-contained HTML report of one benchmark run: header (model, mode, sn34), overall metrics,
//! per-dataset table, reliability diagram, p_synthetic histograms per class, and the worst
//! misclassified samples. Inline CSS and inline SVG only: no scripts, fonts or other resources
//! are loaded, so the file opens offline and on a phone.
//!
//! Input is the results JSON as a [`serde_json::Value`] (fields read by name following bench.md;
//! any of them may be missing) plus the per-sample predictions. Everything that comes from the
//! user (dataset names, ids, model names) is HTML-escaped.

use gas_score::Label;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One per-sample prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    pub dataset: String,
    pub id: String,
    pub label: Label,
    /// The model's probability that the sample is synthetic (or semisynthetic).
    pub p_synthetic: f64,
}

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

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for k in path {
        cur = cur.get(*k)?;
    }
    if cur.is_null() { None } else { Some(cur) }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn num(v: Option<&Value>) -> Option<f64> {
    v?.as_f64()
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

/// Score of the run: `overall.sn34_final`, else `overall.final.sn34_score`, else `overall.sn34_score`,
/// else the binary view's.
fn sn34(results: &Value) -> Option<f64> {
    num(get(results, &["overall", "sn34_final"]))
        .or_else(|| num(get(results, &["overall", "final", "sn34_score"])))
        .or_else(|| num(get(results, &["overall", "sn34_score"])))
        .or_else(|| num(get(results, &["overall", "binary", "sn34_score"])))
}

/// Metrics object for a dataset or overall: the object itself, or its `binary` view when the
/// metrics live there.
fn metric(obj: &Value, key: &str) -> Option<f64> {
    num(get(obj, &[key])).or_else(|| num(get(obj, &["binary", key])))
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
svg text{font-size:11px;fill:var(--muted)}
.legend span{display:inline-block;margin-right:12px;font-size:.85rem}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:middle}
@media (max-width:600px){main{padding:10px}th,td{padding:5px 6px;font-size:13px}td:first-child,td.id{white-space:normal;overflow-wrap:anywhere;min-width:9ch}}
"#;

/// Renders the report. Never fails: missing fields show as "—" and empty predictions produce a
/// note instead of charts.
pub fn render_html(results: &Value, preds: &[ReportRow]) -> String {
    let mut h = String::with_capacity(32 * 1024);
    let model_name = text(get(results, &["model", "name"])).unwrap_or_else(|| "model".into());
    let title = format!("gascli benchmark — {model_name}");
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body><main>",
        escape_html(&title)
    );
    header(&mut h, results, &model_name, preds);
    per_dataset(&mut h, results, preds);
    charts(&mut h, preds);
    worst(&mut h, preds);
    extras(&mut h, results);
    let _ = writeln!(
        h,
        "<p class=\"muted\">Generated by gascli {}{}.</p></main></body></html>",
        escape_html(&text(get(results, &["tool_version"])).unwrap_or_default()),
        match text(get(results, &["finished_at"])) {
            Some(t) => format!(" · run finished {}", escape_html(&t)),
            None => String::new(),
        }
    );
    h
}

fn header(h: &mut String, results: &Value, model_name: &str, preds: &[ReportRow]) {
    let version = text(get(results, &["model", "version"]));
    let modality = text(get(results, &["model", "modality"]));
    let sha = text(get(results, &["model", "sha256"]));
    let mode = text(get(results, &["mode"]));
    let seed = text(get(results, &["seed"]));
    let _ = write!(h, "<h1>{}", escape_html(model_name));
    if let Some(v) = &version {
        let _ = write!(h, " <span class=\"muted\">{}</span>", escape_html(v));
    }
    h.push_str("</h1><p class=\"muted\">");
    let mut bits = Vec::new();
    if let Some(m) = modality {
        bits.push(format!("modality {}", escape_html(&m)));
    }
    if let Some(m) = mode {
        bits.push(format!("mode {}", escape_html(&m)));
    }
    if let Some(s) = seed {
        bits.push(format!("seed {}", escape_html(&s)));
    }
    if let Some(d) = text(get(results, &["device"])) {
        bits.push(format!("device {}", escape_html(&d)));
    }
    if let Some(s) = sha {
        let short: String = s.chars().take(12).collect();
        bits.push(format!("sha256 <code>{}</code>", escape_html(&short)));
    }
    h.push_str(&bits.join(" · "));
    h.push_str("</p>");

    let overall = get(results, &["overall"]).cloned().unwrap_or(Value::Null);
    let n = metric(&overall, "n").or_else(|| (!preds.is_empty()).then_some(preds.len() as f64));
    let acc = metric(&overall, "accuracy").or_else(|| accuracy(preds.iter()));
    let cards: [(&str, Option<f64>, usize); 6] = [
        ("samples", n, 0),
        ("accuracy", acc, 4),
        ("MCC", metric(&overall, "mcc"), 4),
        ("Brier", metric(&overall, "brier"), 4),
        ("cross-entropy", metric(&overall, "cross_entropy"), 4),
        (
            "samples / s",
            num(get(results, &["timing", "samples_per_s"])),
            1,
        ),
    ];
    h.push_str("<h2>Overall</h2><div class=\"cards\">");
    let _ = write!(
        h,
        "<div class=\"card big\"><div class=\"k\">sn34 score</div><div class=\"v\" id=\"sn34\">{}</div></div>",
        fmt_num(sn34(results), 4)
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

fn accuracy<'a>(rows: impl Iterator<Item = &'a ReportRow>) -> Option<f64> {
    let (mut n, mut ok) = (0usize, 0usize);
    for r in rows {
        n += 1;
        if (clamp01(r.p_synthetic) >= 0.5) == (truth(r.label) == 1.0) {
            ok += 1;
        }
    }
    (n > 0).then(|| ok as f64 / n as f64)
}

/// `per_dataset` as (name, metrics) pairs, from an object keyed by name or an array of objects
/// with `name` / `dataset`.
fn dataset_entries(results: &Value) -> Vec<(String, Value)> {
    match get(results, &["per_dataset"]) {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let name = text(get(v, &["name"]))
                    .or_else(|| text(get(v, &["dataset"])))
                    .unwrap_or_else(|| format!("dataset {}", i + 1));
                (name, v.clone())
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn per_dataset(h: &mut String, results: &Value, preds: &[ReportRow]) {
    let mut entries = dataset_entries(results);
    if entries.is_empty() {
        // Fall back to what the predictions say.
        let mut by: BTreeMap<&str, Vec<&ReportRow>> = BTreeMap::new();
        for r in preds {
            by.entry(&r.dataset).or_default().push(r);
        }
        entries = by
            .into_iter()
            .map(|(name, rows)| {
                let label = rows.first().map(|r| r.label.as_str()).unwrap_or("");
                (
                    name.to_string(),
                    serde_json::json!({
                        "n": rows.len(),
                        "media_type": label,
                        "accuracy": accuracy(rows.iter().copied()),
                    }),
                )
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
    for (name, m) in &entries {
        let mt = text(get(m, &["media_type"])).unwrap_or_default();
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(name),
            escape_html(&mt),
            fmt_num(metric(m, "n"), 0),
            fmt_num(metric(m, "n_failed"), 0),
            fmt_num(metric(m, "accuracy"), 4),
            fmt_num(metric(m, "mcc"), 4),
            fmt_num(metric(m, "brier"), 4),
            fmt_num(metric(m, "sn34_score"), 4),
        );
    }
    h.push_str("</tbody></table></div>");
}

fn charts(h: &mut String, preds: &[ReportRow]) {
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

fn reliability(h: &mut String, preds: &[ReportRow]) {
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

fn histogram(h: &mut String, preds: &[ReportRow]) {
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

fn worst(h: &mut String, preds: &[ReportRow]) {
    let mut wrong: Vec<(&ReportRow, f64)> = preds
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
            .then_with(|| a.0.id.cmp(&b.0.id))
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
            escape_html(&r.id),
            r.label.as_str(),
            clamp01(r.p_synthetic),
            err
        );
    }
    h.push_str("</tbody></table></div>");
}

fn extras(h: &mut String, results: &Value) {
    if let Some(Value::Object(t)) = get(results, &["timing"])
        && !t.is_empty()
    {
        h.push_str("<h2>Timing</h2><div class=\"scroll\"><table id=\"timing\"><tbody>");
        for (k, v) in t {
            let shown = match v {
                Value::Number(n) => fmt_num(n.as_f64(), 4),
                other => escape_html(&text(Some(other)).unwrap_or_else(|| other.to_string())),
            };
            let _ = write!(h, "<tr><td>{}</td><td>{shown}</td></tr>", escape_html(k));
        }
        h.push_str("</tbody></table></div>");
    }
    let Some(errors) = get(results, &["errors"]) else {
        return;
    };
    let counts = get(errors, &["counts"]).unwrap_or(errors);
    if let Value::Object(c) = counts {
        let rows: Vec<(&String, f64)> = c
            .iter()
            .filter_map(|(k, v)| Some((k, v.as_f64()?)))
            .collect();
        if !rows.is_empty() {
            h.push_str("<h2>Errors</h2><div class=\"scroll\"><table id=\"errors\"><thead><tr><th class=\"l\">kind</th><th>count</th></tr></thead><tbody>");
            for (k, n) in rows {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td></tr>",
                    escape_html(k),
                    fmt_num(Some(n), 0)
                );
            }
            h.push_str("</tbody></table></div>");
        }
    }
    if let Some(Value::Array(ex)) = get(errors, &["examples"]) {
        h.push_str("<ul class=\"muted\">");
        for e in ex.iter().take(10) {
            let s = text(Some(e)).unwrap_or_else(|| e.to_string());
            let _ = write!(h, "<li>{}</li>", escape_html(&s));
        }
        h.push_str("</ul>");
    }
}
