//! `gascli d preprocess --model PATH MEDIA... -o OUT.npy`: the exact batch tensor a model
//! receives for some media files (bench.md preprocessing via `gas_media`), as NumPy `.npy`:
//! uint8 `[N,3,H,W]` (image), uint8 `[N,T,3,H,W]` (video), float32 `[N,samples]` (audio).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use gas_media::{AudioOptions, ImageOptions, MediaError, VideoOptions};
use gas_package::{CONFIG_FILE, Modality, ModelConfig};
use rayon::prelude::*;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model package directory or ZIP, or its `model_config.yaml`: supplies the modality and
    /// `preprocessing` as the network reads it (resize; video num_frames / max_frames, capped at
    /// 64, frame_rate; audio is always 16 kHz × 6 s).
    #[arg(long)]
    pub model: PathBuf,
    /// Media files, in batch order.
    #[arg(required = true)]
    pub media: Vec<PathBuf>,
    /// Output `.npy` file (written atomically).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Images: faster decode for local iteration. NOT network-exact.
    #[arg(long)]
    pub fast_decode: bool,
    /// Images: apply the EXIF orientation tag. NOT what the network does.
    #[arg(long)]
    pub exif: bool,
    /// Images: skip the network's cache step (JPEG/WebP re-encoded as Pillow's save() before
    /// decoding) and decode the original bytes. NOT network-exact.
    #[arg(long)]
    pub no_reencode: bool,
    /// Images: the robustness pass's degraded tensor (the network's chain: INTER_AREA ×0.5
    /// and back, JPEG q55, WebP q75, JPEG q80, then the crop + resize) instead of the base one.
    #[arg(long)]
    pub augment: bool,
}

fn load_config(path: &Path) -> anyhow::Result<ModelConfig> {
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
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let check = gas_package::check_config(&text, &file.display().to_string());
            (check.config, check.errors)
        }
        None => {
            let report = gas_package::validate(path, &Default::default())
                .with_context(|| format!("cannot read the model package {}", path.display()))?;
            (report.config, report.errors)
        }
    };
    match config {
        Some(c) => Ok(c),
        None => {
            let list: Vec<String> = errors.iter().map(|f| format!("  {f}")).collect();
            bail!(
                "{}: no usable model_config.yaml (fix these and retry with `gascli d validate`):\n{}",
                path.display(),
                list.join("\n")
            )
        }
    }
}

fn fail_report(failures: &[(PathBuf, MediaError)]) -> ExitCode {
    for (p, e) in failures {
        eprintln!("error: {}: {e}", p.display());
    }
    eprintln!(
        "{} of the files could not be preprocessed; nothing written",
        failures.len()
    );
    ExitCode::from(1)
}

fn shape_str(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = load_config(&args.model)?;
    let n = args.media.len();
    let mut failures = Vec::new();
    match config.modality {
        Modality::Image | Modality::Video => {
            let size = config.image_size();
            // as the network reads the config: num_frames (alias max_frames), capped at 64
            let frames = config.video_frames();
            let per: Vec<Result<Vec<u8>, MediaError>> = if config.modality == Modality::Image {
                let opts = ImageOptions {
                    size,
                    apply_exif: args.exif,
                    fast_decode: args.fast_decode,
                    reencode: !args.no_reencode,
                    reencode_cache: None,
                };
                args.media
                    .par_iter()
                    .map(|p| {
                        let bytes = std::fs::read(p).map_err(|e| MediaError::Io {
                            what: "reading the file".into(),
                            source: e,
                        })?;
                        if args.augment {
                            gas_media::preprocess_image_augmented(&bytes, &opts)
                        } else {
                            gas_media::preprocess_image(&bytes, &opts)
                        }
                    })
                    .collect()
            } else {
                if args.augment {
                    bail!("--augment is implemented for images only so far");
                }
                if args.fast_decode || args.exif || args.no_reencode {
                    eprintln!(
                        "note: --fast-decode / --exif / --no-reencode apply to images only; ignored"
                    );
                }
                let opts = VideoOptions {
                    size,
                    num_frames: frames,
                    frame_rate: config.frame_rate(),
                };
                args.media
                    .par_iter()
                    .map(|p| gas_media::preprocess_video(p, &opts))
                    .collect()
            };
            let mut data = Vec::new();
            for (p, r) in args.media.iter().zip(per) {
                match r {
                    Ok(v) => data.extend_from_slice(&v),
                    Err(e) => failures.push((p.clone(), e)),
                }
            }
            if !failures.is_empty() {
                return Ok(fail_report(&failures));
            }
            let (h, w) = (size[0] as usize, size[1] as usize);
            let shape = if config.modality == Modality::Image {
                vec![n, 3, h, w]
            } else {
                vec![n, frames as usize, 3, h, w]
            };
            gas_media::npy::write_u8(&args.output, &shape, &data)
                .with_context(|| format!("cannot write {}", args.output.display()))?;
            println!(
                "wrote {}: uint8 {} ({} {})",
                args.output.display(),
                shape_str(&shape),
                config.modality,
                if args.fast_decode && config.modality == Modality::Image {
                    "fast decode: NOT network-exact"
                } else if args.no_reencode && config.modality == Modality::Image {
                    "direct path without the cache step: NOT network-exact"
                } else if args.augment {
                    "the robustness pass's degraded input"
                } else {
                    "network preprocessing"
                }
            );
        }
        Modality::Audio => {
            let opts = AudioOptions {
                // the network always feeds 16 kHz × 6 s, whatever the config says
                sample_rate: gas_package::AUDIO_SAMPLE_RATE,
                duration_seconds: gas_package::AUDIO_SECONDS,
            };
            let samples = opts
                .num_samples()
                .with_context(|| format!("preprocessing of {}", args.model.display()))?;
            let per: Vec<_> = args
                .media
                .par_iter()
                .map(|p| gas_media::preprocess_audio(p, &opts))
                .collect();
            let mut data = Vec::with_capacity(n * samples);
            for (p, r) in args.media.iter().zip(per) {
                match r {
                    Ok(v) => data.extend_from_slice(&v),
                    Err(e) => failures.push((p.clone(), e)),
                }
            }
            if !failures.is_empty() {
                return Ok(fail_report(&failures));
            }
            let shape = [n, samples];
            gas_media::npy::write_f32(&args.output, &shape, &data)
                .with_context(|| format!("cannot write {}", args.output.display()))?;
            println!(
                "wrote {}: float32 {} (audio, {} Hz × {} s)",
                args.output.display(),
                shape_str(&shape),
                opts.sample_rate,
                opts.duration_seconds
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
