//! The parent's reader of the worker's reply frames (length-prefixed JSON header + payload):
//! a hostile worker controls every byte.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gas_bench::worker::fuzz_read_frame(data);
});
