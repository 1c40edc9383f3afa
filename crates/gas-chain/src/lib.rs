//! gas-chain: everything that talks to the network on behalf of a miner's hotkey.
//!
//! Owns: Bittensor hotkey wallets ([`wallet`]), Epistula v2 signing and server-side verification
//! ([`epistula`]), the signed upload client for the network's upload API ([`upload`]) and the
//! commitment string format ([`commitment`]).
//! Must not touch: package validation (gas-package), the registry's storage (gas-registry) or
//! any terminal/CLI concerns beyond an optional progress bar.

pub mod commitment;
pub mod epistula;
pub mod upload;
pub mod wallet;

pub use wallet::{Hotkey, WalletError, WalletLocation};
