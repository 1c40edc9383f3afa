//! `gascli d preprocess` as a library function: the exact batch tensor a model receives for
//! some media files, written as NumPy `.npy` — uint8 `[N,3,H,W]` (image), uint8 `[N,T,3,H,W]`
//! (video), float32 `[N,samples]` (audio). The preprocessing options come from
//! [`MediaOptions::from_config`], the same mapping the benchmark uses.

use std::path::{Path, PathBuf};

use gas_media::MediaError;
use gas_package::{CONFIG_FILE, Finding, Modality, ModelConfig, PackageError};
use rayon::prelude::*;

use crate::media_options::{DecodeFlags, Dtype, MediaOptions, Tensor};

/// What to preprocess.
#[derive(Debug, Clone)]
pub struct PreprocessOptions {
    /// A package directory or ZIP, or its `model_config.yaml`.
    pub model: PathBuf,
    /// Media files, in batch order.
    pub media: Vec<PathBuf>,
    /// The `.npy` file to write (atomically).
    pub output: PathBuf,
    pub decode: DecodeFlags,
    /// Images: the robustness pass's degraded tensor instead of the base one.
    pub augment: bool,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct PreprocessOutcome {
    pub options: MediaOptions,
    pub dtype: Dtype,
    /// Shape of the written array, `[N, ...]`.
    pub shape: Vec<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the model package {}: {source}", path.display())]
    Package {
        path: PathBuf,
        #[source]
        source: PackageError,
    },
    #[error("{}: no usable {CONFIG_FILE} (fix these and retry with `gascli d validate`):\n{}",
        path.display(), errors.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n"))]
    Config { path: PathBuf, errors: Vec<Finding> },
    #[error("preprocessing of {}: {source}", path.display())]
    Options {
        path: PathBuf,
        #[source]
        source: MediaError,
    },
    /// Some files could not be preprocessed; nothing was written.
    #[error("{} of the files could not be preprocessed; nothing written", .0.len())]
    Samples(Vec<(PathBuf, MediaError)>),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: MediaError,
    },
}

/// The model config of a package directory, a ZIP (validated for its config) or a
/// `model_config.yaml` file.
pub fn load_model_config(path: &Path) -> Result<ModelConfig, PreprocessError> {
    let yaml = if path.is_dir() {
        Some(path.join(CONFIG_FILE))
    } else if matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    ) {
        Some(path.to_path_buf())
    } else {
        None
    };
    let (config, errors) = match yaml {
        Some(file) => {
            let text = std::fs::read_to_string(&file).map_err(|source| PreprocessError::Read {
                path: file.clone(),
                source,
            })?;
            let check = gas_package::check_config(&text, &file.display().to_string());
            (check.config, check.errors)
        }
        None => {
            let report = gas_package::validate(path, &Default::default()).map_err(|source| {
                PreprocessError::Package {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
            (report.config, report.errors)
        }
    };
    config.ok_or_else(|| PreprocessError::Config {
        path: path.to_path_buf(),
        errors,
    })
}

/// Preprocesses every file (in parallel) and writes the batch. All or nothing: when a file
/// fails, every failure is returned and nothing is written.
pub fn preprocess_files(opts: &PreprocessOptions) -> Result<PreprocessOutcome, PreprocessError> {
    let config = load_model_config(&opts.model)?;
    let media = MediaOptions::from_config(&config, opts.decode);
    let options_err = |source| PreprocessError::Options {
        path: opts.model.clone(),
        source,
    };
    media.sample_shape().map_err(options_err)?;
    if opts.augment && media.modality == Modality::Audio {
        return Err(options_err(MediaError::Options(
            "--augment: the network has no robustness pass for audio models".into(),
        )));
    }
    let per: Vec<Result<Tensor, MediaError>> = opts
        .media
        .par_iter()
        .map(|p| {
            if opts.augment {
                media.preprocess_file_augmented(p)
            } else {
                media.preprocess_file(p)
            }
        })
        .collect();
    let mut tensors = Vec::with_capacity(per.len());
    let mut failures = Vec::new();
    for (p, r) in opts.media.iter().zip(per) {
        match r {
            Ok(t) => tensors.push(t),
            Err(e) => failures.push((p.clone(), e)),
        }
    }
    if !failures.is_empty() {
        return Err(PreprocessError::Samples(failures));
    }
    let batch = media.stack(tensors).map_err(options_err)?;
    let written = match &batch.data {
        crate::worker::BatchData::U8(d) => gas_media::npy::write_u8(&opts.output, &batch.shape, d),
        crate::worker::BatchData::F32(d) => {
            gas_media::npy::write_f32(&opts.output, &batch.shape, d)
        }
    };
    written.map_err(|source| PreprocessError::Write {
        path: opts.output.clone(),
        source,
    })?;
    Ok(PreprocessOutcome {
        dtype: media.dtype(),
        options: media,
        shape: batch.shape,
    })
}
