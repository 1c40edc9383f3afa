//! Stand-ins for `gas_package::Modality` and `gas_score::Label` until those crates export them.
//! Everything else in `datasets` goes through the helpers here, so switching is a one-file change.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Kind of media a dataset holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Image,
    Video,
    Audio,
}

impl Modality {
    pub fn as_str(self) -> &'static str {
        match self {
            Modality::Image => "image",
            Modality::Video => "video",
            Modality::Audio => "audio",
        }
    }
}

impl fmt::Display for Modality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Modality {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "image" => Ok(Modality::Image),
            "video" => Ok(Modality::Video),
            "audio" => Ok(Modality::Audio),
            other => Err(format!(
                "unknown modality {other:?} (expected image, video or audio)"
            )),
        }
    }
}

/// Ground-truth class of a sample (`media_type` in catalogs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    Real,
    Synthetic,
    Semisynthetic,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Real => "real",
            Label::Synthetic => "synthetic",
            Label::Semisynthetic => "semisynthetic",
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Label {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "real" => Ok(Label::Real),
            "synthetic" => Ok(Label::Synthetic),
            "semisynthetic" => Ok(Label::Semisynthetic),
            other => Err(format!(
                "unknown media_type {other:?} (expected real, synthetic or semisynthetic)"
            )),
        }
    }
}

pub fn label_name(label: Label) -> &'static str {
    label.as_str()
}

pub fn parse_label(s: &str) -> Result<Label, String> {
    s.parse()
}

pub fn parse_modality(s: &str) -> Result<Modality, String> {
    s.parse()
}

/// All labels, in the order of the folder layout `real/`, `synthetic/`, `semisynthetic/`.
pub const ALL_LABELS: [Label; 3] = [Label::Real, Label::Synthetic, Label::Semisynthetic];
