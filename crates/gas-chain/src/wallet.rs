//! Bittensor hotkey wallets: the on-disk layout of `bittensor-wallet`
//! (`<root>/<wallet>/hotkeys/<hotkey>`, a one-line JSON keyfile), sr25519 keys via
//! `subxt-signer` (schnorrkel, Ed25519 expansion, signing context `substrate`) and SS58
//! addresses via `subxt-utils-accountid32` (prefix 42).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use subxt_signer::bip39::Mnemonic;
use subxt_signer::sr25519;

/// Errors loading a wallet or checking a signature.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error(
        "hotkey file {0} does not exist: check --wallet-name / --wallet-hotkey / --wallet-path \
         (or BT_WALLET_PATH), or create the hotkey with `btcli wallet new_hotkey`"
    )]
    Missing(PathBuf),
    #[error("cannot read hotkey file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "hotkey file {0} is encrypted ({1}); gascli needs an unencrypted hotkey, as the \
         Bittensor tools create by default (`btcli wallet regen_hotkey --no-use-password`)"
    )]
    Encrypted(PathBuf, &'static str),
    #[error(
        "hotkey file {0} holds an ed25519 key (cryptoType 0); the hotkey must be sr25519 \
         (cryptoType 1)"
    )]
    Ed25519(PathBuf),
    #[error("hotkey file {path} is malformed: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("invalid SS58 address {0:?}: {1}")]
    BadAddress(String, String),
    #[error("invalid signature {0:?}: expected 0x + 128 hex digits (64 bytes)")]
    BadSignature(String),
}

/// Where a hotkey lives: `<path>/<name>/hotkeys/<hotkey>`.
#[derive(Debug, Clone)]
pub struct WalletLocation {
    pub path: PathBuf,
    pub name: String,
    pub hotkey: String,
}

impl WalletLocation {
    /// The default wallet root: `$BT_WALLET_PATH`, else `~/.bittensor/wallets`.
    pub fn default_root() -> PathBuf {
        if let Some(p) = std::env::var_os("BT_WALLET_PATH") {
            return expand_tilde(Path::new(&p));
        }
        expand_tilde(Path::new("~/.bittensor/wallets"))
    }

    pub fn hotkey_file(&self) -> PathBuf {
        expand_tilde(&self.path)
            .join(&self.name)
            .join("hotkeys")
            .join(&self.hotkey)
    }
}

/// Expands a leading `~` to `$HOME`.
pub fn expand_tilde(p: &Path) -> PathBuf {
    if let Ok(rest) = p.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    p.to_path_buf()
}

/// An sr25519 hotkey with its SS58 address.
#[derive(Clone)]
pub struct Hotkey {
    keypair: sr25519::Keypair,
    ss58: String,
}

impl std::fmt::Debug for Hotkey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hotkey")
            .field("ss58", &self.ss58)
            .finish_non_exhaustive()
    }
}

fn field<'a>(v: &'a serde_json::Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(|x| x.as_str()).filter(|s| !s.is_empty())
}

fn hex32(path: &Path, name: &str, s: &str) -> Result<[u8; 32], WalletError> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    let bytes = hex::decode(h).map_err(|e| WalletError::Malformed {
        path: path.to_path_buf(),
        reason: format!("field `{name}` is not hex ({e})"),
    })?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| WalletError::Malformed {
            path: path.to_path_buf(),
            reason: format!("field `{name}` has {} bytes, expected 32", b.len()),
        })
}

impl Hotkey {
    /// Loads the hotkey at `loc`.
    pub fn load(loc: &WalletLocation) -> Result<Self, WalletError> {
        Self::load_file(&loc.hotkey_file())
    }

    /// Loads a hotkey keyfile (JSON with `secretSeed` or `secretPhrase`).
    pub fn load_file(path: &Path) -> Result<Self, WalletError> {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(WalletError::Missing(path.to_path_buf()));
            }
            Err(source) => {
                return Err(WalletError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Self::from_keyfile_bytes(path, &data)
    }

    /// Parses keyfile contents; `path` is only used in error messages.
    pub fn from_keyfile_bytes(path: &Path, data: &[u8]) -> Result<Self, WalletError> {
        for (prefix, what) in [
            (&b"$NACL"[..], "NaCl"),
            (&b"$ANSIBLE_VAULT"[..], "Ansible vault"),
            (&b"gAAAAA"[..], "Fernet"),
        ] {
            if data.starts_with(prefix) {
                return Err(WalletError::Encrypted(path.to_path_buf(), what));
            }
        }
        let malformed = |reason: String| WalletError::Malformed {
            path: path.to_path_buf(),
            reason,
        };
        let v: serde_json::Value = serde_json::from_slice(data)
            .map_err(|e| malformed(format!("not a JSON keyfile ({e})")))?;
        if !v.is_object() {
            return Err(malformed("expected a JSON object".into()));
        }
        if v.get("cryptoType").and_then(|c| c.as_i64()) == Some(0) {
            return Err(WalletError::Ed25519(path.to_path_buf()));
        }
        let keypair = if let Some(seed) = field(&v, "secretSeed") {
            let seed = hex32(path, "secretSeed", seed)?;
            sr25519::Keypair::from_secret_key(seed)
                .map_err(|e| malformed(format!("field `secretSeed`: {e}")))?
        } else if let Some(phrase) = field(&v, "secretPhrase") {
            let m = Mnemonic::parse(phrase).map_err(|e| {
                malformed(format!(
                    "field `secretPhrase` is not a BIP39 mnemonic ({e})"
                ))
            })?;
            sr25519::Keypair::from_phrase(&m, None)
                .map_err(|e| malformed(format!("field `secretPhrase`: {e}")))?
        } else {
            return Err(malformed(
                "no `secretSeed` or `secretPhrase` field (is this a public-only `…pub.txt` file?)"
                    .into(),
            ));
        };
        let hk = Self::from_keypair(keypair);
        // Cross-check the stored public fields when present.
        if let Some(pk) = field(&v, "publicKey") {
            let pk = hex32(path, "publicKey", pk)?;
            if pk != hk.public_key() {
                return Err(malformed(
                    "field `publicKey` does not match the key derived from the secret".into(),
                ));
            }
        }
        if let Some(addr) = field(&v, "ss58Address")
            && addr != hk.ss58
        {
            return Err(malformed(format!(
                "field `ss58Address` ({addr}) does not match the derived address {}",
                hk.ss58
            )));
        }
        Ok(hk)
    }

    /// From a 32-byte mini-secret (`secretSeed`).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self::from_keypair(
            sr25519::Keypair::from_secret_key(seed).expect("any 32 bytes are a valid mini-secret"),
        )
    }

    fn from_keypair(keypair: sr25519::Keypair) -> Self {
        let pk = keypair.public_key().0;
        Self {
            ss58: ss58_encode(&pk),
            keypair,
        }
    }

    pub fn ss58(&self) -> &str {
        &self.ss58
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.keypair.public_key().0
    }

    /// sr25519 signature (context `substrate`) over the raw message bytes.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.keypair.sign(message).0
    }

    /// The underlying subxt-signer keypair (for signing extrinsics).
    pub fn keypair(&self) -> &sr25519::Keypair {
        &self.keypair
    }
}

/// SS58 (prefix 42) of a 32-byte public key.
pub fn ss58_encode(public: &[u8; 32]) -> String {
    subxt_utils_accountid32::AccountId32(*public).to_string()
}

/// Decodes an SS58 address to its 32-byte public key.
pub fn ss58_decode(addr: &str) -> Result<[u8; 32], WalletError> {
    // The base58 decoder below panics on runs of leading '1's (found by fuzzing the Epistula
    // verifier, which decodes an attacker-chosen header). An SS58 address of a 32-byte key is
    // 47-49 characters with at most one leading '1' (prefix 0).
    if addr.len() > 64 || addr.starts_with("11") {
        return Err(WalletError::BadAddress(
            addr.to_string(),
            "not an SS58 address of a 32-byte key".into(),
        ));
    }
    subxt_utils_accountid32::AccountId32::from_str(addr)
        .map(|a| a.0)
        .map_err(|e| WalletError::BadAddress(addr.to_string(), e.to_string()))
}

/// Parses `0x` + 128 hex digits.
pub fn parse_signature(s: &str) -> Result<[u8; 64], WalletError> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    hex::decode(h)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .ok_or_else(|| WalletError::BadSignature(s.to_string()))
}

/// Verifies an sr25519 signature (context `substrate`).
pub fn verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    sr25519::verify(
        &sr25519::Signature(*signature),
        message,
        &sr25519::PublicKey(*public),
    )
}
