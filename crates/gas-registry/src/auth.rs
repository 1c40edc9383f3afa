//! Epistula v2 request authentication (push.md): header checks, ±15 s timestamp window and a
//! uuid replay cache. The sr25519 signature check itself is delegated to a [`SignatureCheck`]
//! so the binary plugs in `gas_chain`'s verifier (this crate does no cryptography itself).
//! NOTE: written here because `gas_chain::epistula` had not landed when this layer was built;
//! switch to it (keeping [`Authenticator`]) once it exists.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::db::now_ms;

/// Verifies one sr25519 signature: `(ss58 hotkey, message, signature bytes) -> ok`.
pub type SignatureCheck = Arc<dyn Fn(&str, &[u8], &[u8]) -> bool + Send + Sync>;

/// Why a signed request was refused (the text goes to the client as `detail`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AuthError(pub String);

/// Checks Epistula headers on signed requests and returns the signing hotkey.
pub trait Authenticator: Send + Sync {
    fn authenticate(&self, headers: &HeaderMap, body: &[u8]) -> Result<String, AuthError>;
}

pub struct Epistula {
    window_ms: i64,
    check: SignatureCheck,
    seen: Mutex<HashMap<String, i64>>,
}

impl Epistula {
    pub fn new(check: SignatureCheck) -> Self {
        Self {
            window_ms: 15_000,
            check,
            seen: Mutex::new(HashMap::new()),
        }
    }

    pub fn with_window_ms(mut self, ms: i64) -> Self {
        self.window_ms = ms;
        self
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Result<&'a str, AuthError> {
    if h.get_all(name).iter().count() > 1 {
        return Err(AuthError(format!("header {name} appears more than once")));
    }
    h.get(name)
        .ok_or_else(|| AuthError(format!("missing header {name} (signed request expected)")))?
        .to_str()
        .map_err(|_| AuthError(format!("header {name} is not ASCII")))
}

/// The signed message: `"{sha256_hex(body)}.{uuid}.{timestamp}.{signed_for}"` (empty signed_for).
pub fn message(body: &[u8], uuid: &str, timestamp: &str) -> String {
    format!("{}.{uuid}.{timestamp}.", hex::encode(Sha256::digest(body)))
}

impl Authenticator for Epistula {
    fn authenticate(&self, h: &HeaderMap, body: &[u8]) -> Result<String, AuthError> {
        let version = header(h, "epistula-version")?;
        if version != "2" {
            return Err(AuthError(format!(
                "Epistula-Version {version:?} is not supported (expected 2)"
            )));
        }
        let ts_text = header(h, "epistula-timestamp")?;
        let ts: i64 = ts_text.parse().map_err(|_| {
            AuthError(format!(
                "Epistula-Timestamp {ts_text:?} is not Unix milliseconds"
            ))
        })?;
        let now = now_ms();
        if (now - ts).abs() > self.window_ms {
            return Err(AuthError(format!(
                "Epistula-Timestamp is {} s away from the server clock (allowed: {} s); check your clock",
                (now - ts) / 1000,
                self.window_ms / 1000
            )));
        }
        let uuid_text = header(h, "epistula-uuid")?;
        uuid::Uuid::parse_str(uuid_text)
            .map_err(|_| AuthError(format!("Epistula-Uuid {uuid_text:?} is not a UUID")))?;
        let hotkey = header(h, "epistula-signed-by")?;
        if hotkey.is_empty() || hotkey.len() > 64 {
            return Err(AuthError(
                "Epistula-Signed-By is not an SS58 address".into(),
            ));
        }
        let sig_text = header(h, "epistula-request-signature")?;
        let sig = sig_text
            .strip_prefix("0x")
            .and_then(|s| hex::decode(s).ok())
            .filter(|s| s.len() == 64)
            .ok_or_else(|| {
                AuthError("Epistula-Request-Signature must be 0x + 128 hex digits".into())
            })?;
        let msg = message(body, uuid_text, ts_text);
        if !(self.check)(hotkey, msg.as_bytes(), &sig) {
            return Err(AuthError(format!(
                "signature does not verify for hotkey {hotkey}"
            )));
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let horizon = now - 2 * self.window_ms;
        if seen.len() > 10_000 {
            seen.retain(|_, t| *t > horizon);
        }
        if seen.get(uuid_text).is_some_and(|t| *t > horizon) {
            return Err(AuthError(format!(
                "Epistula-Uuid {uuid_text} was already used (replayed request)"
            )));
        }
        seen.insert(uuid_text.to_string(), now);
        Ok(hotkey.to_string())
    }
}

/// SS58 address → 32-byte public key, checking the blake2b-512 `SS58PRE` checksum
/// (simple one-byte prefixes only, which covers prefix 42 used by Bittensor).
pub fn ss58_decode(addr: &str) -> Option<[u8; 32]> {
    use blake2::{Blake2b512, Digest as _};
    let raw = bs58::decode(addr).into_vec().ok()?;
    if raw.len() != 35 || raw[0] >= 64 {
        return None;
    }
    let mut h = Blake2b512::new();
    h.update(b"SS58PRE");
    h.update(&raw[..33]);
    let sum = h.finalize();
    if sum[..2] != raw[33..] {
        return None;
    }
    raw[1..33].try_into().ok()
}

/// sr25519 verification as Substrate does it (signing context `substrate`, raw message).
/// Stand-in until `gas_chain` exposes its verifier; it uses the `schnorrkel` crate, nothing
/// hand-rolled beyond SS58 decoding.
pub fn sr25519_check() -> SignatureCheck {
    Arc::new(|ss58: &str, msg: &[u8], sig: &[u8]| {
        let Some(pk) = ss58_decode(ss58) else {
            return false;
        };
        let (Ok(pk), Ok(sig)) = (
            schnorrkel::PublicKey::from_bytes(&pk),
            schnorrkel::Signature::from_bytes(sig),
        ) else {
            return false;
        };
        pk.verify_simple(b"substrate", msg, &sig).is_ok()
    })
}

/// Client-side signing for tests, load tests and demos (sr25519 via `schnorrkel`). The real
/// client is `gas_chain`'s; this exists so the registry can be exercised on its own.
pub mod testing {
    use blake2::{Blake2b512, Digest as _};

    pub struct Signer {
        pair: schnorrkel::Keypair,
        pub ss58: String,
    }

    impl Signer {
        /// From a 32-byte mini-secret (as in a hotkey file's `secretSeed`).
        pub fn from_seed(seed: [u8; 32]) -> Self {
            let pair = schnorrkel::MiniSecretKey::from_bytes(&seed)
                .expect("32 bytes is a valid mini-secret")
                .expand_to_keypair(schnorrkel::ExpansionMode::Ed25519);
            let mut raw = vec![42u8];
            raw.extend_from_slice(&pair.public.to_bytes());
            let mut h = Blake2b512::new();
            h.update(b"SS58PRE");
            h.update(&raw);
            raw.extend_from_slice(&h.finalize()[..2]);
            Self {
                ss58: bs58::encode(raw).into_string(),
                pair,
            }
        }

        /// Epistula v2 headers for `body` (fresh uuid, current time).
        pub fn headers(&self, body: &[u8]) -> Vec<(&'static str, String)> {
            let uuid = uuid::Uuid::new_v4().to_string();
            let ts = crate::db::now_ms().to_string();
            let msg = super::message(body, &uuid, &ts);
            let ctx = schnorrkel::signing_context(b"substrate");
            let sig = self.pair.sign(ctx.bytes(msg.as_bytes())).to_bytes();
            vec![
                ("Epistula-Version", "2".into()),
                ("Epistula-Timestamp", ts),
                ("Epistula-Uuid", uuid),
                ("Epistula-Signed-By", self.ss58.clone()),
                (
                    "Epistula-Request-Signature",
                    format!("0x{}", hex::encode(sig)),
                ),
            ]
        }
    }
}
