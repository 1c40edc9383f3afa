//! Epistula v2 request signing and verification (see push.md): headers `Epistula-Version`,
//! `-Timestamp` (ms), `-Uuid`, `-Signed-By`, `-Request-Signature` over
//! `"{sha256_hex(body)}.{uuid}.{timestamp}.{signed_for}"`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::wallet::{Hotkey, parse_signature, ss58_decode, verify};

pub const H_VERSION: &str = "Epistula-Version";
pub const H_TIMESTAMP: &str = "Epistula-Timestamp";
pub const H_UUID: &str = "Epistula-Uuid";
pub const H_SIGNED_BY: &str = "Epistula-Signed-By";
pub const H_SIGNATURE: &str = "Epistula-Request-Signature";

/// Default accepted clock difference: ±15 s.
pub const DEFAULT_WINDOW_MS: u64 = 15_000;

/// Why a request's Epistula headers were rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EpistulaError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("unsupported Epistula-Version {0:?} (expected \"2\")")]
    Version(String),
    #[error("Epistula-Timestamp {0:?} is not a Unix time in milliseconds")]
    BadTimestamp(String),
    #[error("Epistula-Timestamp is {0} ms away from the server clock (window ±{1} ms)")]
    OutOfWindow(i64, u64),
    #[error("Epistula-Uuid {0:?} is not a UUID")]
    BadUuid(String),
    #[error("Epistula-Uuid {0} was already used (replay)")]
    Replay(String),
    #[error("Epistula-Signed-By {0:?} is not an SS58 address")]
    BadSigner(String),
    #[error("Epistula-Request-Signature is not 0x + 64 bytes hex")]
    BadSignatureFormat,
    #[error("Epistula-Request-Signature does not verify for {0}")]
    SignatureMismatch(String),
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The exact message that is signed.
pub fn message(body_sha256_hex: &str, uuid: &str, timestamp_ms: u64, signed_for: &str) -> String {
    format!("{body_sha256_hex}.{uuid}.{timestamp_ms}.{signed_for}")
}

/// Signed headers for one request (name, value), in the spec's order.
pub fn sign_request(hotkey: &Hotkey, body: &[u8], signed_for: &str) -> Vec<(&'static str, String)> {
    sign_request_at(
        hotkey,
        body,
        signed_for,
        now_ms(),
        &uuid::Uuid::new_v4().to_string(),
    )
}

/// As [`sign_request`] with a given timestamp and uuid (tests, clock-skew experiments).
pub fn sign_request_at(
    hotkey: &Hotkey,
    body: &[u8],
    signed_for: &str,
    timestamp_ms: u64,
    uuid: &str,
) -> Vec<(&'static str, String)> {
    let msg = message(&sha256_hex(body), uuid, timestamp_ms, signed_for);
    let sig = hotkey.sign(msg.as_bytes());
    vec![
        (H_VERSION, "2".to_string()),
        (H_TIMESTAMP, timestamp_ms.to_string()),
        (H_UUID, uuid.to_string()),
        (H_SIGNED_BY, hotkey.ss58().to_string()),
        (H_SIGNATURE, format!("0x{}", hex::encode(sig))),
    ]
}

/// Server-side verifier: timestamp window plus a replay cache of uuids seen within the window.
#[derive(Debug)]
pub struct Verifier {
    window_ms: u64,
    seen: Mutex<HashMap<String, u64>>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new(DEFAULT_WINDOW_MS)
    }
}

impl Verifier {
    pub fn new(window_ms: u64) -> Self {
        Self {
            window_ms,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Verifies headers (looked up case-insensitively by `get`) against `body`; returns the
    /// signer's SS58 address.
    pub fn verify<'a>(
        &self,
        get: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
        signed_for: &str,
    ) -> Result<String, EpistulaError> {
        self.verify_at(get, body, signed_for, now_ms())
    }

    pub fn verify_at<'a>(
        &self,
        get: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
        signed_for: &str,
        now_ms: u64,
    ) -> Result<String, EpistulaError> {
        let h = |n: &'static str| get(n).ok_or(EpistulaError::MissingHeader(n));
        let version = h(H_VERSION)?;
        if version.trim() != "2" {
            return Err(EpistulaError::Version(version.to_string()));
        }
        let ts_s = h(H_TIMESTAMP)?;
        let ts: u64 = ts_s
            .trim()
            .parse()
            .map_err(|_| EpistulaError::BadTimestamp(ts_s.to_string()))?;
        // i128: any u64 timestamp and clock (the header is attacker-chosen; found by fuzzing)
        let skew = i128::from(ts) - i128::from(now_ms);
        if skew.unsigned_abs() > u128::from(self.window_ms) {
            let shown = i64::try_from(skew).unwrap_or(if skew < 0 { i64::MIN } else { i64::MAX });
            return Err(EpistulaError::OutOfWindow(shown, self.window_ms));
        }
        let id = h(H_UUID)?;
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(EpistulaError::BadUuid(id.to_string()));
        }
        let signer = h(H_SIGNED_BY)?;
        let public =
            ss58_decode(signer).map_err(|_| EpistulaError::BadSigner(signer.to_string()))?;
        let sig =
            parse_signature(h(H_SIGNATURE)?).map_err(|_| EpistulaError::BadSignatureFormat)?;
        let msg = message(&sha256_hex(body), id, ts, signed_for);
        if !verify(&public, msg.as_bytes(), &sig) {
            return Err(EpistulaError::SignatureMismatch(signer.to_string()));
        }
        // Replay check last, so that forged requests cannot burn a legitimate uuid.
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let horizon = now_ms.saturating_sub(self.window_ms);
        seen.retain(|_, t| t.saturating_add(self.window_ms) >= horizon);
        if seen.contains_key(id) {
            return Err(EpistulaError::Replay(id.to_string()));
        }
        seen.insert(id.to_string(), ts);
        Ok(signer.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hk() -> Hotkey {
        Hotkey::from_seed([7u8; 32])
    }

    fn lookup<'a>(h: &'a [(&'static str, String)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
        move |n| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
        }
    }

    #[test]
    fn roundtrip_then_replay_rejected() {
        let k = hk();
        let h = sign_request_at(
            &k,
            b"{}",
            "",
            1_000_000,
            "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
        );
        let v = Verifier::default();
        assert_eq!(
            v.verify_at(lookup(&h), b"{}", "", 1_000_100).unwrap(),
            k.ss58()
        );
        assert_eq!(
            v.verify_at(lookup(&h), b"{}", "", 1_000_200),
            Err(EpistulaError::Replay(
                "1b4e28ba-2fa1-41d2-883f-0016d3cca427".into()
            ))
        );
    }

    #[test]
    fn window_body_and_signer_checked() {
        let k = hk();
        let v = Verifier::default();
        let h = sign_request_at(&k, b"abc", "", 1_000_000, &uuid::Uuid::new_v4().to_string());
        assert!(matches!(
            v.verify_at(lookup(&h), b"abc", "", 1_015_001),
            Err(EpistulaError::OutOfWindow(-15_001, _))
        ));
        assert!(matches!(
            v.verify_at(lookup(&h), b"abc", "", 984_999),
            Err(EpistulaError::OutOfWindow(15_001, _))
        ));
        assert!(matches!(
            v.verify_at(lookup(&h), b"abd", "", 1_000_000),
            Err(EpistulaError::SignatureMismatch(_))
        ));
        assert!(matches!(
            v.verify_at(lookup(&h), b"abc", "other", 1_000_000),
            Err(EpistulaError::SignatureMismatch(_))
        ));
        let mut h2 = h.clone();
        h2[3].1 = Hotkey::from_seed([8u8; 32]).ss58().to_string();
        assert!(matches!(
            v.verify_at(lookup(&h2), b"abc", "", 1_000_000),
            Err(EpistulaError::SignatureMismatch(_))
        ));
        let h3: Vec<_> = h.iter().filter(|(k, _)| *k != H_UUID).cloned().collect();
        assert_eq!(
            v.verify_at(lookup(&h3), b"abc", "", 1_000_000),
            Err(EpistulaError::MissingHeader(H_UUID))
        );
        assert_eq!(
            v.verify_at(lookup(&h), b"abc", "", 1_015_000).unwrap(),
            k.ss58()
        );
    }

    /// Fuzzing found `ts as i64 - now as i64` overflowing (a panic in debug builds) for
    /// timestamps beyond i64 and clocks at the ends of the range.
    #[test]
    fn extreme_timestamps_are_out_of_window_not_a_panic() {
        let v = Verifier::default();
        for ts in [
            "9223372036854775807",
            "9223372036854775808",
            "18446744073709551615",
            "0",
        ] {
            let h: Vec<(&'static str, String)> = vec![
                (H_VERSION, "2".into()),
                (H_TIMESTAMP, ts.into()),
                (H_UUID, uuid::Uuid::new_v4().to_string()),
                (H_SIGNED_BY, hk().ss58().to_string()),
                (H_SIGNATURE, format!("0x{}", "ab".repeat(64))),
            ];
            for now in [0, 1_750_000_000_000, u64::MAX] {
                let r = v.verify_at(lookup(&h), b"{}", "", now);
                assert!(
                    matches!(
                        r,
                        Err(EpistulaError::OutOfWindow(..) | EpistulaError::SignatureMismatch(_))
                    ),
                    "{ts} at {now}: {r:?}"
                );
            }
        }
        // runs of '1' in Epistula-Signed-By made the base58 decoder panic
        for signer in [
            "1".repeat(48),
            "1".repeat(5) + &hk().ss58()[5..],
            "1".repeat(300),
        ] {
            let h: Vec<(&'static str, String)> = vec![
                (H_VERSION, "2".into()),
                (H_TIMESTAMP, "1750000000000".into()),
                (H_UUID, uuid::Uuid::new_v4().to_string()),
                (H_SIGNED_BY, signer),
                (H_SIGNATURE, format!("0x{}", "ab".repeat(64))),
            ];
            let r = v.verify_at(lookup(&h), b"{}", "", 1_750_000_000_000);
            assert!(matches!(r, Err(EpistulaError::BadSigner(_))), "{r:?}");
        }
        // a signed request at the very end of the clock range still verifies and is remembered
        let k = hk();
        let h = sign_request_at(&k, b"{}", "", u64::MAX, &uuid::Uuid::new_v4().to_string());
        assert_eq!(
            v.verify_at(lookup(&h), b"{}", "", u64::MAX).unwrap(),
            k.ss58()
        );
    }

    #[test]
    fn message_format_matches_spec() {
        let m = message(&sha256_hex(b""), "u", 5, "");
        assert_eq!(
            m,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.u.5."
        );
    }
}
