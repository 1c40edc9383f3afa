//! `HF_TOKEN` is sent as a bearer token to the hub. Kept alone in its own test binary because it
//! sets a process environment variable.

#[allow(dead_code)] // each test binary uses a different part of the fake hub
use gas_datasets::{DatasetSpec, Label, Modality, Mode, OpenOptions, open};
use gas_test_support::hub_server::{Hub, start};

#[test]
fn hf_token_is_sent_as_bearer() {
    // SAFETY: the only test in this binary; no other thread reads the environment concurrently.
    unsafe { std::env::set_var("HF_TOKEN", "hf_test_secret") };
    let mut hub = Hub::default();
    hub.files
        .insert("clip.mp4".into(), b"not really a video".to_vec());
    let server = start(hub);
    let cache = tempfile::tempdir().unwrap();
    let spec = DatasetSpec::new("tok", "org/gated", Modality::Video, Label::Real);
    let o = OpenOptions {
        mode: Mode::Full,
        seed: 0,
        cache_dir: cache.path().to_path_buf(),
        offline: false,
        hf_endpoint: server.endpoint.clone(),
        gasstation: Default::default(),
    };
    let n = open(&spec, &o).unwrap().filter(|s| s.is_ok()).count();
    assert_eq!(
        n, 1,
        "a loose media file in the repo is downloaded and used"
    );
    let reqs = server.requests();
    assert!(reqs.len() >= 2);
    for r in reqs {
        assert_eq!(
            r.auth.as_deref(),
            Some("Bearer hf_test_secret"),
            "{}",
            r.path
        );
    }
}
