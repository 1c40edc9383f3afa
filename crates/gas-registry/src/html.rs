//! Leaderboard web page: server-rendered, self-contained (no external assets, no JS), readable
//! on a phone (the table collapses into cards under 640 px). One inline SVG reliability
//! diagram per model when its benchmark recorded calibration bins.
//!
//! HTML escaping is hand-written (five characters) to avoid a template engine for one page.

use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::response::Html;
use serde::Deserialize;
use serde_json::Value;

use crate::db::Db;
use crate::error::ApiError;
use crate::state::{AppState, MODALITIES, VERTICALS};
use crate::views::leaderboard_rows;

pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn num(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "–".into())
}

fn when(ms: &Value) -> String {
    let Some(ms) = ms.as_i64() else {
        return "–".into();
    };
    let secs = ms / 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// Reliability diagram from bins `[{"p": mean predicted, "frac": observed fraction, "n": count}]`.
/// Under a blended score: the base and degraded scores it came from (the robustness pass).
fn robustness_note(r: &Value) -> String {
    if r["aug_sn34_score"].is_null() {
        return String::new();
    }
    format!(
        "<br><small class=\"rob\">base {} · aug {}</small>",
        num(&r["base_sn34_score"], 4),
        num(&r["aug_sn34_score"], 4)
    )
}

pub fn calibration_svg(bins: &[Value]) -> String {
    let (w, h, pad) = (160.0, 160.0, 20.0);
    let sx = |x: f64| pad + x.clamp(0.0, 1.0) * (w - 2.0 * pad);
    let sy = |y: f64| h - pad - y.clamp(0.0, 1.0) * (h - 2.0 * pad);
    let mut s = format!(
        "<svg class=\"cal\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"calibration plot\">\
         <rect x=\"{pad}\" y=\"{pad}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#bbb\"/>\
         <line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#bbb\" stroke-dasharray=\"3 3\"/>",
        w - 2.0 * pad,
        h - 2.0 * pad,
        sx(0.0),
        sy(0.0),
        sx(1.0),
        sy(1.0)
    );
    let pts: Vec<(f64, f64)> = bins
        .iter()
        .filter_map(|b| Some((b["p"].as_f64()?, b["frac"].as_f64()?)))
        .filter(|(p, f)| p.is_finite() && f.is_finite())
        .collect();
    if !pts.is_empty() {
        let path: Vec<String> = pts
            .iter()
            .map(|(p, f)| format!("{:.1},{:.1}", sx(*p), sy(*f)))
            .collect();
        let _ = write!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#1565c0\" stroke-width=\"2\"/>",
            path.join(" ")
        );
        for (p, f) in &pts {
            let _ = write!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#1565c0\"/>",
                sx(*p),
                sy(*f)
            );
        }
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">predicted</text></svg>",
        w / 2.0,
        h - 4.0
    );
    s
}

/// Calibration bins recorded in the model's benchmark job result, if any.
async fn calibration_of(db: &Db, model_id: &str) -> Option<Vec<Value>> {
    let jobs = db.jobs_of(model_id).await.ok()?;
    jobs.iter()
        .rev()
        .filter(|j| j.stage == "benchmark")
        .find_map(|j| {
            j.result
                .as_ref()?
                .pointer("/detail/calibration")?
                .as_array()
                .cloned()
        })
}

/// Under the status: the exam's accuracy and the first reason recorded (why a stage failed).
async fn stage_note(db: &Db, model_id: &str) -> String {
    let mut out = String::new();
    if let Ok(ms) = db.metrics_of(model_id).await
        && let Some(e) = ms.iter().find(|r| r.stage == "exam" && r.dataset == "*")
    {
        let acc = e.accuracy.map_or_else(|| "–".into(), |a| format!("{a:.3}"));
        let _ = write!(
            out,
            "<br><small class=\"exam\">exam accuracy {acc} on {}</small>",
            e.samples
        );
    }
    if let Ok(Some(m)) = db.model(model_id).await
        && let Some(r) = m.reasons.first()
    {
        let _ = write!(out, "<br><small class=\"why\">{}</small>", esc(r));
    }
    out
}

#[derive(Deserialize)]
pub struct PageQuery {
    modality: Option<String>,
    vertical: Option<String>,
}

const STYLE: &str = "*{box-sizing:border-box}body{font-family:system-ui,sans-serif;margin:0;padding:1rem;color:#222}\
h1{font-size:1.4rem}nav a{margin-right:1rem}nav a.on{font-weight:bold}\
table{border-collapse:collapse;width:100%}th,td{padding:.4rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}\
td.n{font-variant-numeric:tabular-nums}.hk{font-family:monospace;word-break:break-all}\
svg.cal{width:120px;height:120px}.none{color:#888}.why{color:#a33}\
@media (max-width:640px){thead{display:none}table,tbody,tr,td{display:block;width:100%}\
tr{border:1px solid #ddd;border-radius:6px;margin-bottom:.8rem;padding:.4rem}td{border:0;padding:.2rem .4rem}\
td::before{content:attr(data-label) \": \";font-weight:bold}}";

pub async fn page(
    State(st): State<AppState>,
    Query(q): Query<PageQuery>,
) -> Result<Html<String>, ApiError> {
    let modality = q.modality.unwrap_or_else(|| "image".into());
    if !MODALITIES.contains(&modality.as_str()) {
        return Err(ApiError::bad_request(format!(
            "modality {modality:?} is unknown (expected image, video or audio)"
        )));
    }
    let vertical = q.vertical.unwrap_or_else(|| "general".into());
    if !VERTICALS.contains(&vertical.as_str()) {
        return Err(ApiError::bad_request(format!(
            "vertical {vertical:?} is unknown (expected general or human)"
        )));
    }
    let rows = leaderboard_rows(&st.db, &modality, &vertical).await?;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>GAS leaderboard: {m} ({v})</title><style>{STYLE}</style></head><body>\
         <h1>Leaderboard: {m}</h1><nav>",
        m = esc(&modality),
        v = esc(&vertical)
    );
    for m in MODALITIES {
        let on = if m == modality { " class=\"on\"" } else { "" };
        let _ = write!(
            h,
            "<a href=\"?modality={m}&amp;vertical={vertical}\"{on}>{m}</a>"
        );
    }
    h.push_str("</nav><nav class=\"vert\">");
    for v in VERTICALS {
        // `human` has no audio leaderboard.
        if v == "human" && modality == "audio" {
            continue;
        }
        let on = if v == vertical { " class=\"on\"" } else { "" };
        let _ = write!(
            h,
            "<a href=\"?modality={modality}&amp;vertical={v}\"{on}>{v}</a>"
        );
    }
    h.push_str("</nav>");
    if rows.is_empty() {
        h.push_str("<p class=\"none\" id=\"empty\">No models yet.</p>");
    } else {
        h.push_str(
            "<table id=\"board\"><thead><tr><th>Rank</th><th>Hotkey</th><th>Model</th><th>sn34</th>\
             <th>MCC</th><th>Brier</th><th>Status</th><th>When</th><th>Calibration</th></tr></thead><tbody>",
        );
        for r in &rows {
            let id = r["model_id"].as_str().unwrap_or_default();
            let cal = match calibration_of(&st.db, id).await {
                Some(b) if !b.is_empty() => calibration_svg(&b),
                _ => "<span class=\"none\">not yet</span>".into(),
            };
            let _ = write!(
                h,
                "<tr><td data-label=\"Rank\" class=\"n\">{}</td><td data-label=\"Hotkey\" class=\"hk\">{}</td>\
                 <td data-label=\"Model\">{}<br><small class=\"hk\">{}</small></td>\
                 <td data-label=\"sn34\" class=\"n\">{}{}</td><td data-label=\"MCC\" class=\"n\">{}</td>\
                 <td data-label=\"Brier\" class=\"n\">{}</td><td data-label=\"Status\">{}{}</td>\
                 <td data-label=\"When\">{}</td><td data-label=\"Calibration\">{}</td></tr>",
                r["rank"],
                esc(r["hotkey"].as_str().unwrap_or_default()),
                esc(r["filename"].as_str().unwrap_or_default()),
                esc(id),
                num(&r["sn34_score"], 4),
                robustness_note(r),
                num(&r["mcc"], 3),
                num(&r["brier"], 3),
                esc(r["status"].as_str().unwrap_or_default()),
                stage_note(&st.db, id).await,
                when(if r["scored_at"].is_null() {
                    &r["uploaded_at"]
                } else {
                    &r["scored_at"]
                }),
                cal
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</body></html>");
    Ok(Html(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_dates() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(when(&Value::from(0)), "1970-01-01 00:00 UTC");
        assert_eq!(
            when(&Value::from(1_764_000_000_000i64)),
            "2025-11-24 16:00 UTC"
        );
        assert_eq!(when(&Value::Null), "–");
    }

    #[test]
    fn svg_plots_finite_bins_only() {
        let bins: Vec<Value> = serde_json::from_str(
            r#"[{"p":0.1,"frac":0.2,"n":5},{"p":0.9,"frac":0.8,"n":5},{"p":"x","frac":1}]"#,
        )
        .unwrap();
        let s = calibration_svg(&bins);
        assert_eq!(s.matches("<circle").count(), 2);
        assert!(
            s.contains("<polyline points=\"32.0,116.0 128.0,44.0\""),
            "{s}"
        );
    }
}
