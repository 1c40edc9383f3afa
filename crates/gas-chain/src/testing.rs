//! Test support (feature `testing`): a fake subtensor node ([`FakeNode`], source beside the tests
//! that use it in `tests/support/fake_node.rs`) and a request [`Signer`] that signs with the
//! production Epistula code, for the registry's and gascli's tests, load tests and demos.

#[path = "../tests/support/fake_node.rs"]
mod fake_node;

pub use fake_node::*;

use crate::wallet::Hotkey;

/// Signs requests as a hotkey with [`crate::epistula::sign_request`] (what `gascli d push`
/// sends), so servers under test verify the same bytes a miner's client produces.
pub struct Signer {
    hotkey: Hotkey,
    /// The hotkey's SS58 address (`Epistula-Signed-By`).
    pub ss58: String,
}

impl Signer {
    /// From a 32-byte mini-secret (as in a hotkey file's `secretSeed`).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let hotkey = Hotkey::from_seed(seed);
        Self {
            ss58: hotkey.ss58().to_string(),
            hotkey,
        }
    }

    /// A distinct, stable hotkey per name (the seed is SHA-256 of the name).
    pub fn named(name: &str) -> Self {
        use sha2::{Digest, Sha256};
        Self::from_seed(Sha256::digest(name.as_bytes()).into())
    }

    pub fn hotkey(&self) -> &Hotkey {
        &self.hotkey
    }

    /// Epistula v2 headers for `body` (fresh uuid, current time, empty `signed_for`).
    pub fn headers(&self, body: &[u8]) -> Vec<(&'static str, String)> {
        crate::epistula::sign_request(&self.hotkey, body, "")
    }

    /// As [`Self::headers`] with a given uuid and timestamp (replay and clock-window tests).
    pub fn headers_at(
        &self,
        body: &[u8],
        uuid: &str,
        timestamp_ms: u64,
    ) -> Vec<(&'static str, String)> {
        crate::epistula::sign_request_at(&self.hotkey, body, "", timestamp_ms, uuid)
    }
}
