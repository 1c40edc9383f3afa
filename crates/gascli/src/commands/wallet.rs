//! Not built yet: owned by the issue that delivers this command.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ShowArgs {}

pub fn show(_args: ShowArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("this command is not available in this build yet")
}

#[derive(Debug, clap::Args)]
pub struct SignArgs {}

pub fn sign(_args: SignArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("this command is not available in this build yet")
}
