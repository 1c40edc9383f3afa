//! `gascli d package DIR -o OUT.zip`: validate, then write the deterministic ZIP atomically and
//! print its SHA-256. Exit 0 written, 1 package invalid (nothing written), 2 usage or I/O error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use gas_package::PackageError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model directory holding model_config.yaml, model.py and the safetensors weights.
    pub dir: PathBuf,
    /// Output ZIP path (written via a temp file in the same directory, then renamed).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Print one JSON object {sha256, size_bytes, output, warnings} instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match gas_package::package_dir(&args.dir, &args.output) {
        Ok(out) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "sha256": out.sha256,
                        "size_bytes": out.size_bytes,
                        "output": args.output,
                        "warnings": out.report.warnings,
                    })
                );
            } else {
                for w in &out.report.warnings {
                    eprintln!("warning: {w}");
                }
                println!(
                    "wrote {} ({} bytes)\nsha256: {}",
                    args.output.display(),
                    out.size_bytes,
                    out.sha256
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(PackageError::Invalid { path, report }) => {
            if args.json {
                println!("{}", super::validate::report_json(&report));
            } else {
                print!("{}", super::validate::render_human(&path, &report));
                eprintln!("not packaged: fix the errors above and run again");
            }
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot package {} into {}",
                args.dir.display(),
                args.output.display()
            )
        }),
    }
}
