//! model.py static analyzer: any text gives findings, never a panic or a stack overflow.
//! Runs the analysis on libFuzzer's thread (the public `analyze` adds only a thread with a
//! larger stack around the same function); every 64th input goes through `analyze` too.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let f = gas_package::analyzer::analyze_on_current_thread(text, "model.py");
        assert!(!f.iter().any(|x| x.rule == "analysis-failed"), "{f:?}");
        if data.len() % 64 == 0 {
            let g = gas_package::analyzer::analyze(text, "model.py");
            assert_eq!(f.len(), g.len());
        }
    }
});
