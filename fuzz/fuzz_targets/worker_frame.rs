//! The parent's reader of the worker's reply frames (length-prefixed JSON header + payload)
//! and the logits check on what it returns: a hostile worker controls every byte.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first two bytes choose the batch size and class count the reply is checked against.
    let Some((&[b, k], frame)) = data.split_first_chunk::<2>() else {
        return;
    };
    let (b, k) = (usize::from(b % 9), usize::from(k % 5));
    let max_payload = (b * k * 4) as u64;
    if let Some((header, payload)) = gas_bench::worker::fuzz_read_frame(frame, max_payload) {
        let _ = gas_bench::worker::check_logits("fuzz", &header, &payload, b, k);
    }
    let _ = gas_bench::worker::fuzz_read_frame(frame, 1 << 30);
});
