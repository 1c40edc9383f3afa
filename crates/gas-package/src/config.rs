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

/// `preprocessing:` section, as written. What the network feeds is given by the resolving
/// methods of [`ModelConfig`] ([`ModelConfig::image_size`], [`ModelConfig::video_frames`],
/// [`ModelConfig::frame_rate`], [`AUDIO_SAMPLES`]), not by these raw values.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Preprocessing {
    pub resize: Option<[u32; 2]>,
    /// Frames per clip (video); the network reads this key first.
    #[serde(default)]
    pub num_frames: Option<u32>,
    /// Alias of `num_frames`, read when `num_frames` is absent.
    pub max_frames: Option<u32>,
    /// Sample the clip at this rate (frames per second) from frame 0 (video).
    #[serde(default)]
    pub frame_rate: Option<f64>,
    /// Not read by the network (it always feeds 16 kHz); kept to warn about it.
    pub sample_rate: Option<u32>,
    /// Not read by the network (it always feeds 6 s); kept to warn about it.
    pub duration_seconds: Option<f64>,
    /// gascli's former name for `frame_rate`; the network does not read it: changes nothing.
    pub fps: Option<f64>,
    /// Not read by the network (it passes only `model:` keys to `load_model`).
    pub normalize: Option<Normalize>,
}

/// `model:` section. The network passes every key but `weights_file` to `load_model` as a
/// keyword argument ([`ModelConfig::load_model_kwargs`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSection {
    pub num_classes: u32,
    pub weights_file: String,
    /// The other keys under `model:`, passed on to `load_model` as they are.
    #[serde(default)]
    pub extra: Map<String, Value>,
}

/// Precision the network loads the model's weights in (top-level `dtype`, default float32).
/// Inputs stay uint8 (float32 for audio) whatever it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    #[default]
    Float32,
    Float16,
    Bfloat16,
}

impl Dtype {
    /// The spellings the network accepts (case-insensitive).
    pub const ACCEPTED: &'static str = "float32, fp32, float16, fp16, bfloat16, bf16";
    pub fn as_str(self) -> &'static str {
        match self {
            Dtype::Float32 => "float32",
            Dtype::Float16 => "float16",
            Dtype::Bfloat16 => "bfloat16",
        }
    }
    fn parse(s: &str) -> Option<Dtype> {
        match s.to_ascii_lowercase().as_str() {
            "float32" | "fp32" => Some(Dtype::Float32),
            "float16" | "fp16" => Some(Dtype::Float16),
            "bfloat16" | "bf16" => Some(Dtype::Bfloat16),
            _ => None,
        }
    }
}

/// The network caps a video model's frames per clip at this (`MAX_VIDEO_NUM_FRAMES`).
pub const MAX_VIDEO_FRAMES: u32 = 64;
/// Frames per clip when the config gives none (the network's default).
pub const DEFAULT_VIDEO_FRAMES: u32 = 16;
/// Largest `resize` side gascli accepts. The network sets no bound of its own; this one keeps a
/// batch within memory (a 64-frame clip at 2048×2048 is already 768 MiB of uint8).
pub const MAX_RESIZE_SIDE: u32 = 2048;
/// The network feeds every audio model 16 kHz mono …
pub const AUDIO_SAMPLE_RATE: u32 = 16_000;
/// … cropped or padded to 6 s …
pub const AUDIO_SECONDS: f64 = 6.0;
/// … = 96 000 samples, whatever the config says.
pub const AUDIO_SAMPLES: usize = 96_000;

/// A checked `model_config.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub name: String,
    pub version: String,
    pub modality: Modality,
    #[serde(default)]
    pub dtype: Dtype,
    pub preprocessing: Preprocessing,
    pub model: ModelSection,
}

impl ModelConfig {
    /// `[H, W]` the model is fed: `preprocessing.resize`, or 224×224 when absent.
    pub fn image_size(&self) -> [u32; 2] {
        self.preprocessing.resize.unwrap_or(DEFAULT_IMAGE_SIZE)
    }
    /// Audio samples per clip the network feeds: always [`AUDIO_SAMPLES`].
    pub fn audio_samples(&self) -> usize {
        AUDIO_SAMPLES
    }
    /// Frames per video clip as the network resolves them: `num_frames`, else `max_frames`,
    /// else 16 — read only when `resize` is set (without it the network's input shape is its
    /// default, 16 frames) — capped at [`MAX_VIDEO_FRAMES`].
    pub fn video_frames(&self) -> u32 {
        let p = &self.preprocessing;
        let t = match p.resize {
            Some(_) => p
                .num_frames
                .or(p.max_frames)
                .unwrap_or(DEFAULT_VIDEO_FRAMES),
            None => DEFAULT_VIDEO_FRAMES,
        };
        t.min(MAX_VIDEO_FRAMES)
    }
    /// Frames-per-second sampling rate (`preprocessing.frame_rate`); `None`: consecutive frames.
    pub fn frame_rate(&self) -> Option<f64> {
        self.preprocessing.frame_rate
    }
    /// The keyword arguments the network calls `load_model(weights_path, **kwargs)` with: every
    /// `model:` key except `weights_file`.
    pub fn load_model_kwargs(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("num_classes".into(), Value::from(self.model.num_classes));
        for (k, v) in &self.model.extra {
            m.insert(k.clone(), v.clone());
        }
        m
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

/// Top-level keys the network reads (`version` is ours: the registry and push need it).
const TOP_KEYS: &[&str] = &[
    "name",
    "version",
    "modality",
    "dtype",
    "preprocessing",
    "model",
];
/// `preprocessing:` keys gascli knows; `fps` and `normalize` only to warn that the network does
/// not read them.
const PREPROCESSING_KEYS: &[&str] = &[
    "resize",
    "num_frames",
    "max_frames",
    "frame_rate",
    "sample_rate",
    "duration_seconds",
    "fps",
    "normalize",
];

/// Check the text of `model_config.yaml` (`file` is the name used in findings): each section in
/// its own named check, then the rules of the modality.
pub fn check_config(text: &str, file: &str) -> ConfigCheck {
    let mut cx = Ctx {
        file,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let Some(root) = parse_yaml(&mut cx, text) else {
        return cx.finish(None, None);
    };
    let Some(map) = root.as_object() else {
        cx.type_err(
            "(document root)",
            "a mapping with name, version, modality, preprocessing, model",
            &root,
        );
        return cx.finish(None, None);
    };
    cx.unknown_keys(map, "", TOP_KEYS);
    let name = check_name(&mut cx, map);
    let version = check_version(&mut cx, map);
    let modality = check_modality(&mut cx, map);
    let dtype = check_dtype(&mut cx, map);
    let pre = check_preprocessing(&mut cx, map);
    let model = check_model(&mut cx, map);
    if let (Some(m), Some(pre)) = (modality, &pre) {
        match m {
            Modality::Image => check_image_rules(&mut cx, pre),
            Modality::Video => check_video_rules(&mut cx, pre),
            Modality::Audio => check_audio_rules(&mut cx, pre),
        }
    }
    let config = match (name, version, modality, dtype, pre, model) {
        (
            Some(name),
            Some(version),
            Some(modality),
            Some(dtype),
            Some(preprocessing),
            Some(model),
        ) if cx.errors.is_empty() => Some(ModelConfig {
            name,
            version,
            modality,
            dtype,
            preprocessing,
            model,
        }),
        _ => None,
    };
    cx.finish(config, modality)
}

impl Ctx<'_> {
    fn finish(self, config: Option<ModelConfig>, modality: Option<Modality>) -> ConfigCheck {
        ConfigCheck {
            config,
            modality,
            errors: self.errors,
            warnings: self.warnings,
        }
    }
}

/// YAML → generic value; a syntax error becomes a finding with the parser's line:column.
fn parse_yaml(cx: &mut Ctx, text: &str) -> Option<Value> {
    match serde_saphyr::from_str(text) {
        Ok(v) => Some(v),
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
            let file = cx.file;
            cx.errors.push(Finding::new(
                "config-syntax",
                file,
                line,
                column,
                format!("{file} is not valid YAML: {first}; fix the syntax (see package.md for an example)"),
            ));
            None
        }
    }
}

fn check_name(cx: &mut Ctx, map: &Map<String, Value>) -> Option<String> {
    match map.get("name") {
        None => {
            cx.missing("name", "a non-empty string such as \"my-image-detector\"");
            None
        }
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(v) => {
            cx.type_err("name", "a non-empty string", v);
            None
        }
    }
}

fn check_version(cx: &mut Ctx, map: &Map<String, Value>) -> Option<String> {
    match map.get("version") {
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
    }
}

fn check_modality(cx: &mut Ctx, map: &Map<String, Value>) -> Option<Modality> {
    match map.get("modality") {
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
    }
}

/// Top-level `dtype`: the precision the network loads the weights in; an unknown value makes
/// the network refuse the model.
fn check_dtype(cx: &mut Ctx, map: &Map<String, Value>) -> Option<Dtype> {
    let v = match map.get("dtype") {
        None | Some(Value::Null) => return Some(Dtype::Float32),
        Some(v) => v,
    };
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match Dtype::parse(&text) {
        Some(d) => Some(d),
        None => {
            cx.err(
                "config-value",
                format!(
                    "`dtype` is {}; the network accepts {} (it refuses to load the model otherwise)",
                    describe(v),
                    Dtype::ACCEPTED
                ),
            );
            None
        }
    }
}

/// `preprocessing:` — types and ranges of every key; what each key means for a modality is
/// checked by the modality rules.
fn check_preprocessing(cx: &mut Ctx, map: &Map<String, Value>) -> Option<Preprocessing> {
    let empty = Map::new();
    let pmap = match map.get("preprocessing") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(v) => {
            cx.type_err("preprocessing", "a mapping", v);
            return None;
        }
    };
    cx.unknown_keys(pmap, "preprocessing", PREPROCESSING_KEYS);
    let errors_before = cx.errors.len();
    let mut pre = Preprocessing::default();
    if let Some(v) = pmap.get("resize") {
        pre.resize = check_resize(cx, v);
    }
    let frames = |cx: &mut Ctx, key: &str| {
        pmap.get(key)
            .and_then(|v| cx.pos_int(v, &format!("preprocessing.{key}")))
    };
    pre.num_frames = frames(cx, "num_frames");
    pre.max_frames = frames(cx, "max_frames");
    pre.sample_rate = frames(cx, "sample_rate");
    let num = |cx: &mut Ctx, key: &str| {
        pmap.get(key)
            .and_then(|v| cx.pos_num(v, &format!("preprocessing.{key}")))
    };
    pre.frame_rate = num(cx, "frame_rate");
    pre.duration_seconds = num(cx, "duration_seconds");
    if let Some(v) = pmap.get("fps") {
        // not read by the network: its value changes nothing, so its type is no error either
        pre.fps = v.as_f64();
        cx.warn(
            "config-not-read",
            "`preprocessing.fps` is not read by the network and changes nothing; its key for frame sampling is `preprocessing.frame_rate`".into(),
        );
    }
    if let Some(v) = pmap.get("normalize") {
        pre.normalize = check_normalize(cx, v);
        cx.warn(
            "config-not-read",
            "`preprocessing.normalize` is not read by the network: it passes only `model:` keys to load_model; normalise inside forward(), or move it under `model:` to receive it as load_model(normalize=...)".into(),
        );
    }
    (cx.errors.len() == errors_before).then_some(pre)
}

fn check_resize(cx: &mut Ctx, v: &Value) -> Option<[u32; 2]> {
    let Some(a) = v.as_array().filter(|a| a.len() == 2) else {
        cx.type_err(
            "preprocessing.resize",
            "a list of two positive integers [H, W]",
            v,
        );
        return None;
    };
    let h = cx.pos_int(&a[0], "preprocessing.resize[0]");
    let w = cx.pos_int(&a[1], "preprocessing.resize[1]");
    let (h, w) = (h?, w?);
    if h > MAX_RESIZE_SIDE || w > MAX_RESIZE_SIDE {
        cx.err(
            "config-value",
            format!(
                "`preprocessing.resize` is [{h}, {w}]; gascli accepts sides up to {MAX_RESIZE_SIDE} (the network sets no bound, but a batch this size does not fit in memory); use a smaller input size"
            ),
        );
        return None;
    }
    Some([h, w])
}

fn check_normalize(cx: &mut Ctx, v: &Value) -> Option<Normalize> {
    let Some(nm) = v.as_object() else {
        cx.type_err(
            "preprocessing.normalize",
            "a mapping {mean: [...], std: [...]}",
            v,
        );
        return None;
    };
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
    let (mean, std) = (mean?, std?);
    if mean.len() != std.len() {
        cx.err("config-value", format!(
            "`preprocessing.normalize.mean` has {} values but `std` has {}; give one value per channel in both",
            mean.len(), std.len()));
        return None;
    }
    Some(Normalize { mean, std })
}

/// `model:` — `num_classes`, `weights_file`, and the keys passed on to `load_model`.
fn check_model(cx: &mut Ctx, map: &Map<String, Value>) -> Option<ModelSection> {
    let mm = match map.get("model") {
        None => {
            cx.missing(
                "model",
                "a mapping with num_classes (and optionally weights_file)",
            );
            return None;
        }
        Some(Value::Object(mm)) => mm,
        Some(v) => {
            cx.type_err("model", "a mapping with num_classes", v);
            return None;
        }
    };
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
    let wf = check_weights_file(cx, mm.get("weights_file"));
    let mut extra = Map::new();
    for (k, v) in mm {
        if k == "num_classes" || k == "weights_file" {
            continue;
        }
        cx.warn(
            "config-load-kwarg",
            format!(
                "`model.{k}` is passed to load_model as the keyword argument {k}={}, as the network passes every `model:` key except weights_file; load_model must accept it (or **kwargs), else the network retries load_model(weights_path, num_classes=...) without it",
                serde_json::to_string(v).unwrap_or_default()
            ),
        );
        extra.insert(k.clone(), v.clone());
    }
    Some(ModelSection {
        num_classes: nc?,
        weights_file: wf?,
        extra,
    })
}

fn check_weights_file(cx: &mut Ctx, v: Option<&Value>) -> Option<String> {
    match v {
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
    }
}

/// A key that means nothing for this modality.
fn warn_unused(cx: &mut Ctx, m: Modality, key: &str, present: bool) {
    if present {
        cx.warn(
            "config-unused",
            format!("`preprocessing.{key}` is not used for {m} models; remove it"),
        );
    }
}

fn check_image_rules(cx: &mut Ctx, pre: &Preprocessing) {
    if pre.resize.is_none() {
        cx.warn("config-default", "`preprocessing.resize` is absent: images will be resized to the default [224, 224]; set it explicitly".into());
    }
    let m = Modality::Image;
    warn_unused(cx, m, "num_frames", pre.num_frames.is_some());
    warn_unused(cx, m, "max_frames", pre.max_frames.is_some());
    warn_unused(cx, m, "frame_rate", pre.frame_rate.is_some());
    warn_unused(cx, m, "sample_rate", pre.sample_rate.is_some());
    warn_unused(cx, m, "duration_seconds", pre.duration_seconds.is_some());
}

/// Video: frames as the network resolves them (`num_frames`, alias `max_frames`, default 16,
/// capped at 64, read only with `resize`), `frame_rate` sampling.
fn check_video_rules(cx: &mut Ctx, pre: &Preprocessing) {
    let given = pre.num_frames.or(pre.max_frames);
    if pre.resize.is_none() {
        let also = if given.is_some() {
            " and, without it, the network ignores num_frames/max_frames and feeds 16 frames"
        } else {
            ""
        };
        cx.warn("config-default", format!(
            "`preprocessing.resize` is absent: frames will be resized to the default [224, 224]{also}; set it explicitly"));
    } else if given.is_none() {
        cx.warn("config-default", format!(
            "`preprocessing.num_frames` is absent: the network feeds {DEFAULT_VIDEO_FRAMES} frames per clip; set it explicitly"));
    }
    if let (Some(n), Some(m)) = (pre.num_frames, pre.max_frames)
        && n != m
    {
        cx.warn("config-conflict", format!(
            "`preprocessing.num_frames` ({n}) and `max_frames` ({m}) differ: the network reads num_frames; remove max_frames"));
    }
    if let Some(t) = given
        && t > MAX_VIDEO_FRAMES
    {
        let key = if pre.num_frames.is_some() {
            "num_frames"
        } else {
            "max_frames"
        };
        cx.warn("config-capped", format!(
            "`preprocessing.{key}` is {t}; the network caps frames per clip at {MAX_VIDEO_FRAMES} and feeds {MAX_VIDEO_FRAMES}; set {MAX_VIDEO_FRAMES} or less"));
    }
    let m = Modality::Video;
    warn_unused(cx, m, "sample_rate", pre.sample_rate.is_some());
    warn_unused(cx, m, "duration_seconds", pre.duration_seconds.is_some());
}

/// Audio: the network always feeds 16 kHz × 6 s; other values change nothing.
fn check_audio_rules(cx: &mut Ctx, pre: &Preprocessing) {
    if let Some(sr) = pre.sample_rate
        && sr != AUDIO_SAMPLE_RATE
    {
        cx.warn("config-audio-fixed", format!(
            "`preprocessing.sample_rate` is {sr}, but the network always feeds audio at {AUDIO_SAMPLE_RATE} Hz × {AUDIO_SECONDS} s = {AUDIO_SAMPLES} samples whatever the config says; this value changes nothing (set {AUDIO_SAMPLE_RATE})"));
    }
    if let Some(d) = pre.duration_seconds
        && d != AUDIO_SECONDS
    {
        cx.warn("config-audio-fixed", format!(
            "`preprocessing.duration_seconds` is {d}, but the network always feeds {AUDIO_SECONDS} s at {AUDIO_SAMPLE_RATE} Hz = {AUDIO_SAMPLES} samples whatever the config says; this value changes nothing (set {AUDIO_SECONDS})"));
    }
    let m = Modality::Audio;
    warn_unused(cx, m, "resize", pre.resize.is_some());
    warn_unused(cx, m, "num_frames", pre.num_frames.is_some());
    warn_unused(cx, m, "max_frames", pre.max_frames.is_some());
    warn_unused(cx, m, "frame_rate", pre.frame_rate.is_some());
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
            c.warnings
                .iter()
                .any(|w| w.rule == "config-unknown-key" && w.message.contains("extra"))
        );
        // video without resize / frames: the network's defaults, said as warnings
        assert!(
            c.warnings
                .iter()
                .any(|w| w.rule == "config-default" && w.message.contains("resize"))
        );
        assert_eq!(c.modality, Some(Modality::Video));
    }

    fn video(pre: &str) -> ConfigCheck {
        check_config(
            &format!(
                "name: v\nversion: '1'\nmodality: video\npreprocessing: {pre}\nmodel: {{num_classes: 2}}\n"
            ),
            CONFIG_FILE,
        )
    }

    #[test]
    fn video_frames_as_the_network_reads_them() {
        let frames = |pre: &str| video(pre).config.unwrap().video_frames();
        assert_eq!(frames("{resize: [8, 8], num_frames: 8}"), 8);
        assert_eq!(frames("{resize: [8, 8], max_frames: 9}"), 9);
        assert_eq!(frames("{resize: [8, 8], num_frames: 5, max_frames: 9}"), 5);
        assert_eq!(frames("{resize: [8, 8]}"), DEFAULT_VIDEO_FRAMES);
        // without resize the network's input shape is its default: num_frames is not read
        assert_eq!(frames("{num_frames: 8}"), DEFAULT_VIDEO_FRAMES);
        // capped, with a warning, not an error
        let c = video("{resize: [8, 8], max_frames: 100}");
        assert!(c.errors.is_empty());
        assert!(
            c.warnings
                .iter()
                .any(|w| w.rule == "config-capped" && w.message.contains("64"))
        );
        assert_eq!(c.config.unwrap().video_frames(), MAX_VIDEO_FRAMES);
        let c = video("{resize: [8, 8], num_frames: 4, frame_rate: 8}");
        assert_eq!(c.config.unwrap().frame_rate(), Some(8.0));
        assert!(video("{resize: [8, 8], frame_rate: 0}").config.is_none());
    }

    #[test]
    fn keys_the_network_does_not_read_change_nothing_and_say_so() {
        let c = video("{resize: [8, 8], num_frames: 4, fps: 2}");
        let cfg = c.config.unwrap();
        assert_eq!(cfg.frame_rate(), None);
        assert!(
            c.warnings
                .iter()
                .any(|w| w.rule == "config-not-read" && w.message.contains("frame_rate"))
        );
        // even a wrong type: the key is not read
        assert!(
            video("{resize: [8, 8], num_frames: 4, fps: fast}")
                .errors
                .is_empty()
        );
    }

    #[test]
    fn audio_is_always_16k_by_6s() {
        let c = check_config(
            "name: a\nversion: '1'\nmodality: audio\npreprocessing: {sample_rate: 8000, duration_seconds: 2.0}\nmodel: {num_classes: 2}\n",
            CONFIG_FILE,
        );
        assert!(c.errors.is_empty());
        assert_eq!(c.config.unwrap().audio_samples(), AUDIO_SAMPLES);
        let w: Vec<_> = c
            .warnings
            .iter()
            .filter(|w| w.rule == "config-audio-fixed")
            .collect();
        assert_eq!(w.len(), 2, "{:?}", c.warnings);
        assert!(w[0].message.contains("16000 Hz"));
        // no preprocessing at all is fine: the network needs none
        let c = check_config(
            "name: a\nversion: '1'\nmodality: audio\nmodel: {num_classes: 2}\n",
            CONFIG_FILE,
        );
        assert!(
            c.errors.is_empty() && c.warnings.is_empty(),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn model_keys_become_load_model_kwargs() {
        let c = check_config(
            "name: a\nversion: '1'\nmodality: image\npreprocessing: {resize: [8, 8], normalize: {mean: [0.5], std: [0.5]}}\nmodel: {num_classes: 3, weights_file: w.safetensors, head_scale: 2.0, arch: {depth: 2}}\n",
            CONFIG_FILE,
        );
        let cfg = c.config.clone().unwrap();
        let kw = cfg.load_model_kwargs();
        assert_eq!(kw.len(), 3);
        assert_eq!(kw["num_classes"], 3);
        assert_eq!(kw["head_scale"], 2.0);
        assert_eq!(kw["arch"]["depth"], 2);
        assert!(!kw.contains_key("weights_file") && !kw.contains_key("normalize"));
        let w: Vec<_> = c
            .warnings
            .iter()
            .map(|w| (w.rule.as_str(), w.message.as_str()))
            .collect();
        assert!(
            w.iter()
                .any(|(r, m)| *r == "config-load-kwarg" && m.contains("head_scale=2.0")),
            "{w:?}"
        );
        assert!(!w.iter().any(|(_, m)| m.contains("ignored")), "{w:?}");
        assert!(
            w.iter()
                .any(|(r, m)| *r == "config-not-read" && m.contains("normalize")),
            "{w:?}"
        );
    }

    #[test]
    fn dtype_and_resize_bounds() {
        let img = |extra: &str| {
            check_config(
                &format!(
                    "name: a\nversion: '1'\nmodality: image\n{extra}model: {{num_classes: 2}}\n"
                ),
                CONFIG_FILE,
            )
        };
        assert_eq!(img("").config.unwrap().dtype, Dtype::Float32);
        assert_eq!(img("dtype: BF16\n").config.unwrap().dtype, Dtype::Bfloat16);
        assert_eq!(img("dtype: fp16\n").config.unwrap().dtype, Dtype::Float16);
        let bad = img("dtype: int8\n");
        assert!(bad.config.is_none() && bad.errors[0].message.contains("bfloat16"));
        let big = img("preprocessing: {resize: [8192, 8192]}\n");
        assert!(big.config.is_none());
        assert!(big.errors[0].message.contains("2048"), "{:?}", big.errors);
        assert!(
            img("preprocessing: {resize: [2048, 2048]}\n")
                .config
                .is_some()
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
