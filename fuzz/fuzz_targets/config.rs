//! model_config.yaml checker: any text must give findings, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = gas_package::config::check_config(text, "model_config.yaml");
    }
});
