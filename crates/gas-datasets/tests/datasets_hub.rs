//! Hugging Face hub datasets against a fake hub on 127.0.0.1: listing with pagination, download
//! into the cache, resume after a dropped connection and from an earlier `.part`, cache reuse,
//! offline mode, archive limits and HTTP errors.

#[allow(dead_code)] // each test binary uses a different part of the fake hub
use gas_datasets::hub::repo_cache_dir;
use gas_datasets::{DatasetError, DatasetSpec, Label, Media, Modality, Mode, OpenOptions, open};
use gas_test_support::hub_server::{Hub, start};
use std::io::Write;

fn zip_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (n, b) in entries {
        w.start_file(n.as_str(), o).unwrap();
        w.write_all(b).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A zip of `n` images with pseudo-random (incompressible-ish) content, ~`n * 20 KB`.
fn image_zip(tag: &str, n: usize) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let mut x: u32 = 2463534242 ^ tag.len() as u32;
    let entries: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            let data: Vec<u8> = (0..20_000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            (format!("{tag}/{i}.png"), data)
        })
        .collect();
    (zip_of(&entries), entries)
}

fn opts(endpoint: &str, cache: &std::path::Path, mode: Mode, offline: bool) -> OpenOptions {
    OpenOptions {
        mode,
        seed: 1,
        cache_dir: cache.to_path_buf(),
        offline,
        hf_endpoint: endpoint.to_string(),
        gasstation: Default::default(),
    }
}

fn read_all(spec: &DatasetSpec, o: &OpenOptions) -> Vec<(String, Vec<u8>)> {
    open(spec, o)
        .unwrap()
        .map(|s| {
            let s = s.unwrap();
            match s.media {
                Media::Bytes(b) => (s.id, b),
                Media::File(p) => (s.id, std::fs::read(p).unwrap()),
            }
        })
        .collect()
}

#[test]
fn downloads_resume_after_a_dropped_connection_and_reuse_the_cache() {
    let (zip_a, entries_a) = image_zip("a", 12);
    let (zip_b, entries_b) = image_zip("b", 5);
    let mut hub = Hub::default();
    hub.files.insert("data/part-a.zip".into(), zip_a.clone());
    hub.files.insert("data/part-b.zip".into(), zip_b.clone());
    hub.files.insert("README.md".into(), b"# card".to_vec());
    hub.drop_once
        .insert("data/part-a.zip".into(), zip_a.len() / 3);
    let server = start(hub);
    let cache = tempfile::tempdir().unwrap();

    let spec = DatasetSpec::new(
        "remote",
        "someorg/fake-ds",
        Modality::Image,
        Label::Synthetic,
    );
    let got = read_all(
        &spec,
        &opts(&server.endpoint, cache.path(), Mode::Full, false),
    );
    assert_eq!(got.len(), 17);
    for (name, data) in entries_a.iter().chain(&entries_b) {
        let file = if name.starts_with("a/") {
            "data/part-a.zip"
        } else {
            "data/part-b.zip"
        };
        let id = format!("{file}/{name}");
        let found = got
            .iter()
            .find(|(i, _)| *i == id)
            .unwrap_or_else(|| panic!("{id}"));
        assert_eq!(&found.1, data);
    }

    // The first request was cut; the retry asked for the rest only.
    let a = server.downloads_of("data/part-a.zip");
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a[0].range, None);
    assert_eq!(
        a[1].range.as_deref(),
        Some(format!("bytes={}-", zip_a.len() / 3).as_str())
    );
    let dir = repo_cache_dir(cache.path(), "someorg/fake-ds");
    assert_eq!(std::fs::read(dir.join("data/part-a.zip")).unwrap(), zip_a);
    assert!(!dir.join("data/part-a.zip.part").exists());
    assert!(
        server.downloads_of("README.md").is_empty(),
        "non-media files are not fetched"
    );
    // Both listing pages were read.
    let listings = server
        .requests()
        .iter()
        .filter(|r| r.path.contains("/tree/main"))
        .count();
    assert_eq!(listings, 2);

    // Second run: complete files are reused, no new downloads.
    let again = read_all(
        &spec,
        &opts(&server.endpoint, cache.path(), Mode::Full, false),
    );
    assert_eq!(again, got);
    assert_eq!(server.downloads_of("data/part-a.zip").len(), 2);
    assert_eq!(server.downloads_of("data/part-b.zip").len(), 1);

    // Offline with the server gone: listing and files come from the cache.
    drop(server);
    let offline = read_all(
        &spec,
        &opts("http://127.0.0.1:9", cache.path(), Mode::Full, true),
    );
    assert_eq!(offline, got);
}

#[test]
fn resumes_from_a_part_file_left_by_an_earlier_run() {
    let (zip_a, _) = image_zip("p", 6);
    let mut hub = Hub::default();
    hub.files.insert("only.zip".into(), zip_a.clone());
    let server = start(hub);
    let cache = tempfile::tempdir().unwrap();
    let dir = repo_cache_dir(cache.path(), "org/partial");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("only.zip.part"), &zip_a[..1000]).unwrap();

    // The hf:// form of a repo id is accepted too.
    let spec = DatasetSpec::new(
        "p",
        "hf://datasets/org/partial",
        Modality::Image,
        Label::Real,
    );
    let got = read_all(
        &spec,
        &opts(&server.endpoint, cache.path(), Mode::Full, false),
    );
    assert_eq!(got.len(), 6);
    let reqs = server.downloads_of("only.zip");
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].range.as_deref(), Some("bytes=1000-"));
    assert_eq!(std::fs::read(dir.join("only.zip")).unwrap(), zip_a);
}

#[test]
fn archive_limits_apply_before_download() {
    let mut hub = Hub::default();
    for i in 0..5 {
        hub.files
            .insert(format!("shards/s{i}.zip"), image_zip(&format!("s{i}"), 3).0);
    }
    hub.files.insert("other/x.zip".into(), image_zip("x", 3).0);
    let server = start(hub);
    let cache = tempfile::tempdir().unwrap();
    let mut spec = DatasetSpec::new("lim", "org/limits", Modality::Image, Label::Real);
    spec.archives_per_dataset = 2;
    spec.include_paths = vec!["shards".into()];
    let got = read_all(
        &spec,
        &opts(&server.endpoint, cache.path(), Mode::Full, false),
    );
    assert_eq!(got.len(), 6);
    let fetched: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.path.contains("/resolve/"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(fetched.len(), 2, "{fetched:?}");
    assert!(fetched.iter().all(|p| p.contains("/shards/")));

    // Debug mode with archives_per_dataset = -1 downloads one archive only.
    let cache2 = tempfile::tempdir().unwrap();
    spec.archives_per_dataset = -1;
    let before = server.requests().len();
    let got = read_all(
        &spec,
        &opts(&server.endpoint, cache2.path(), Mode::Debug, false),
    );
    assert_eq!(got.len(), 3);
    let new_downloads = server.requests()[before..]
        .iter()
        .filter(|r| r.path.contains("/resolve/"))
        .count();
    assert_eq!(new_downloads, 1);
}

#[test]
fn offline_without_cache_and_http_errors_are_clear() {
    let cache = tempfile::tempdir().unwrap();
    let spec = DatasetSpec::new("nc", "org/not-cached", Modality::Image, Label::Real);
    let err = open(
        &spec,
        &opts("http://127.0.0.1:9", cache.path(), Mode::Full, true),
    )
    .err()
    .unwrap();
    assert!(matches!(err, DatasetError::NotCached { .. }), "{err:?}");
    assert!(err.to_string().contains("org/not-cached") && err.to_string().contains("offline"));

    // Unknown repo → 404 on the listing (our fake hub answers 404 for unknown routes).
    let server = start(Hub::default());
    let mut spec = DatasetSpec::new("e", "org/empty", Modality::Image, Label::Real);
    let err = open(
        &spec,
        &opts(&server.endpoint, cache.path(), Mode::Full, false),
    )
    .err()
    .unwrap();
    assert!(
        matches!(err, DatasetError::Empty { .. }),
        "empty repo: {err:?}"
    );
    spec.path = "org/..bad".into();
    let err = open(
        &spec,
        &opts(&server.endpoint, cache.path(), Mode::Full, false),
    )
    .err()
    .unwrap();
    assert!(matches!(err, DatasetError::NotFound { .. }), "{err:?}");

    // Nothing listening: a download error naming the URL.
    let spec = DatasetSpec::new("d", "org/down", Modality::Image, Label::Real);
    let err = open(
        &spec,
        &opts("http://127.0.0.1:9", cache.path(), Mode::Full, false),
    )
    .err()
    .unwrap();
    assert!(matches!(err, DatasetError::Download { .. }), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
}
