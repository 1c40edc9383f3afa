//! Not built yet: owned by the issue that delivers this command.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {}

pub fn serve(_args: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("this command is not available in this build yet")
}

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {}

pub fn worker(_args: WorkerArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("this command is not available in this build yet")
}
