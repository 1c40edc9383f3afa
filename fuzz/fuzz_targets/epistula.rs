//! Epistula header verification on attacker-chosen headers and body. The input is split on
//! 0xFF bytes into the five header values, the body and the `signed_for` string.
#![no_main]
use gas_chain::epistula::{H_SIGNATURE, H_SIGNED_BY, H_TIMESTAMP, H_UUID, H_VERSION, Verifier};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 5] = [H_VERSION, H_TIMESTAMP, H_UUID, H_SIGNED_BY, H_SIGNATURE];

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0xFF);
    let mut values: Vec<Option<String>> = Vec::new();
    for _ in 0..NAMES.len() {
        // An absent part is a missing header; bytes that are not UTF-8 are refused by HTTP
        // stacks before the verifier, so they are dropped here too.
        values.push(
            parts
                .next()
                .and_then(|p| String::from_utf8(p.to_vec()).ok()),
        );
    }
    let body = parts.next().unwrap_or_default();
    let signed_for = parts
        .next()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_default();
    let get = |n: &str| {
        NAMES
            .iter()
            .position(|k| k.eq_ignore_ascii_case(n))
            .and_then(|i| values[i].as_deref())
    };
    let v = Verifier::new(15_000);
    // Fixed clock at both ends of the range, and the real one.
    for now in [0u64, u64::MAX, 1_750_000_000_000] {
        let _ = v.verify_at(get, body, &signed_for, now);
    }
    let _ = v.verify(get, body, &signed_for);
});
