//! Wallet loading: key derivation agreement (seed / mnemonic / stored public key), error cases,
//! and compatibility with the reference implementation (PyPI `bittensor-wallet`) in the venv.

use std::path::{Path, PathBuf};
use std::process::Command;

use gas_chain::wallet::{
    Hotkey, WalletError, WalletLocation, parse_signature, ss58_decode, verify,
};
use gas_test_support::venv_python;

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn py(python: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(python)
        .arg(root().join("python/tests/wallet_compat.py"))
        .args(args)
        .output()
        .expect("run python");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.is_empty() || out.status.success() || out.status.code() == Some(1),
        "{stderr}"
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

// Substrate's well-known dev phrase: its mini-secret and Alice-less root address are public facts.
const DEV_PHRASE: &str = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";
const DEV_ROOT_SS58: &str = "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV";

#[test]
fn seed_and_mnemonic_give_the_same_key() {
    let d = tempfile::tempdir().unwrap();
    let from_phrase = Hotkey::load_file(&write(
        d.path(),
        "a",
        &format!("{{\"secretPhrase\":\"{DEV_PHRASE}\"}}"),
    ))
    .unwrap();
    assert_eq!(from_phrase.ss58(), DEV_ROOT_SS58);
    // `secretSeed` of the dev phrase (Substrate mini-secret derivation, empty password).
    let seed = "0xfac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e";
    let from_seed = Hotkey::load_file(&write(
        d.path(),
        "b",
        &format!(
            "{{\"ss58Address\":\"{DEV_ROOT_SS58}\",\"secretSeed\":\"{seed}\",\"cryptoType\":1}}"
        ),
    ))
    .unwrap();
    assert_eq!(from_seed.public_key(), from_phrase.public_key());
    assert_eq!(ss58_decode(DEV_ROOT_SS58).unwrap(), from_seed.public_key());
    let sig = from_seed.sign(b"msg");
    assert!(verify(&from_phrase.public_key(), b"msg", &sig));
    assert!(!verify(&from_phrase.public_key(), b"msh", &sig));
    // randomized signatures: differ, both verify
    assert_ne!(from_seed.sign(b"msg"), sig);
}

#[test]
fn clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let loc = WalletLocation {
        path: d.path().into(),
        name: "nope".into(),
        hotkey: "default".into(),
    };
    let e = Hotkey::load(&loc).unwrap_err();
    assert!(matches!(e, WalletError::Missing(_)), "{e}");
    assert!(e.to_string().contains("nope/hotkeys/default"), "{e}");

    let e = Hotkey::load_file(&write(d.path(), "enc", "$NACL\x00\x01garbage")).unwrap_err();
    assert!(matches!(e, WalletError::Encrypted(_, "NaCl")), "{e}");

    let e = Hotkey::load_file(&write(
        d.path(),
        "ed",
        "{\"cryptoType\":0,\"secretSeed\":\"0x00\"}",
    ))
    .unwrap_err();
    assert!(matches!(e, WalletError::Ed25519(_)), "{e}");

    let e = Hotkey::load_file(&write(d.path(), "bad", "{not json")).unwrap_err();
    assert!(matches!(e, WalletError::Malformed { .. }), "{e}");

    let e =
        Hotkey::load_file(&write(d.path(), "short", "{\"secretSeed\":\"0x0102\"}")).unwrap_err();
    assert!(
        e.to_string().contains("secretSeed") && e.to_string().contains("2 bytes"),
        "{e}"
    );

    let e = Hotkey::load_file(&write(
        d.path(),
        "pub",
        &format!("{{\"ss58Address\":\"{DEV_ROOT_SS58}\"}}"),
    ))
    .unwrap_err();
    assert!(e.to_string().contains("no `secretSeed`"), "{e}");

    let e = Hotkey::load_file(&write(
        d.path(),
        "mismatch",
        &format!(
            "{{\"secretPhrase\":\"{DEV_PHRASE}\",\"ss58Address\":\"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\"}}"
        ),
    ))
    .unwrap_err();
    assert!(e.to_string().contains("does not match"), "{e}");

    assert!(parse_signature("0x12").is_err());
    assert!(ss58_decode("not-an-address").is_err());
}

#[test]
fn compatible_with_bittensor_wallet() {
    let Some(python) = venv_python(&[]) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let root_s = d.path().to_str().unwrap();
    let (ok, addr) = py(&python, &["create", root_s, "w1", "hk"]);
    assert!(ok, "python create failed");
    let loc = WalletLocation {
        path: d.path().into(),
        name: "w1".into(),
        hotkey: "hk".into(),
    };
    let hk = Hotkey::load(&loc).expect("gascli loads a bittensor-wallet hotkey");
    assert_eq!(hk.ss58(), addr);

    // Rust signs, Python verifies.
    let msg = "e3b0c442.1b4e28ba-2fa1-41d2-883f-0016d3cca427.1700000000000.";
    let sig = format!("0x{}", hex::encode(hk.sign(msg.as_bytes())));
    assert_eq!(
        py(&python, &["verify", &addr, msg, &sig]),
        (true, "valid".into())
    );
    // ... and a wrong message does not verify there.
    assert!(!py(&python, &["verify", &addr, "other", &sig]).0);

    // Python signs, Rust verifies.
    let (ok, psig) = py(&python, &["sign", root_s, "w1", "hk", msg]);
    assert!(ok);
    let psig = parse_signature(&psig).unwrap();
    assert!(verify(&hk.public_key(), msg.as_bytes(), &psig));
    assert!(!verify(&hk.public_key(), b"tampered", &psig));
}
