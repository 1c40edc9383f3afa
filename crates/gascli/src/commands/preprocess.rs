//! `gascli d preprocess --model PATH MEDIA... -o OUT.npy`: the exact batch tensor a model
//! receives for some media files, as NumPy `.npy` (`gas_bench::preprocess`).

use std::path::PathBuf;
use std::process::ExitCode;

use gas_bench::media_options::{DecodeFlags, Dtype};
use gas_bench::preprocess::{PreprocessError, PreprocessOptions, preprocess_files};
use gas_package::Modality;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model package directory or ZIP, or its `model_config.yaml`: supplies the modality and
    /// `preprocessing` (resize, max_frames, fps, sample_rate, duration_seconds).
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
}

fn shape_str(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = PreprocessOptions {
        model: args.model,
        media: args.media,
        output: args.output,
        decode: DecodeFlags {
            fast_decode: args.fast_decode,
            apply_exif: args.exif,
        },
    };
    let out = match preprocess_files(&opts) {
        Ok(out) => out,
        Err(PreprocessError::Samples(failures)) => {
            for (p, e) in &failures {
                eprintln!("error: {}: {e}", p.display());
            }
            eprintln!("{}", PreprocessError::Samples(failures));
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    let o = &out.options;
    let shape = shape_str(&out.shape);
    let path = opts.output.display();
    match (o.modality, out.dtype) {
        (Modality::Audio, _) | (_, Dtype::F32) => println!(
            "wrote {path}: float32 {shape} (audio, {} Hz × {} s)",
            o.audio.sample_rate, o.audio.duration_seconds
        ),
        (modality, Dtype::U8) => {
            if modality == Modality::Video && (opts.decode != DecodeFlags::default()) {
                eprintln!("note: --fast-decode / --exif apply to images only; ignored");
            }
            let how = if modality == Modality::Image && opts.decode.fast_decode {
                "fast decode: NOT network-exact"
            } else {
                "network preprocessing"
            };
            println!("wrote {path}: uint8 {shape} ({modality} {how})");
        }
    }
    Ok(ExitCode::SUCCESS)
}
