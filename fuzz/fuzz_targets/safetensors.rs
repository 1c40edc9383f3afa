//! safetensors header checker on arbitrary bytes (also with a declared length that differs
//! from the real one, as for a ZIP entry whose data is read lazily).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gas_package::st::check_reader(data, data.len() as u64);
    if let Some((&b, rest)) = data.split_first() {
        let declared = (rest.len() as u64)
            .saturating_add(u64::from(b))
            .saturating_sub(128);
        let _ = gas_package::st::check_reader(rest, declared);
    }
});
