//! Hidden `gascli sandbox-exec`: the launcher the benchmark runner re-executes to start the
//! Python worker inside the sandbox (see `gas_bench::sandbox`). Single-threaded by design: it
//! applies the restrictions and `exec`s the program, or exits 125 with the reason on stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use gas_bench::sandbox::{SandboxSpec, exec_sandboxed};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The limits, as JSON (`gas_bench::sandbox::SandboxSpec`).
    #[arg(long)]
    pub spec: String,
    /// Program to run.
    pub program: PathBuf,
    /// Its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let spec: SandboxSpec = match serde_json::from_str(&args.spec) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sandbox-exec: bad --spec: {e}");
            return Ok(ExitCode::from(125));
        }
    };
    match exec_sandboxed(&spec, &args.program, &args.args) {
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(125))
        }
    }
}
