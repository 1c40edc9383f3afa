//! The shared vocabulary types, re-exported from the crates that own them: `Modality` from
//! gas-package (the config's modality) and `Label` from gas-score (the scoring label), so a
//! dataset's `media_type` is the very label that gets scored.

pub use gas_package::Modality;
pub use gas_score::Label;

pub fn label_name(label: Label) -> &'static str {
    label.as_str()
}

pub fn parse_label(s: &str) -> Result<Label, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        // a catalog names the media type; class indices are a CSV convenience only
        "real" | "synthetic" | "semisynthetic" => s
            .parse()
            .map_err(|e: gas_score::ParseLabelError| e.to_string()),
        other => Err(format!(
            "unknown media_type {other:?} (expected real, synthetic or semisynthetic)"
        )),
    }
}

pub fn parse_modality(s: &str) -> Result<Modality, String> {
    s.parse()
        .map_err(|e: gas_package::ParseModalityError| e.to_string())
}

/// All labels, in the order of the folder layout `real/`, `synthetic/`, `semisynthetic/`.
pub const ALL_LABELS: [Label; 3] = [Label::Real, Label::Synthetic, Label::Semisynthetic];
