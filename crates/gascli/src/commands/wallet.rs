//! `gascli wallet show|sign`: load a Bittensor hotkey (gas_chain::wallet) and print its
//! address or a signature.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use gas_chain::{Hotkey, WalletLocation};

/// Wallet selection flags shared by `wallet`, `d push` and `d status`.
#[derive(Debug, Clone, clap::Args)]
pub struct WalletOpts {
    /// Wallet (coldkey) name under the wallet path.
    #[arg(long, default_value = "default")]
    pub wallet_name: String,
    /// Hotkey name under `<wallet>/hotkeys/`.
    #[arg(long, default_value = "default")]
    pub wallet_hotkey: String,
    /// Wallet root directory [default: ~/.bittensor/wallets].
    #[arg(long, env = "BT_WALLET_PATH")]
    pub wallet_path: Option<PathBuf>,
}

impl WalletOpts {
    pub fn location(&self) -> WalletLocation {
        WalletLocation {
            path: self
                .wallet_path
                .clone()
                .map(|p| gas_chain::wallet::expand_tilde(&p))
                .unwrap_or_else(WalletLocation::default_root),
            name: self.wallet_name.clone(),
            hotkey: self.wallet_hotkey.clone(),
        }
    }

    pub fn load(&self) -> anyhow::Result<Hotkey> {
        let loc = self.location();
        Hotkey::load(&loc)
            .with_context(|| format!("loading hotkey `{}` of wallet `{}`", loc.hotkey, loc.name))
    }
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub wallet: WalletOpts,
    /// Print JSON instead of the bare address.
    #[arg(long)]
    pub json: bool,
}

pub fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let hk = args.wallet.load()?;
    if args.json {
        let loc = args.wallet.location();
        let v = serde_json::json!({
            "wallet": loc.name,
            "hotkey": loc.hotkey,
            "path": loc.hotkey_file(),
            "ss58Address": hk.ss58(),
            "publicKey": format!("0x{}", hex::encode(hk.public_key())),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}", hk.ss58());
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The message to sign (its UTF-8 bytes, as-is: no `<Bytes>` wrapper).
    pub message: String,
    #[command(flatten)]
    pub wallet: WalletOpts,
    /// Print JSON (address, message, signature).
    #[arg(long)]
    pub json: bool,
}

pub fn sign(args: SignArgs) -> anyhow::Result<ExitCode> {
    let hk = args.wallet.load()?;
    let sig = format!("0x{}", hex::encode(hk.sign(args.message.as_bytes())));
    if args.json {
        let v = serde_json::json!({
            "ss58Address": hk.ss58(),
            "message": args.message,
            "signature": sig,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{sig}");
    }
    Ok(ExitCode::SUCCESS)
}
