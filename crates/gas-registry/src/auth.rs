//! Request authentication behind the [`Authenticator`] trait. Production: [`ChainAuth`], which
//! is `gas_chain::epistula::Verifier`. [`Epistula`] is the same header/window/replay logic with
//! a pluggable signature check, used by tests that substitute the cryptography (it predates
//! `gas_chain`'s verifier). This crate does no cryptography itself.

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

/// The production authenticator: `gas_chain::epistula::Verifier` (sr25519 over the Epistula
/// message, ±15 s window, uuid replay cache), empty `signed_for` as the upload API uses.
#[derive(Default)]
pub struct ChainAuth(pub gas_chain::epistula::Verifier);

impl Authenticator for ChainAuth {
    fn authenticate(&self, h: &HeaderMap, body: &[u8]) -> Result<String, AuthError> {
        for name in [
            "epistula-version",
            "epistula-timestamp",
            "epistula-uuid",
            "epistula-signed-by",
            "epistula-request-signature",
        ] {
            if h.get_all(name).iter().count() > 1 {
                return Err(AuthError(format!("header {name} appears more than once")));
            }
        }
        self.0
            .verify(|n| h.get(n).and_then(|v| v.to_str().ok()), body, "")
            .map_err(|e| AuthError(e.to_string()))
    }
}

/// sr25519 check for [`Epistula`] via `gas_chain` (SS58 decode + Substrate signing context).
pub fn sr25519_check() -> SignatureCheck {
    Arc::new(|ss58: &str, msg: &[u8], sig: &[u8]| {
        let (Ok(pk), Ok(sig)) = (
            gas_chain::wallet::ss58_decode(ss58),
            <[u8; 64]>::try_from(sig),
        ) else {
            return false;
        };
        gas_chain::wallet::verify(&pk, msg, &sig)
    })
}

/// Client-side signing for tests, load tests and demos, through `gas_chain`.
pub mod testing {
    pub struct Signer {
        hotkey: gas_chain::Hotkey,
        pub ss58: String,
    }

    impl Signer {
        /// From a 32-byte mini-secret (as in a hotkey file's `secretSeed`).
        pub fn from_seed(seed: [u8; 32]) -> Self {
            let hotkey = gas_chain::Hotkey::from_seed(seed);
            Self {
                ss58: hotkey.ss58().to_string(),
                hotkey,
            }
        }

        /// Epistula v2 headers for `body` (fresh uuid, current time).
        pub fn headers(&self, body: &[u8]) -> Vec<(&'static str, String)> {
            gas_chain::epistula::sign_request(&self.hotkey, body, "")
        }
    }
}
