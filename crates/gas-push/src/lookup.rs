//! An already-uploaded model, looked up through the miner API (`/miner/models`, then
//! `/miner/performance` for the score), to say in one sentence what the network already holds.

use gas_chain::upload::UploadClient;
use gas_package::Modality;
use serde_json::Value;

/// What the miner API says about an existing model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExistingModel {
    pub model_id: String,
    /// Model status (`confirmed`, `exam_failed`, …) or, failing that, its exam status.
    pub status: Option<String>,
    /// sn34 of its latest scored benchmark run.
    pub sn34: Option<f64>,
    /// Its storage key, when the API gives it (our registry does): enough to commit it.
    pub r2_key: Option<String>,
}

/// The array in an answer: a bare list (the network's shape), or under `data`, `models`,
/// `runs`, `data.models` or `data.runs`.
pub fn list(v: &Value) -> Vec<Value> {
    [
        Some(v),
        v.get("data"),
        v.get("models"),
        v.get("runs"),
        v.get("data").and_then(|d| d.get("models")),
        v.get("data").and_then(|d| d.get("runs")),
    ]
    .into_iter()
    .flatten()
    .find_map(|c| c.as_array().cloned())
    .unwrap_or_default()
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The latest run's sn34 among `runs` (those with a score).
fn score(runs: &[Value]) -> Option<f64> {
    runs.iter().rev().find_map(|r| r["sn34_score"].as_f64())
}

/// Looks the model up by id (or, when the server named none, by SHA-256) among the hotkey's
/// models of `modality`; `None` when the API cannot be read or does not list it (another
/// hotkey's model).
pub async fn describe_existing(
    client: &UploadClient,
    api_url: &str,
    modality: Modality,
    sha256: &str,
    model_id: Option<&str>,
) -> Option<ExistingModel> {
    let base = api_url.trim_end_matches('/');
    let models = client
        .get_signed_json(&format!("{base}/miner/models?modality={modality}"))
        .await
        .ok()?;
    let m = list(&models).into_iter().find(|m| {
        let id = text(&m["model_id"]);
        match model_id {
            Some(want) => id.as_deref() == Some(want),
            None => m["sha256"].as_str() == Some(sha256),
        }
    })?;
    let id = text(&m["model_id"])?;
    let status = m["status"]
        .as_str()
        .or(m["exam_status"].as_str())
        .map(str::to_string);
    let mut sn34 = score(m["benchmark_runs"].as_array().map_or(&[], |v| v));
    if sn34.is_none()
        && let Ok(perf) = client
            .get_signed_json(&format!("{base}/miner/performance?modality={modality}"))
            .await
    {
        let runs: Vec<Value> = list(&perf)
            .into_iter()
            .filter(|r| text(&r["model_id"]).as_deref() == Some(id.as_str()))
            .collect();
        sn34 = score(&runs);
    }
    Some(ExistingModel {
        model_id: id,
        status,
        sn34,
        r2_key: m["r2_key"].as_str().map(str::to_string),
    })
}

/// The end of the sentence when the push cannot use the existing model.
pub const CHANGE: &str = "change the model to upload a new version";
/// The end of the sentence when the existing model is the hotkey's own, with its storage key.
pub const REUSED: &str = "it is not uploaded again, and its commitment is used as it is";

/// One sentence for an upload refused as a duplicate: what is known about the existing model,
/// then `tail` (what happens or what to do).
pub fn duplicate_sentence(
    sha256: &str,
    model_id: Option<&str>,
    existing: Option<&ExistingModel>,
    tail: &str,
) -> String {
    let short = &sha256[..sha256.len().min(12)];
    let what = match (existing, model_id) {
        (Some(e), _) => {
            let mut facts = Vec::new();
            if let Some(s) = &e.status {
                facts.push(format!("status {s}"));
            }
            if let Some(x) = e.sn34 {
                facts.push(format!("sn34 {x:.4}"));
            }
            if facts.is_empty() {
                format!(" as your model {}", e.model_id)
            } else {
                format!(" as your model {} ({})", e.model_id, facts.join(", "))
            }
        }
        (None, Some(id)) => format!(" as model {id}"),
        (None, None) => String::new(),
    };
    format!("this file (sha256 {short}…) was already uploaded{what}; {tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sentence_with_what_is_known() {
        let h = "ab".repeat(32);
        let e = ExistingModel {
            model_id: "m1".into(),
            status: Some("confirmed".into()),
            sn34: Some(0.71234),
            r2_key: None,
        };
        let s = duplicate_sentence(&h, Some("m1"), Some(&e), CHANGE);
        assert_eq!(
            s,
            "this file (sha256 abababababab…) was already uploaded as your model m1 (status \
             confirmed, sn34 0.7123); change the model to upload a new version"
        );
        assert_eq!(s.matches("already").count(), 1);
        assert!(duplicate_sentence(&h, Some("m2"), None, CHANGE).contains("uploaded as model m2;"));
        assert!(duplicate_sentence(&h, None, None, CHANGE).contains("already uploaded; change"));
    }

    #[test]
    fn lists_in_every_shape() {
        let m = serde_json::json!({"model_id": 7});
        for v in [
            serde_json::json!([m]),
            serde_json::json!({"data": [m]}),
            serde_json::json!({"data": {"models": [m]}}),
            serde_json::json!({"models": [m]}),
        ] {
            assert_eq!(list(&v).len(), 1, "{v}");
            assert_eq!(text(&list(&v)[0]["model_id"]).as_deref(), Some("7"));
        }
    }
}
