//! The on-chain commitment string: compact JSON `{"key":"<r2_key>","hash":"<h16>"}`.

use crate::epistula::sha256_hex;

/// `Data::Raw` holds at most 128 bytes.
pub const MAX_COMMITMENT_BYTES: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum CommitmentError {
    #[error(
        "commitment is {0} bytes, more than the chain's {MAX_COMMITMENT_BYTES}-byte Data::Raw \
         limit (the r2_key must be at most 92 bytes)"
    )]
    TooLong(usize),
}

/// First 16 hex chars of `sha256_hex(file_hash_hex + hotkey_ss58)`.
pub fn hash16(file_hash_hex: &str, hotkey_ss58: &str) -> String {
    sha256_hex(format!("{file_hash_hex}{hotkey_ss58}").as_bytes())[..16].to_string()
}

/// Builds the commitment string and checks its length.
pub fn commitment_string(
    r2_key: &str,
    file_hash_hex: &str,
    hotkey_ss58: &str,
) -> Result<String, CommitmentError> {
    #[derive(serde::Serialize)]
    struct C<'a> {
        key: &'a str,
        hash: String,
    }
    let s = serde_json::to_string(&C {
        key: r2_key,
        hash: hash16(file_hash_hex, hotkey_ss58),
    })
    .expect("serializing two strings cannot fail");
    if s.len() > MAX_COMMITMENT_BYTES {
        return Err(CommitmentError::TooLong(s.len()));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_limit() {
        let s = commitment_string("models/abc.zip", "00ff", "5Addr").unwrap();
        let h = sha256_hex(b"00ff5Addr");
        assert_eq!(
            s,
            format!("{{\"key\":\"models/abc.zip\",\"hash\":\"{}\"}}", &h[..16])
        );
        assert!(commitment_string(&"k".repeat(92), "00", "5A").is_ok());
        assert!(matches!(
            commitment_string(&"k".repeat(93), "00", "5A"),
            Err(CommitmentError::TooLong(129))
        ));
    }
}
