//! One module per subcommand. Each exposes clap `Args` and a `run` returning the exit code.

pub mod bench;
pub mod dataset_args;
pub mod datasets;
pub mod package;
pub mod preprocess;
pub mod push;
#[cfg(feature = "registry")]
pub mod registry;
pub mod sandbox;
pub mod score;
pub mod status;
pub mod validate;
pub mod wallet;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use gas_bench::sandbox::SandboxSpec;
use gas_bench::worker::WorkerOptions;
use gas_package::Modality;

/// How the sandboxed PyTorch worker runs (shared by `d bench` and `registry serve|worker`).
#[derive(Debug, Clone, clap::Args)]
pub struct ModelWorkerArgs {
    /// Python of the worker venv (default: $GASCLI_VENV/bin/python or ./.venv/bin/python; run
    /// scripts/setup.sh).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Samples per forward call (default: the network's, 32 for images, 4 for videos, 16 for
    /// audio).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Torch device of the worker.
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda"])]
    pub device: String,
    /// Wall-clock limit per batch, seconds.
    #[arg(long, default_value_t = 300)]
    pub batch_timeout: u64,
    /// Worker memory limit (address space), GiB. PyTorch needs at least 4.
    #[arg(long, default_value_t = 8)]
    pub memory_limit_gib: u64,
    /// Torch threads in the worker (0 = torch's default).
    #[arg(long, default_value_t = 0)]
    pub torch_threads: usize,
    /// Run the model WITHOUT the sandbox (no network namespace, no file or process limits).
    /// Only for your own trusted code on a kernel without namespaces or Landlock; never on a
    /// public registry.
    #[arg(long)]
    pub unsafe_no_sandbox: bool,
}

impl ModelWorkerArgs {
    /// Worker options from these flags; `unsafe_warning` is printed with `--unsafe-no-sandbox`.
    pub fn options(
        &self,
        python: PathBuf,
        script: PathBuf,
        unsafe_warning: &str,
    ) -> anyhow::Result<WorkerOptions> {
        let mut sandbox = SandboxSpec::new(PathBuf::new());
        sandbox.memory_bytes = self.memory_limit_gib << 30;
        sandbox.gpu = self.device == "cuda";
        Ok(WorkerOptions {
            python,
            script,
            launcher: sandbox_launcher(self.unsafe_no_sandbox, unsafe_warning)?,
            sandbox,
            batch_timeout: Duration::from_secs(self.batch_timeout),
            load_timeout: Duration::from_secs(self.batch_timeout.max(120)),
            torch_threads: self.torch_threads,
        })
    }
}

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
fn sandbox_launcher(unsafe_no_sandbox: bool, warning: &str) -> anyhow::Result<Option<PathBuf>> {
    if unsafe_no_sandbox {
        eprintln!("warning: --unsafe-no-sandbox: {warning}");
        return Ok(None);
    }
    std::env::current_exe()
        .map(Some)
        .context("cannot locate the gascli binary for the sandbox launcher")
}
