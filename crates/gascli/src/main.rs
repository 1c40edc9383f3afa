//! `gascli`: the thin command-line front end over the gas-* library crates.
//!
//! Owns argument parsing, human/JSON output, progress bars and exit codes. It must not hold
//! domain logic (validation rules, scoring formulas, preprocessing, protocols): those live in
//! the library crates so the registry service runs exactly the same code.
//!
//! Exit codes, for every command: 0 success (warnings allowed), 1 the checked thing is invalid
//! or failed (package invalid, benchmark failed, push refused), 2 usage or I/O error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

#[derive(Debug, Parser)]
#[command(
    name = "gascli",
    version,
    about = "Toolchain for Bittensor subnet 34 (GAS) discriminative miners",
    long_about = "gascli validates, packages, benchmarks and pushes binary real-vs-synthetic \
                  detectors for the GAS subnet (image, video, audio), the same way the network \
                  checks and scores them, and runs the registry service that receives them."
)]
struct Cli {
    /// More log output (repeat for more: -v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Discriminative miner tools: validate, package, score, bench, push, perf.
    #[command(visible_alias = "d", subcommand)]
    Discriminator(DCommand),
    /// Bittensor hotkey wallet helpers.
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// The receiving side: registry HTTP service and evaluation workers.
    #[cfg(feature = "registry")]
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// The receiving side (registry service, evaluation workers): not in this build; an
    /// operator builds gascli with `--features registry`.
    #[cfg(not(feature = "registry"))]
    #[command(disable_help_flag = true)]
    Registry(NoRegistry),
    /// Internal: start a program inside the benchmark sandbox (used by the runner).
    #[command(hide = true)]
    SandboxExec(commands::sandbox::Args),
}

#[derive(Debug, Subcommand)]
enum DCommand {
    /// Pre-flight a model directory or ZIP exactly as the network would check it.
    Validate(commands::validate::Args),
    /// Validate a model directory, then write a deterministic, network-ready ZIP.
    Package(commands::package::Args),
    /// Score a predictions CSV with sn34 (MCC, Brier, per-dataset breakdown).
    Score(commands::score::Args),
    /// Benchmark a model on image / video / audio datasets with the network's preprocessing.
    #[command(visible_alias = "benchmark")]
    Bench(Box<commands::bench::Args>),
    /// The datasets a run would use and their download cache: list, download, verify.
    Datasets(commands::datasets::Args),
    /// Write the exact batch tensor a model would receive for some media files (.npy).
    Preprocess(commands::preprocess::Args),
    /// Validate, upload and register models on chain (signed with the hotkey).
    Push(Box<commands::push::Args>),
    /// Show the hotkey's models (exam status) and benchmark runs (sn34, MCC, Brier).
    #[command(visible_aliases = ["performance", "status"])]
    Perf(commands::status::Args),
}

#[derive(Debug, Subcommand)]
enum WalletCommand {
    /// Print the hotkey's SS58 address and public key.
    Show(commands::wallet::ShowArgs),
    /// Sign a message with the hotkey (sr25519, context `substrate`).
    Sign(commands::wallet::SignArgs),
}

/// `gascli registry …` in a build without the `registry` feature: any arguments, one error.
#[cfg(not(feature = "registry"))]
#[derive(Debug, clap::Args)]
struct NoRegistry {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    _args: Vec<String>,
}

#[cfg(feature = "registry")]
#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// Run the registry HTTP service (SQLite + local store + in-process worker by default).
    Serve(commands::registry::ServeArgs),
    /// Run an evaluation worker against the registry's database and store.
    Worker(commands::registry::WorkerArgs),
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::SandboxExec(a) = cli.command {
        // No logging set-up, no threads: restrictions are applied, then Python is exec'd.
        return commands::sandbox::run(a).unwrap_or(ExitCode::from(125));
    }
    init_tracing(cli.verbose);
    let result = match cli.command {
        Command::Discriminator(d) => match d {
            DCommand::Validate(a) => commands::validate::run(a),
            DCommand::Package(a) => commands::package::run(a),
            DCommand::Score(a) => commands::score::run(a),
            DCommand::Bench(a) => commands::bench::run(*a),
            DCommand::Datasets(a) => commands::datasets::run(a),
            DCommand::Preprocess(a) => commands::preprocess::run(a),
            DCommand::Push(a) => commands::push::run(*a),
            DCommand::Perf(a) => commands::status::run(a),
        },
        Command::Wallet(w) => match w {
            WalletCommand::Show(a) => commands::wallet::show(a),
            WalletCommand::Sign(a) => commands::wallet::sign(a),
        },
        #[cfg(feature = "registry")]
        Command::Registry(r) => match r {
            RegistryCommand::Serve(a) => commands::registry::serve(a),
            RegistryCommand::Worker(a) => commands::registry::worker(a),
        },
        #[cfg(not(feature = "registry"))]
        Command::Registry(_) => Err(anyhow::anyhow!(
            "this gascli was built without the registry service (a miner's build); build it \
             with `cargo install --path crates/gascli --features registry`"
        )),
        Command::SandboxExec(_) => unreachable!("handled before logging starts"),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks over every subcommand (unique ids and groups, valid
    /// defaults), which otherwise only fire when that subcommand is parsed.
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
