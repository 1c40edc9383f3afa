//! `model_config.yaml`: typed config plus a schema check that names every key path.
//!
//! The YAML is parsed with `serde-saphyr` (budgeted, billion-laughs safe) into a generic
//! `serde_json::Value`, then checked field by field by hand so that each problem names its key
//! path (`preprocessing.resize[1]`) and the expected type — serde's derive would stop at the
//! first problem and could not turn unknown keys into warnings.

use crate::Finding;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;

/// Name of the config file inside a package.
pub const CONFIG_FILE: &str = "model_config.yaml";
/// Default weights file name when `model.weights_file` is absent.
pub const DEFAULT_WEIGHTS_FILE: &str = "model.safetensors";
/// Image size used when an image/video config has no `preprocessing.resize`.
pub const DEFAULT_IMAGE_SIZE: [u32; 2] = [224, 224];

/// What a model detects on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Image,
    Video,
    Audio,
}

impl Modality {
    pub const ALL: [Modality; 3] = [Modality::Image, Modality::Video, Modality::Audio];
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

/// Error of [`Modality::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown modality {0:?}: expected one of image, video, audio")]
pub struct ParseModalityError(pub String);

impl FromStr for Modality {
    type Err = ParseModalityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "image" => Ok(Modality::Image),
            "video" => Ok(Modality::Video),
            "audio" => Ok(Modality::Audio),
            _ => Err(ParseModalityError(s.to_string())),
        }
    }
}

/// Normalisation parameters handed on to `load_model()`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalize {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

/// `preprocessing:` section.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Preprocessing {
    pub resize: Option<[u32; 2]>,
    pub max_frames: Option<u32>,
    pub sample_rate: Option<u32>,
    pub duration_seconds: Option<f64>,
    pub fps: Option<f64>,
    pub normalize: Option<Normalize>,
}

/// `model:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSection {
    pub num_classes: u32,
    pub weights_file: String,
}

/// A checked `model_config.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub name: String,
    pub version: String,
    pub modality: Modality,
    pub preprocessing: Preprocessing,
    pub model: ModelSection,
}

impl ModelConfig {
    /// `[H, W]` the model is fed: `preprocessing.resize`, or 224×224 when absent.
    pub fn image_size(&self) -> [u32; 2] {
        self.preprocessing.resize.unwrap_or(DEFAULT_IMAGE_SIZE)
    }
    /// Audio samples per clip (`sample_rate × duration_seconds`), when both are set.
    pub fn audio_samples(&self) -> Option<u64> {
        let rate = self.preprocessing.sample_rate?;
        let dur = self.preprocessing.duration_seconds?;
        Some((rate as f64 * dur).round() as u64)
    }
    /// Frames per video clip (`preprocessing.max_frames`).
    pub fn max_frames(&self) -> Option<u32> {
        self.preprocessing.max_frames
    }
}

/// Result of checking a config text.
#[derive(Debug, Default)]
pub struct ConfigCheck {
    pub config: Option<ModelConfig>,
    /// The modality string when it was readable, even if other fields were broken.
    pub modality: Option<Modality>,
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

struct Ctx<'a> {
    file: &'a str,
    errors: Vec<Finding>,
    warnings: Vec<Finding>,
}

impl Ctx<'_> {
    fn err(&mut self, rule: &str, msg: String) {
        self.errors
            .push(Finding::new(rule, self.file, None, None, msg));
    }
    fn warn(&mut self, rule: &str, msg: String) {
        self.warnings
            .push(Finding::new(rule, self.file, None, None, msg));
    }
    fn unknown_keys(&mut self, map: &Map<String, Value>, prefix: &str, known: &[&str]) {
        for k in map.keys() {
            if !known.contains(&k.as_str()) {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                self.warn(
                    "config-unknown-key",
                    format!(
                        "unknown key `{path}` is ignored; known keys here: {} (check the spelling)",
                        known.join(", ")
                    ),
                );
            }
        }
    }
    fn type_err(&mut self, path: &str, expected: &str, got: &Value) {
        self.err(
            "config-type",
            format!(
                "`{path}` must be {expected}, found {}; fix the value in {}",
                describe(got),
                self.file
            ),
        );
    }
    fn missing(&mut self, path: &str, expected: &str) {
        self.err(
            "config-missing",
            format!("required key `{path}` is missing; add it ({expected})"),
        );
    }
    fn pos_int(&mut self, v: &Value, path: &str) -> Option<u32> {
        match v.as_u64() {
            Some(n) if n >= 1 && n <= u32::MAX as u64 => Some(n as u32),
            _ => {
                self.type_err(path, "a positive integer", v);
                None
            }
        }
    }
    fn pos_num(&mut self, v: &Value, path: &str) -> Option<f64> {
        match v.as_f64() {
            Some(x) if x.is_finite() && x > 0.0 => Some(x),
            _ => {
                self.type_err(path, "a positive number", v);
                None
            }
        }
    }
    fn num_list(&mut self, v: &Value, path: &str, positive: bool) -> Option<Vec<f64>> {
        let Some(arr) = v.as_array() else {
            self.type_err(path, "a list of numbers", v);
            return None;
        };
        let mut out = Vec::with_capacity(arr.len());
        let mut ok = true;
        for (i, x) in arr.iter().enumerate() {
            match x.as_f64() {
                Some(f) if f.is_finite() && (!positive || f > 0.0) => out.push(f),
                _ => {
                    let what = if positive {
                        "a positive number"
                    } else {
                        "a number"
                    };
                    self.type_err(&format!("{path}[{i}]"), what, x);
                    ok = false;
                }
            }
        }
        if arr.is_empty() {
            self.type_err(path, "a non-empty list of numbers", v);
            ok = false;
        }
        ok.then_some(out)
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing (null)".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(a) => format!("a list of {} items", a.len()),
        Value::Object(_) => "a mapping".into(),
    }
}

/// Check the text of `model_config.yaml` (`file` is the name used in findings).
pub fn check_config(text: &str, file: &str) -> ConfigCheck {
    let mut cx = Ctx {
        file,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let root: Value = match serde_saphyr::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let (line, column) = match e.location() {
                Some(loc) => (
                    u32::try_from(loc.line()).ok(),
                    u32::try_from(loc.column()).ok(),
                ),
                None => (None, None),
            };
            let first = e.to_string();
            let first = first.lines().next().unwrap_or("").to_string();
            cx.errors.push(Finding::new(
                "config-syntax",
                file,
                line,
                column,
                format!("{file} is not valid YAML: {first}; fix the syntax (see package.md for an example)"),
            ));
            return ConfigCheck {
                errors: cx.errors,
                ..Default::default()
            };
        }
    };
    let Some(map) = root.as_object() else {
        cx.type_err(
            "(document root)",
            "a mapping with name, version, modality, preprocessing, model",
            &root,
        );
        return ConfigCheck {
            errors: cx.errors,
            ..Default::default()
        };
    };
    cx.unknown_keys(
        map,
        "",
        &["name", "version", "modality", "preprocessing", "model"],
    );

    let name = match map.get("name") {
        None => {
            cx.missing("name", "a non-empty string such as \"my-image-detector\"");
            None
        }
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(v) => {
            cx.type_err("name", "a non-empty string", v);
            None
        }
    };
    let version = match map.get("version") {
        None => {
            cx.missing("version", "a string such as \"1.0.0\"");
            None
        }
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(v @ Value::Number(_)) => {
            cx.type_err("version", "a string (quote it: version: \"1.0\")", v);
            None
        }
        Some(v) => {
            cx.type_err("version", "a non-empty string", v);
            None
        }
    };
    let modality = match map.get("modality") {
        None => {
            cx.missing("modality", "one of image, video, audio");
            None
        }
        Some(Value::String(s)) => match s.parse::<Modality>() {
            Ok(m) => Some(m),
            Err(_) => {
                cx.err(
                    "config-value",
                    format!("`modality` is {s:?}; it must be one of image, video, audio"),
                );
                None
            }
        },
        Some(v) => {
            cx.type_err("modality", "one of the strings image, video, audio", v);
            None
        }
    };

    // preprocessing
    let mut pre = Preprocessing::default();
    let mut pre_ok = true;
    let empty = Map::new();
    let pmap = match map.get("preprocessing") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(v) => {
            cx.type_err("preprocessing", "a mapping", v);
            pre_ok = false;
            &empty
        }
    };
    cx.unknown_keys(
        pmap,
        "preprocessing",
        &[
            "resize",
            "max_frames",
            "sample_rate",
            "duration_seconds",
            "fps",
            "normalize",
        ],
    );
    if let Some(v) = pmap.get("resize") {
        match v.as_array() {
            Some(a) if a.len() == 2 => {
                let h = cx.pos_int(&a[0], "preprocessing.resize[0]");
                let w = cx.pos_int(&a[1], "preprocessing.resize[1]");
                match (h, w) {
                    (Some(h), Some(w)) => pre.resize = Some([h, w]),
                    _ => pre_ok = false,
                }
            }
            _ => {
                cx.type_err(
                    "preprocessing.resize",
                    "a list of two positive integers [H, W]",
                    v,
                );
                pre_ok = false;
            }
        }
    }
    macro_rules! opt_field {
        ($key:literal, $method:ident, $slot:expr) => {
            if let Some(v) = pmap.get($key) {
                match cx.$method(v, concat!("preprocessing.", $key)) {
                    Some(x) => $slot = Some(x),
                    None => pre_ok = false,
                }
            }
        };
    }
    opt_field!("max_frames", pos_int, pre.max_frames);
    opt_field!("sample_rate", pos_int, pre.sample_rate);
    opt_field!("duration_seconds", pos_num, pre.duration_seconds);
    opt_field!("fps", pos_num, pre.fps);
    if let Some(v) = pmap.get("normalize") {
        match v.as_object() {
            Some(nm) => {
                cx.unknown_keys(nm, "preprocessing.normalize", &["mean", "std"]);
                let mean = match nm.get("mean") {
                    Some(m) => cx.num_list(m, "preprocessing.normalize.mean", false),
                    None => {
                        cx.missing(
                            "preprocessing.normalize.mean",
                            "a list of numbers, one per channel",
                        );
                        None
                    }
                };
                let std = match nm.get("std") {
                    Some(s) => cx.num_list(s, "preprocessing.normalize.std", true),
                    None => {
                        cx.missing(
                            "preprocessing.normalize.std",
                            "a list of positive numbers, one per channel",
                        );
                        None
                    }
                };
                match (mean, std) {
                    (Some(mean), Some(std)) => {
                        if mean.len() != std.len() {
                            cx.err("config-value", format!(
                                "`preprocessing.normalize.mean` has {} values but `std` has {}; give one value per channel in both",
                                mean.len(), std.len()));
                            pre_ok = false;
                        } else {
                            pre.normalize = Some(Normalize { mean, std });
                        }
                    }
                    _ => pre_ok = false,
                }
            }
            None => {
                cx.type_err(
                    "preprocessing.normalize",
                    "a mapping {mean: [...], std: [...]}",
                    v,
                );
                pre_ok = false;
            }
        }
    }

    // model
    let mut model_sec = None;
    match map.get("model") {
        None => cx.missing(
            "model",
            "a mapping with num_classes (and optionally weights_file)",
        ),
        Some(Value::Object(mm)) => {
            cx.unknown_keys(mm, "model", &["num_classes", "weights_file"]);
            let nc = match mm.get("num_classes") {
                None => {
                    cx.missing(
                        "model.num_classes",
                        "2 for [real, synthetic], 3 or more for multiclass",
                    );
                    None
                }
                Some(v) => match v.as_u64() {
                    Some(n) if (2..=u32::MAX as u64).contains(&n) => Some(n as u32),
                    _ => {
                        cx.type_err("model.num_classes", "an integer ≥ 2", v);
                        None
                    }
                },
            };
            let wf = match mm.get("weights_file") {
                None | Some(Value::Null) => Some(DEFAULT_WEIGHTS_FILE.to_string()),
                Some(Value::String(s)) => {
                    if s.is_empty()
                        || s.contains('/')
                        || s.contains('\\')
                        || s.starts_with('.')
                        || !s.ends_with(".safetensors")
                    {
                        cx.err("config-value", format!(
                            "`model.weights_file` is {s:?}; it must be a plain file name at the package root ending in .safetensors (e.g. \"model.safetensors\")"));
                        None
                    } else {
                        Some(s.clone())
                    }
                }
                Some(v) => {
                    cx.type_err("model.weights_file", "a file name string", v);
                    None
                }
            };
            if let (Some(num_classes), Some(weights_file)) = (nc, wf) {
                model_sec = Some(ModelSection {
                    num_classes,
                    weights_file,
                });
            }
        }
        Some(v) => cx.type_err("model", "a mapping with num_classes", v),
    }

    // per-modality rules
    if let Some(m) = modality {
        let unused = |cx: &mut Ctx, key: &str, present: bool| {
            if present {
                cx.warn(
                    "config-unused",
                    format!("`preprocessing.{key}` is not used for {m} models; remove it"),
                );
            }
        };
        match m {
            Modality::Image => {
                if pmap.get("resize").is_none() {
                    cx.warn("config-default", "`preprocessing.resize` is absent: images will be resized to the default [224, 224]; set it explicitly".into());
                }
                unused(&mut cx, "max_frames", pmap.contains_key("max_frames"));
                unused(&mut cx, "sample_rate", pmap.contains_key("sample_rate"));
                unused(
                    &mut cx,
                    "duration_seconds",
                    pmap.contains_key("duration_seconds"),
                );
            }
            Modality::Video => {
                if !pmap.contains_key("resize") {
                    cx.missing(
                        "preprocessing.resize",
                        "video models need [H, W], e.g. [224, 224]",
                    );
                    pre_ok = false;
                }
                if !pmap.contains_key("max_frames") {
                    cx.missing(
                        "preprocessing.max_frames",
                        "video models need the frames per clip, e.g. 16",
                    );
                    pre_ok = false;
                }
                unused(&mut cx, "sample_rate", pmap.contains_key("sample_rate"));
                unused(
                    &mut cx,
                    "duration_seconds",
                    pmap.contains_key("duration_seconds"),
                );
            }
            Modality::Audio => {
                if !pmap.contains_key("sample_rate") {
                    cx.missing(
                        "preprocessing.sample_rate",
                        "audio models need the rate in Hz, e.g. 16000",
                    );
                    pre_ok = false;
                }
                if !pmap.contains_key("duration_seconds") {
                    cx.missing(
                        "preprocessing.duration_seconds",
                        "audio models need the clip length, e.g. 6.0",
                    );
                    pre_ok = false;
                }
                unused(&mut cx, "resize", pmap.contains_key("resize"));
                unused(&mut cx, "max_frames", pmap.contains_key("max_frames"));
            }
        }
    }

    let config = match (name, version, modality, model_sec) {
        (Some(name), Some(version), Some(modality), Some(model))
            if pre_ok && cx.errors.is_empty() =>
        {
            Some(ModelConfig {
                name,
                version,
                modality,
                preprocessing: pre,
                model,
            })
        }
        _ => None,
    };
    ConfigCheck {
        config,
        modality,
        errors: cx.errors,
        warnings: cx.warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(c: &ConfigCheck) -> Vec<String> {
        c.errors
            .iter()
            .map(|f| format!("{}: {}", f.rule, f.message))
            .collect()
    }

    #[test]
    fn good_image_config() {
        let c = check_config(
            "name: a\nversion: \"1.0\"\nmodality: image\npreprocessing:\n  resize: [64, 32]\nmodel:\n  num_classes: 2\n",
            CONFIG_FILE,
        );
        assert!(c.errors.is_empty(), "{:?}", rules(&c));
        let cfg = c.config.unwrap();
        assert_eq!(cfg.image_size(), [64, 32]);
        assert_eq!(cfg.model.weights_file, "model.safetensors");
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn image_without_resize_warns_and_defaults() {
        let c = check_config(
            "name: a\nversion: '1'\nmodality: image\nmodel: {num_classes: 3}\n",
            CONFIG_FILE,
        );
        assert!(c.errors.is_empty());
        assert_eq!(c.config.unwrap().image_size(), [224, 224]);
        assert!(c.warnings.iter().any(|w| w.rule == "config-default"));
    }

    #[test]
    fn wrong_type_names_key_path() {
        let c = check_config(
            "name: a\nversion: '1'\nmodality: image\npreprocessing:\n  resize: [224, \"x\"]\nmodel: {num_classes: 2}\n",
            CONFIG_FILE,
        );
        assert!(c.config.is_none());
        assert!(
            c.errors
                .iter()
                .any(|f| f.rule == "config-type" && f.message.contains("preprocessing.resize[1]")),
            "{:?}",
            rules(&c)
        );
    }

    #[test]
    fn missing_keys_and_unknown_keys() {
        let c = check_config(
            "name: a\nmodality: video\nextra: 1\nmodel: {num_classes: 2}\n",
            CONFIG_FILE,
        );
        let msgs = rules(&c);
        assert!(msgs.iter().any(|m| m.contains("`version`")), "{msgs:?}");
        assert!(
            msgs.iter().any(|m| m.contains("preprocessing.max_frames")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.contains("preprocessing.resize")),
            "{msgs:?}"
        );
        assert!(
            c.warnings
                .iter()
                .any(|w| w.rule == "config-unknown-key" && w.message.contains("extra"))
        );
        assert_eq!(c.modality, Some(Modality::Video));
    }

    #[test]
    fn audio_needs_rate_and_duration() {
        let ok = check_config(
            "name: a\nversion: '1'\nmodality: audio\npreprocessing: {sample_rate: 16000, duration_seconds: 6.0}\nmodel: {num_classes: 2}\n",
            CONFIG_FILE,
        );
        assert_eq!(ok.config.unwrap().audio_samples(), Some(96000));
        let bad = check_config(
            "name: a\nversion: '1'\nmodality: audio\nmodel: {num_classes: 2}\n",
            CONFIG_FILE,
        );
        assert_eq!(
            bad.errors
                .iter()
                .filter(|f| f.rule == "config-missing")
                .count(),
            2
        );
    }

    #[test]
    fn bad_values() {
        let c = check_config(
            "name: ''\nversion: 1.0\nmodality: smell\nmodel: {num_classes: 1, weights_file: ../x.safetensors}\n",
            CONFIG_FILE,
        );
        let msgs = rules(&c);
        assert!(msgs.iter().any(|m| m.contains("`name`")));
        assert!(msgs.iter().any(|m| m.contains("quote it")));
        assert!(msgs.iter().any(|m| m.contains("smell")));
        assert!(msgs.iter().any(|m| m.contains("model.num_classes")));
        assert!(msgs.iter().any(|m| m.contains("weights_file")));
    }

    #[test]
    fn yaml_syntax_error_is_a_finding() {
        let c = check_config("name: [unclosed\n", CONFIG_FILE);
        assert_eq!(c.errors[0].rule, "config-syntax");
        let c = check_config("- just\n- a list\n", CONFIG_FILE);
        assert_eq!(c.errors[0].rule, "config-type");
    }

    #[test]
    fn modality_parse_display() {
        for m in Modality::ALL {
            assert_eq!(m.to_string().parse::<Modality>().unwrap(), m);
        }
        assert!("onnx".parse::<Modality>().is_err());
    }
}
