//! One module per subcommand. Each exposes clap `Args` and a `run` returning the exit code.

pub mod bench;
pub mod package;
pub mod preprocess;
pub mod push;
pub mod registry;
pub mod sandbox;
pub mod score;
pub mod status;
pub mod validate;
pub mod wallet;

use std::path::PathBuf;

use anyhow::Context;
use gas_package::Modality;

/// The `--image-model / --video-model / --audio-model` flags that were given, in that order.
pub fn given_models(
    image: &Option<PathBuf>,
    video: &Option<PathBuf>,
    audio: &Option<PathBuf>,
) -> Vec<(Modality, PathBuf)> {
    [
        (Modality::Image, image),
        (Modality::Video, video),
        (Modality::Audio, audio),
    ]
    .into_iter()
    .filter_map(|(m, p)| p.clone().map(|p| (m, p)))
    .collect()
}

/// The sandbox launcher (this binary, re-executed as `sandbox-exec`), or `None` with a
/// warning when the operator chose `--unsafe-no-sandbox`.
pub fn sandbox_launcher(unsafe_no_sandbox: bool, warning: &str) -> anyhow::Result<Option<PathBuf>> {
    if unsafe_no_sandbox {
        eprintln!("warning: --unsafe-no-sandbox: {warning}");
        return Ok(None);
    }
    std::env::current_exe()
        .map(Some)
        .context("cannot locate the gascli binary for the sandbox launcher")
}
