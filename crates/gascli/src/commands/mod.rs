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
