//! `gas-package` owns the GAS model package format: `model_config.yaml` (typed config and its
//! schema check), the safetensors header check, ZIP safety rules, the static analysis of
//! `model.py` ([`analyzer`]), the deterministic package ZIP ([`package`], [`package_dir`]) and
//! safe extraction into a scratch directory ([`materialize`]).
//!
//! Validate once: [`validate`] gives the full report (for display); [`validate_package`] gives a
//! [`ValidatedPackage`] handle (path, report, parsed config) that [`materialize`] and
//! [`package`] take, so a benchmark or a push checks a package exactly once.
//!
//! It must not run model code, load weights into memory, touch the network or the chain, or
//! write anywhere except the output path / scratch directory it is given. Rule ids are listed
//! in `RULES.md` next to this crate's `Cargo.toml`.

pub mod analyzer;
pub mod config;
mod policy;
pub mod st;
mod zipio;

pub use config::{
    AUDIO_SAMPLE_RATE, AUDIO_SAMPLES, AUDIO_SECONDS, CONFIG_FILE, ConfigCheck, DEFAULT_IMAGE_SIZE,
    DEFAULT_VIDEO_FRAMES, DEFAULT_WEIGHTS_FILE, Dtype, MAX_RESIZE_SIDE, MAX_VIDEO_FRAMES, Modality,
    ModelConfig, ModelSection, Normalize, ParseModalityError, Preprocessing, check_config,
};
pub use zipio::{
    MAX_COMPRESSION_RATIO, MAX_ENTRIES, MAX_TOTAL_UNCOMPRESSED, RATIO_CHECK_MIN_BYTES,
};

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The Python file every package ships.
pub const MODEL_FILE: &str = "model.py";
/// Optional Hugging Face config shipped for `AutoModel.from_pretrained()` models.
pub const HF_CONFIG_FILE: &str = "config.json";
/// Largest `model_config.yaml` / `config.json` read.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Largest `model.py` read.
pub const MAX_MODEL_PY_BYTES: u64 = 4 << 20;
/// Pickle-based weight formats refused like `pickle` itself.
pub const PICKLE_EXTENSIONS: &[&str] = &["bin", "pt", "pth", "ckpt", "pkl", "pickle"];

/// One problem (error or warning) found in a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable kebab-case rule id (see RULES.md).
    pub rule: String,
    /// File inside the package (or the package path itself) the finding is about.
    pub file: String,
    /// 1-based line, where it applies.
    pub line: Option<u32>,
    /// 1-based column, where it applies.
    pub column: Option<u32>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Finding {
    pub fn new(
        rule: &str,
        file: &str,
        line: Option<u32>,
        column: Option<u32>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            rule: rule.to_string(),
            file: file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": [{}] {}", self.rule, self.message)
    }
}

/// Tensor and archive figures of a package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub tensors: u64,
    pub parameters: u64,
    pub dtypes: Vec<String>,
    /// SHA-256 of the ZIP, or of the deterministic ZIP a (valid) directory packages to.
    pub sha256: Option<String>,
    /// Size of that ZIP (for an invalid directory: the sum of its file sizes).
    pub size_bytes: u64,
}

/// Everything `validate` found.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    pub valid: bool,
    pub modality: Option<Modality>,
    pub config: Option<ModelConfig>,
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
    pub summary: Summary,
}

/// A package that passed [`validate`]: its path, its report and its parsed config. Only
/// [`validate_package`] makes one, so [`materialize`] and [`package`] need not check again.
#[derive(Debug, Clone)]
pub struct ValidatedPackage {
    path: PathBuf,
    report: ValidationReport,
    config: ModelConfig,
}

impl ValidatedPackage {
    /// The directory or ZIP that was validated.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The report (no errors; warnings and the summary).
    pub fn report(&self) -> &ValidationReport {
        &self.report
    }
    /// The parsed `model_config.yaml`.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }
    /// SHA-256 of the ZIP, or of the deterministic ZIP the directory packages to.
    pub fn sha256(&self) -> Option<&str> {
        self.report.summary.sha256.as_deref()
    }
    /// Whether the package is a directory (else a ZIP).
    pub fn is_dir(&self) -> bool {
        self.path.is_dir()
    }
    pub fn into_report(self) -> ValidationReport {
        self.report
    }
}

/// [`validate`], then the handle of a valid package; an invalid one is
/// [`PackageError::Invalid`] with the whole report.
pub fn validate_package(
    path: &Path,
    opts: &ValidateOptions,
) -> Result<ValidatedPackage, PackageError> {
    let report = validate(path, opts)?;
    match report.config.clone() {
        Some(config) if report.valid => Ok(ValidatedPackage {
            path: path.to_path_buf(),
            report,
            config,
        }),
        _ => Err(PackageError::Invalid {
            path: path.to_path_buf(),
            report: Box::new(report),
        }),
    }
}

/// Options of [`validate`].
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// The modality the package is used under (`--image-model` → image); a mismatch is an error.
    pub expected_modality: Option<Modality>,
}

/// Result of [`package_dir`].
#[derive(Debug, Clone)]
pub struct PackageOutput {
    pub sha256: String,
    pub size_bytes: u64,
    pub report: ValidationReport,
}

/// Errors of this crate. Package problems are [`Finding`]s, not errors, except where an
/// operation (packaging, extraction) cannot proceed on an invalid package.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: not a model directory or a .zip file", path.display())]
    NotAPackage { path: PathBuf },
    #[error("{}: package is invalid ({} error(s), first: {}); run `gascli d validate {}` for all of them",
        path.display(), report.errors.len(),
        report.errors.first().map(|f| f.to_string()).unwrap_or_default(), path.display())]
    Invalid {
        path: PathBuf,
        report: Box<ValidationReport>,
    },
    #[error("{}: {message}", path.display())]
    Zip { path: PathBuf, message: String },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> PackageError + '_ {
    move |source| PackageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Size of each read buffer used by [`sha256_file`].
const HASH_BUF: usize = 1 << 20;

/// Streaming SHA-256 of a file, lowercase hex.
///
/// A reader thread fills buffers while this thread hashes, so copying from the page cache /
/// disk overlaps with hashing. Exactly three buffers of [`HASH_BUF`] bytes circulate
/// (bounded channels, buffers recycled), so memory stays flat whatever the file size.
pub fn sha256_file(path: &Path) -> Result<String, PackageError> {
    use std::sync::mpsc::sync_channel;
    let mut f = File::open(path).map_err(io_err(path))?;
    let (full_tx, full_rx) = sync_channel::<io::Result<(Vec<u8>, usize)>>(3);
    let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(3);
    for _ in 0..3 {
        // cannot fail: capacity 3, receiver alive
        let _ = empty_tx.send(vec![0u8; HASH_BUF]);
    }
    let reader = std::thread::spawn(move || {
        while let Ok(mut buf) = empty_rx.recv() {
            let mut filled = 0;
            let res = loop {
                if filled == buf.len() {
                    break Ok(());
                }
                match f.read(&mut buf[filled..]) {
                    Ok(0) => break Ok(()),
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            let done = filled == 0 || res.is_err();
            let msg = res.map(|()| (buf, filled));
            if full_tx.send(msg).is_err() || done {
                return;
            }
        }
    });
    let mut h = Sha256::new();
    let mut result = Ok(());
    while let Ok(msg) = full_rx.recv() {
        match msg {
            Ok((buf, n)) => {
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                // The reader may already have sent its last message and exited; what it
                // queued is still received, so a failed hand-back is not an error.
                let _ = empty_tx.send(buf);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    drop(empty_tx);
    drop(full_rx);
    if reader.join().is_err() {
        result = Err(io::Error::other("hash reader thread panicked"));
    }
    result.map_err(io_err(path))?;
    Ok(hex::encode(h.finalize()))
}

/// A writer that hashes and counts what passes through it.
pub(crate) struct HashWriter<W> {
    pub inner: W,
    pub hasher: Sha256,
    pub count: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What kind of file a root entry of a package is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Config,
    Model,
    HfConfig,
    Weights,
    Onnx,
    Pickle,
    Other,
}

pub(crate) fn classify(name: &str) -> Kind {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match name {
        CONFIG_FILE => Kind::Config,
        MODEL_FILE => Kind::Model,
        HF_CONFIG_FILE => Kind::HfConfig,
        _ if ext == "safetensors" => Kind::Weights,
        _ if ext == "onnx" => Kind::Onnx,
        _ if PICKLE_EXTENSIONS.contains(&ext) => Kind::Pickle,
        _ => Kind::Other,
    }
}

/// Validate a model directory or ZIP. `Err` only for I/O-level problems (path missing or
/// unreadable); every package problem is a [`Finding`] in the report.
pub fn validate(path: &Path, opts: &ValidateOptions) -> Result<ValidationReport, PackageError> {
    let meta = std::fs::metadata(path).map_err(io_err(path))?;
    let mut src = if meta.is_dir() {
        zipio::Source::open_dir(path)?
    } else if meta.is_file() {
        zipio::Source::open_zip(path)?
    } else {
        return Err(PackageError::NotAPackage {
            path: path.to_path_buf(),
        });
    };
    let mut errors = std::mem::take(&mut src.errors);
    let mut warnings = std::mem::take(&mut src.warnings);

    for e in &src.entries {
        match classify(&e.name) {
            Kind::Onnx => errors.push(Finding::new("onnx-refused", &e.name, None, None,
                "ONNX models are no longer accepted: export the weights to safetensors (safetensors.torch.save_file) and ship a model.py defining load_model()")),
            Kind::Pickle => errors.push(Finding::new("pickle-weights", &e.name, None, None,
                "pickled weights can run arbitrary code when loaded and are refused: convert them with safetensors.torch.save_file(model.state_dict(), 'model.safetensors')")),
            Kind::Other => warnings.push(Finding::new("extra-file", &e.name, None, None,
                "not part of a package (model_config.yaml, model.py, *.safetensors, config.json): it is ignored and will not be packaged")),
            _ => {}
        }
    }

    // model_config.yaml
    let mut cfg_check = ConfigCheck::default();
    match src.find(CONFIG_FILE) {
        None => errors.push(Finding::new("missing-file", CONFIG_FILE, None, None,
            format!("{CONFIG_FILE} is required at the package root: add it (name, version, modality, preprocessing, model.num_classes; see package.md)"))),
        Some(i) => match src.read_text(i, MAX_CONFIG_BYTES) {
            Ok(text) => cfg_check = check_config(&text, CONFIG_FILE),
            Err(msg) => errors.push(Finding::new("file-unreadable", CONFIG_FILE, None, None, msg)),
        },
    }
    errors.append(&mut cfg_check.errors);
    warnings.append(&mut cfg_check.warnings);
    if let (Some(want), Some(got)) = (opts.expected_modality, cfg_check.modality)
        && want != got
    {
        errors.push(Finding::new(
            "modality-mismatch",
            CONFIG_FILE,
            None,
            None,
            format!(
                "the package is used as a {want} model but its config says modality: {got}; \
                 use the --{got}-model option or fix `modality`"
            ),
        ));
    }

    // model.py
    match src.find(MODEL_FILE) {
        None => errors.push(Finding::new("missing-file", MODEL_FILE, None, None,
            "model.py is required at the package root: add it, defining load_model(weights_path, num_classes=2)")),
        Some(i) => match src.read_text(i, MAX_MODEL_PY_BYTES) {
            Ok(text) => {
                for f in analyzer::analyze(&text, MODEL_FILE) {
                    if analyzer::is_warning_rule(&f.rule) {
                        warnings.push(f);
                    } else {
                        errors.push(f);
                    }
                }
            }
            Err(msg) => errors.push(Finding::new("file-unreadable", MODEL_FILE, None, None, msg)),
        },
    }

    // config.json (optional)
    if let Some(i) = src.find(HF_CONFIG_FILE) {
        match src.read_text(i, MAX_CONFIG_BYTES) {
            Ok(text) => {
                if let Err(e) =
                    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text)
                {
                    errors.push(Finding::new("config-json", HF_CONFIG_FILE, Some(e.line() as u32), Some(e.column() as u32),
                        format!("config.json is not a JSON object: {e}; regenerate it with model.config.save_pretrained()")));
                }
            }
            Err(msg) => errors.push(Finding::new(
                "file-unreadable",
                HF_CONFIG_FILE,
                None,
                None,
                msg,
            )),
        }
    }

    // weights
    let weights_name = cfg_check
        .config
        .as_ref()
        .map(|c| c.model.weights_file.clone())
        .unwrap_or_else(|| DEFAULT_WEIGHTS_FILE.to_string());
    let mut summary = Summary::default();
    let weight_entries: Vec<usize> = (0..src.entries.len())
        .filter(|&i| classify(&src.entries[i].name) == Kind::Weights)
        .collect();
    if src.find(&weights_name).is_none() {
        let found: Vec<&str> = weight_entries
            .iter()
            .map(|&i| src.entries[i].name.as_str())
            .collect();
        errors.push(Finding::new("missing-file", &weights_name, None, None,
            if found.is_empty() {
                format!("weights file {weights_name} is missing: save the weights with safetensors.torch.save_file(model.state_dict(), '{weights_name}')")
            } else {
                format!("weights file {weights_name} is missing (found {}): rename the file or set model.weights_file in {CONFIG_FILE}", found.join(", "))
            }));
    }
    for i in weight_entries {
        let name = src.entries[i].name.clone();
        match src.check_safetensors(i) {
            Ok(stats) => {
                if name == weights_name {
                    summary.tensors = stats.tensors;
                    summary.parameters = stats.parameters;
                    summary.dtypes = stats.dtypes;
                }
            }
            Err(problems) => {
                for p in problems {
                    errors.push(Finding::new("safetensors-header", &name, None, None, p));
                }
            }
        }
    }

    let valid = errors.is_empty();
    match &src.kind {
        zipio::SourceKind::Zip { .. } => {
            summary.sha256 = Some(sha256_file(path)?);
            summary.size_bytes = meta.len();
        }
        zipio::SourceKind::Dir(dir) => {
            if valid {
                let names = package_names(&src);
                let mut hw = HashWriter {
                    inner: io::sink(),
                    hasher: Sha256::new(),
                    count: 0,
                };
                zipio::write_deterministic_zip(dir, &names, &mut hw).map_err(|e| {
                    PackageError::Zip {
                        path: path.to_path_buf(),
                        message: e.to_string(),
                    }
                })?;
                summary.sha256 = Some(hex::encode(hw.hasher.finalize()));
                summary.size_bytes = hw.count;
            } else {
                summary.size_bytes = src.entries.iter().map(|e| e.size).sum();
            }
        }
    }
    Ok(ValidationReport {
        valid,
        modality: cfg_check.modality,
        config: cfg_check.config,
        errors,
        warnings,
        summary,
    })
}

/// Sorted names of the files that go into the package ZIP.
fn package_names(src: &zipio::Source) -> Vec<String> {
    let mut names: Vec<String> = src
        .entries
        .iter()
        .filter(|e| {
            matches!(
                classify(&e.name),
                Kind::Config | Kind::Model | Kind::HfConfig | Kind::Weights
            )
        })
        .map(|e| e.name.clone())
        .collect();
    names.sort();
    names
}

/// Validate a directory, then write the deterministic ZIP to `out` atomically (temp file in
/// the same directory + rename). The same input gives byte-identical output.
pub fn package_dir(dir: &Path, out: &Path) -> Result<PackageOutput, PackageError> {
    let meta = std::fs::metadata(dir).map_err(io_err(dir))?;
    if !meta.is_dir() {
        return Err(PackageError::NotAPackage {
            path: dir.to_path_buf(),
        });
    }
    package(&validate_package(dir, &ValidateOptions::default())?, out)
}

/// Write the deterministic ZIP of a validated package directory to `out` atomically (temp file
/// in the same directory + rename). A ZIP is already a package: [`PackageError::NotAPackage`].
pub fn package(pkg: &ValidatedPackage, out: &Path) -> Result<PackageOutput, PackageError> {
    let dir = pkg.path();
    let meta = std::fs::metadata(dir).map_err(io_err(dir))?;
    if !meta.is_dir() {
        return Err(PackageError::NotAPackage {
            path: dir.to_path_buf(),
        });
    }
    let src = zipio::Source::open_dir(dir)?;
    let names = package_names(&src);
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(&parent).map_err(io_err(&parent))?;
    let (sha256, size_bytes) = {
        let mut hw = HashWriter {
            inner: io::BufWriter::new(tmp.as_file()),
            hasher: Sha256::new(),
            count: 0,
        };
        zipio::write_deterministic_zip(dir, &names, &mut hw).map_err(|e| PackageError::Zip {
            path: out.to_path_buf(),
            message: e.to_string(),
        })?;
        hw.inner.flush().map_err(io_err(out))?;
        (hex::encode(hw.hasher.finalize()), hw.count)
    };
    tmp.as_file().sync_all().map_err(io_err(out))?;
    tmp.persist(out).map_err(|e| PackageError::Io {
        path: out.to_path_buf(),
        source: e.error,
    })?;
    Ok(PackageOutput {
        sha256,
        size_bytes,
        report: pkg.report().clone(),
    })
}

/// Put a validated package (directory or ZIP) into `scratch` (an existing, empty directory):
/// only the package files are copied/extracted, into `scratch/package`, never following or
/// creating symlinks and never writing outside `scratch`. Returns that directory. The ZIP
/// safety rules are applied again while reading (they are part of opening a source).
pub fn materialize(pkg: &ValidatedPackage, scratch: &Path) -> Result<PathBuf, PackageError> {
    let path = pkg.path();
    let meta = std::fs::metadata(path).map_err(io_err(path))?;
    let mut src = if meta.is_dir() {
        zipio::Source::open_dir(path)?
    } else {
        zipio::Source::open_zip(path)?
    };
    if let Some(f) = src.errors.first() {
        // The package changed on disk after it was validated.
        return Err(PackageError::Zip {
            path: path.to_path_buf(),
            message: format!("changed since it was validated: {f}"),
        });
    }
    let target = scratch.join("package");
    std::fs::create_dir(&target).map_err(io_err(&target))?;
    for name in package_names(&src) {
        let i = src.find(&name).ok_or_else(|| PackageError::Zip {
            path: path.to_path_buf(),
            message: format!("{name} vanished while extracting"),
        })?;
        let dest = target.join(&name);
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&dest)
            .map_err(io_err(&dest))?;
        src.copy_entry(i, &mut out)?;
        out.sync_all().map_err(io_err(&dest))?;
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The threaded reader must hash exactly the file's bytes, in order, across buffer borders.
    #[test]
    fn sha256_file_matches_in_memory_digest() {
        let t = tempfile::tempdir().unwrap();
        for len in [
            0,
            1,
            HASH_BUF - 1,
            HASH_BUF,
            HASH_BUF + 1,
            3 * HASH_BUF + 12_345,
        ] {
            let data: Vec<u8> = (0..len as u64)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
                .collect();
            let p = t.path().join(format!("f{len}"));
            std::fs::write(&p, &data).unwrap();
            assert_eq!(
                sha256_file(&p).unwrap(),
                hex::encode(Sha256::digest(&data)),
                "len {len}"
            );
        }
        // empty file: the well-known digest of ""
        assert_eq!(
            sha256_file(&t.path().join("f0")).unwrap(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(matches!(
            sha256_file(&t.path().join("missing")),
            Err(PackageError::Io { .. })
        ));
    }
}
