//! Request authentication behind the [`Authenticator`] trait. Production: [`ChainAuth`], which
//! is `gas_chain::epistula::Verifier` (sr25519 over the Epistula v2 message, ±15 s window, uuid
//! replay cache). This crate does no cryptography itself; tests sign with
//! `gas_chain::testing::Signer`, the production signing code.

use axum::http::HeaderMap;
use gas_chain::epistula::{self, EpistulaError};

/// Why a signed request was refused (the text goes to the client as `detail`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AuthError(pub String);

/// Checks Epistula headers on signed requests and returns the signing hotkey.
pub trait Authenticator: Send + Sync {
    fn authenticate(&self, headers: &HeaderMap, body: &[u8]) -> Result<String, AuthError>;
}

/// The production authenticator, with the empty `signed_for` the upload API uses.
#[derive(Default)]
pub struct ChainAuth(pub epistula::Verifier);

const HEADERS: [&str; 5] = [
    epistula::H_VERSION,
    epistula::H_TIMESTAMP,
    epistula::H_UUID,
    epistula::H_SIGNED_BY,
    epistula::H_SIGNATURE,
];

/// The answer to a request without Epistula headers: what is required and how to send it.
pub fn unsigned_request_message() -> String {
    format!(
        "this endpoint requires a request signed with your hotkey (Epistula v2 headers {}); \
         `gascli d push` and `gascli d perf` sign their requests",
        HEADERS.join(", ")
    )
}

impl Authenticator for ChainAuth {
    fn authenticate(&self, h: &HeaderMap, body: &[u8]) -> Result<String, AuthError> {
        if HEADERS.iter().all(|n| h.get(*n).is_none()) {
            return Err(AuthError(unsigned_request_message()));
        }
        for name in HEADERS {
            if h.get_all(name).iter().count() > 1 {
                return Err(AuthError(format!("header {name} appears more than once")));
            }
        }
        self.0
            .verify(|n| h.get(n).and_then(|v| v.to_str().ok()), body, "")
            .map_err(|e| match e {
                EpistulaError::MissingHeader(n) => AuthError(format!(
                    "missing header {n}: {}",
                    unsigned_request_message()
                )),
                e => AuthError(e.to_string()),
            })
    }
}
