//! gas-chain: everything that talks to the network on behalf of a miner's hotkey.
//!
//! Owns: Bittensor hotkey wallets ([`wallet`]), Epistula v2 signing and server-side verification
//! ([`epistula`]), the signed upload client for the network's upload API ([`upload`]), the
//! commitment string format ([`commitment`]) and the subtensor chain client that checks
//! registration and writes/reads the on-chain commitment ([`chain`]). With the `testing` feature,
//! the `testing` module holds a fake subtensor node and a request signer for tests.
//! Must not touch: package validation (gas-package), the registry's storage (gas-registry),
//! the push workflow that combines them (gas-push) or any terminal/CLI concerns.

pub mod chain;
pub mod commitment;
pub mod epistula;
pub mod upload;
pub mod wallet;

/// Test support (feature `testing`): a fake subtensor node and an Epistula request signer.
#[cfg(feature = "testing")]
pub mod testing;

pub use wallet::{Hotkey, WalletError, WalletLocation};
