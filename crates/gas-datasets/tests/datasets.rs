//! Datasets: local folders, catalog, sampling, zip/tar archives, corrupt and empty inputs.

use gas_datasets::{
    DatasetError, DatasetSpec, Label, Media, Modality, Mode, OpenOptions, Sample, load_catalog,
    local_dir_specs, open,
};
use std::io::Write;
use std::path::Path;

fn opts(mode: Mode, seed: u64, cache: &Path) -> OpenOptions {
    OpenOptions {
        mode,
        seed,
        cache_dir: cache.to_path_buf(),
        offline: true,
        hf_endpoint: "http://127.0.0.1:9".into(),
        gasstation: Default::default(),
    }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn collect(spec: &DatasetSpec, o: &OpenOptions) -> (Vec<Sample>, Vec<DatasetError>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for item in open(spec, o).unwrap() {
        match item {
            Ok(s) => ok.push(s),
            Err(e) => bad.push(e),
        }
    }
    (ok, bad)
}

fn ids(samples: &[Sample]) -> Vec<String> {
    samples.iter().map(|s| s.id.clone()).collect()
}

#[test]
fn local_folder_walks_recursively_sorted_and_filters_extensions() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("ds");
    write(&d.join("b.PNG"), b"png-b");
    write(&d.join("a.jpg"), b"jpg-a");
    write(&d.join("sub/c.webp"), b"webp-c");
    write(&d.join("notes.txt"), b"not media");
    write(&d.join("clip.mp4"), b"video");
    write(&d.join(".hidden.png"), b"hidden");
    let spec = DatasetSpec::new(
        "mine",
        d.to_str().unwrap(),
        Modality::Image,
        Label::Synthetic,
    );
    let (ok, bad) = collect(&spec, &opts(Mode::Full, 0, t.path()));
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(ids(&ok), ["a.jpg", "b.PNG", "sub/c.webp"]);
    for s in &ok {
        assert_eq!(s.dataset, "mine");
        assert_eq!(s.label, Label::Synthetic);
        match &s.media {
            Media::File(p) => assert_eq!(p, &d.join(&s.id)),
            m => panic!("expected a file, got {m:?}"),
        }
    }
    // Same folder as video: only the mp4.
    let spec = DatasetSpec::new("v", d.to_str().unwrap(), Modality::Video, Label::Real);
    let (ok, _) = collect(&spec, &opts(Mode::Full, 0, t.path()));
    assert_eq!(ids(&ok), ["clip.mp4"]);
}

#[test]
fn sampling_is_seeded_reproducible_and_bounded_by_mode() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("many");
    for i in 0..150 {
        write(&d.join(format!("img{i:03}.png")), b"x");
    }
    let spec = DatasetSpec::new("many", d.to_str().unwrap(), Modality::Image, Label::Real);
    let run = |mode, seed| ids(&collect(&spec, &opts(mode, seed, t.path())).0);
    let a = run(Mode::Debug, 7);
    assert_eq!(a.len(), Mode::DEBUG_PER_DATASET);
    let it = open(&spec, &opts(Mode::Small, 7, t.path())).unwrap();
    assert_eq!(
        it.size_hint(),
        (100, Some(100)),
        "known up front, for progress bars"
    );
    assert_eq!(a, run(Mode::Debug, 7), "same seed, same sample");
    assert_ne!(a, run(Mode::Debug, 8), "another seed, another sample");
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(a, sorted, "picked items keep listing order");
    let s = run(Mode::Small, 1);
    assert_eq!(s.len(), Mode::SMALL_PER_DATASET);
    let mut dedup = s.clone();
    dedup.dedup();
    assert_eq!(dedup.len(), s.len(), "no duplicates");
    assert_eq!(run(Mode::Full, 1).len(), 150);
    // A different dataset name draws independently.
    let mut other = spec.clone();
    other.name = "many-2".into();
    assert_ne!(ids(&collect(&other, &opts(Mode::Debug, 7, t.path())).0), a);
}

#[test]
fn include_and_exclude_globs() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("g");
    write(&d.join("train/a.png"), b"1");
    write(&d.join("train/skip_b.png"), b"1");
    write(&d.join("test/c.png"), b"1");
    let mut spec = DatasetSpec::new("g", d.to_str().unwrap(), Modality::Image, Label::Real);
    spec.include_paths = vec!["train".into()];
    spec.exclude_paths = vec!["**/skip_*".into()];
    let (ok, _) = collect(&spec, &opts(Mode::Full, 0, t.path()));
    assert_eq!(ids(&ok), ["train/a.png"]);
    spec.include_paths = vec!["[".into()];
    let err = open(&spec, &opts(Mode::Full, 0, t.path()))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("include_paths") && err.contains("bad glob"),
        "{err}"
    );
}

#[test]
fn label_subfolders_become_datasets() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("mydata");
    write(&d.join("real/r.png"), b"1");
    write(&d.join("synthetic/s.png"), b"1");
    let specs = local_dir_specs(&d, Modality::Image).unwrap();
    let got: Vec<(String, Label)> = specs
        .iter()
        .map(|s| (s.name.clone(), s.media_type))
        .collect();
    assert_eq!(
        got,
        [
            ("mydata/real".to_string(), Label::Real),
            ("mydata/synthetic".to_string(), Label::Synthetic)
        ]
    );
    let (ok, _) = collect(&specs[1], &opts(Mode::Full, 0, t.path()));
    assert_eq!(ids(&ok), ["s.png"]);

    let empty = t.path().join("nothing");
    std::fs::create_dir_all(empty.join("other")).unwrap();
    let err = local_dir_specs(&empty, Modality::Image)
        .unwrap_err()
        .to_string();
    assert!(err.contains("real/") && err.contains("nothing"), "{err}");
    let err = local_dir_specs(&t.path().join("missing"), Modality::Image)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing"), "{err}");
}

#[test]
fn empty_and_missing_datasets_give_clear_errors() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("empty_ds");
    write(&d.join("readme.txt"), b"no media here");
    let spec = DatasetSpec::new("e", d.to_str().unwrap(), Modality::Audio, Label::Real);
    let err = open(&spec, &opts(Mode::Full, 0, t.path())).err().unwrap();
    assert!(matches!(err, DatasetError::Empty { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("empty_ds") && msg.contains("audio") && msg.contains("wav"),
        "{msg}"
    );

    let spec = DatasetSpec::new("m", "/definitely/not/here", Modality::Image, Label::Real);
    let msg = open(&spec, &opts(Mode::Full, 0, t.path()))
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("/definitely/not/here") && msg.contains("does not exist"),
        "{msg}"
    );

    let mut spec = DatasetSpec::new("x", d.to_str().unwrap(), Modality::Image, Label::Real);
    spec.media_per_archive = -5;
    let msg = open(&spec, &opts(Mode::Full, 0, t.path()))
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("media_per_archive") && msg.contains("-5"),
        "{msg}"
    );
}

#[test]
fn zero_byte_file_is_a_counted_error_not_fatal() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("z");
    write(&d.join("a.png"), b"");
    write(&d.join("b.png"), b"ok");
    let spec = DatasetSpec::new("z", d.to_str().unwrap(), Modality::Image, Label::Real);
    let (ok, bad) = collect(&spec, &opts(Mode::Full, 0, t.path()));
    assert_eq!(ids(&ok), ["b.png"]);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].sample(), Some(("z", "a.png")));
    assert!(bad[0].to_string().contains("0 bytes"));
}

#[test]
fn catalog_loads_defaults_ignores_unknown_keys_and_resolves_relative_paths() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("local_imgs/x.png"), b"1");
    let cat = t.path().join("cat.yaml");
    write(
        &cat,
        br#"
version: 3            # unknown top-level key
datasets:
  - name: hub-one
    path: someorg/some-dataset
    modality: image
    media_type: synthetic
    source_format: parquet
    media_per_archive: 50
    archives_per_dataset: 2
    data_columns: [image]
    filter_column: split
    filter_value: test
    generator_family: sdxl
    brand_new_key: whatever
  - name: local
    path: local_imgs
    modality: IMAGE
    media_type: real
    include_paths: "*.png"
"#,
    );
    let specs = load_catalog(&cat).unwrap();
    assert_eq!(specs.len(), 2);
    let a = &specs[0];
    assert_eq!(a.path, "someorg/some-dataset");
    assert_eq!(a.media_type, Label::Synthetic);
    assert_eq!(a.source_format.as_deref(), Some("parquet"));
    assert_eq!((a.media_per_archive, a.archives_per_dataset), (50, 2));
    assert_eq!(a.data_columns, ["image"]);
    assert_eq!(a.filter_value.as_deref(), Some("test"));
    assert_eq!(a.generator_family.as_deref(), Some("sdxl"));
    let b = &specs[1];
    assert_eq!(b.modality, Modality::Image);
    // missing limits take the network's defaults (issue 11)
    assert_eq!(
        (b.media_per_archive, b.archives_per_dataset),
        (
            gas_datasets::catalog::DEFAULT_MEDIA_PER_ARCHIVE,
            gas_datasets::catalog::DEFAULT_ARCHIVES_PER_DATASET
        )
    );
    assert_eq!(b.include_paths, ["*.png"]);
    assert_eq!(Path::new(&b.path), t.path().join("local_imgs"));
    let (ok, _) = collect(b, &opts(Mode::Full, 0, t.path()));
    assert_eq!(ids(&ok), ["x.png"]);
}

#[test]
fn catalog_errors_name_the_entry_and_field() {
    let t = tempfile::tempdir().unwrap();
    let cat = t.path().join("bad.yaml");
    let check = |yaml: &str, needles: &[&str]| {
        std::fs::write(&cat, yaml).unwrap();
        let msg = load_catalog(&cat).unwrap_err().to_string();
        for n in needles {
            assert!(msg.contains(n), "{n:?} not in {msg:?}");
        }
    };
    check(
        "datasets:\n  - name: a\n    path: x/y\n    modality: image\n    media_type: fake\n",
        &[
            "bad.yaml",
            "entry 1",
            "\"a\"",
            "media_type",
            "real, synthetic or semisynthetic",
        ],
    );
    check(
        "datasets:\n  - name: a\n    path: x/y\n    media_type: real\n",
        &["entry 1", "modality", "required"],
    );
    check(
        "datasets:\n  - name: a\n    path: x/y\n    modality: image\n    media_type: real\n  - name: a\n    path: x/z\n    modality: image\n    media_type: real\n",
        &["entry 2", "unique"],
    );
    check("just: text\n", &["datasets"]);
    check("datasets: [\n", &["bad.yaml"]);
    check(
        "datasets:\n  - name: a\n    path: x/y\n    modality: image\n    media_type: real\n    filter_column: split\n",
        &["filter_value", "together"],
    );
    let msg = load_catalog(&t.path().join("nope.yaml"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("nope.yaml"), "{msg}");
}

fn make_zip(path: &Path, entries: &[(&str, &[u8])], method: zip::CompressionMethod) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = zip::ZipWriter::new(f);
    let o = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, data) in entries {
        w.start_file(*name, o).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn zip_entries_are_read_lazily_with_limits_and_errors_counted() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("zips");
    std::fs::create_dir_all(&d).unwrap();
    let good: Vec<(String, Vec<u8>)> = (0..10)
        .map(|i| (format!("imgs/{i}.jpg"), format!("jpeg-{i}").into_bytes()))
        .collect();
    let mut entries: Vec<(&str, &[u8])> = good
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    entries.push(("readme.md", b"ignored"));
    entries.push(("../evil.jpg", b"escape"));
    entries.push(("empty.jpg", b""));
    make_zip(
        &d.join("part1.zip"),
        &entries,
        zip::CompressionMethod::Deflated,
    );

    let spec = DatasetSpec::new("z", d.to_str().unwrap(), Modality::Image, Label::Synthetic);
    let (ok, bad) = collect(&spec, &opts(Mode::Full, 0, t.path()));
    assert_eq!(ok.len(), 10);
    for s in &ok {
        let name = s.id.strip_prefix("part1.zip/").unwrap();
        let want = &good.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(s.media, Media::Bytes(want.clone()));
    }
    let mut reasons: Vec<String> = bad.iter().map(|e| e.to_string()).collect();
    reasons.sort();
    assert_eq!(bad.len(), 2, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("../evil.jpg") && r.contains("refused"))
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("empty.jpg") && r.contains("0 bytes"))
    );

    // media_per_archive, reproducible.
    let mut lim = spec.clone();
    lim.media_per_archive = 3;
    let a = collect(&lim, &opts(Mode::Full, 5, t.path()));
    let b = collect(&lim, &opts(Mode::Full, 5, t.path()));
    assert_eq!(a.0.len() + a.1.len(), 3);
    assert_eq!(ids(&a.0), ids(&b.0));
}

#[test]
fn corrupt_zip_entry_and_corrupt_zip_file_are_not_fatal() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("bad");
    std::fs::create_dir_all(&d).unwrap();
    let payload_a = vec![b'A'; 4000];
    let payload_b = vec![b'B'; 4000];
    let zpath = d.join("a.zip");
    make_zip(
        &zpath,
        &[("a.png", &payload_a), ("b.png", &payload_b)],
        zip::CompressionMethod::Stored,
    );
    // Flip a byte inside a.png's stored data: its CRC no longer matches.
    let mut bytes = std::fs::read(&zpath).unwrap();
    let pos = bytes
        .windows(4000)
        .position(|w| w == payload_a.as_slice())
        .unwrap();
    bytes[pos + 100] = b'X';
    std::fs::write(&zpath, bytes).unwrap();
    write(&d.join("b.zip"), b"this is not a zip file at all");
    write(&d.join("loose.png"), b"fine");

    let spec = DatasetSpec::new("bad", d.to_str().unwrap(), Modality::Image, Label::Real);
    let (ok, bad) = collect(&spec, &opts(Mode::Full, 0, t.path()));
    let mut got = ids(&ok);
    got.sort();
    assert_eq!(got, ["a.zip/b.png", "loose.png"]);
    let msgs: Vec<String> = bad.iter().map(|e| e.to_string()).collect();
    assert_eq!(bad.len(), 2, "{msgs:?}");
    assert!(
        bad.iter()
            .any(|e| e.sample() == Some(("bad", "a.zip/a.png"))),
        "{msgs:?}"
    );
    assert!(
        bad.iter()
            .any(|e| e.sample() == Some(("bad", "b.zip")) && e.to_string().contains("zip")),
        "{msgs:?}"
    );
}

fn make_tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn tar_and_tar_gz_archives() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("tars");
    std::fs::create_dir_all(&d).unwrap();
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let raw = make_tar(&[
        ("v/one.wav", b"RIFF1"),
        ("v/two.flac", &big),
        ("v/skip.txt", b"no"),
    ]);
    std::fs::write(d.join("plain.tar"), &raw).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&make_tar(&[("three.mp3", b"ID3x")])).unwrap();
    std::fs::write(d.join("packed.tar.gz"), gz.finish().unwrap()).unwrap();

    let spec = DatasetSpec::new("t", d.to_str().unwrap(), Modality::Audio, Label::Real);
    let (ok, bad) = collect(&spec, &opts(Mode::Full, 0, t.path()));
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(
        ids(&ok),
        [
            "packed.tar.gz/three.mp3",
            "plain.tar/v/one.wav",
            "plain.tar/v/two.flac"
        ]
    );
    assert_eq!(ok[2].media, Media::Bytes(big.clone()));

    // With sampling (listing pass, then a second pass reading only the picks).
    let mut lim = spec.clone();
    lim.media_per_archive = 1;
    let (ok, bad) = collect(&lim, &opts(Mode::Debug, 0, t.path()));
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(ok.len(), 2, "one per archive");
    for s in &ok {
        let want: &[u8] = match s.id.as_str() {
            "packed.tar.gz/three.mp3" => b"ID3x",
            "plain.tar/v/one.wav" => b"RIFF1",
            "plain.tar/v/two.flac" => &big,
            other => panic!("unexpected {other}"),
        };
        assert_eq!(s.media, Media::Bytes(want.to_vec()));
    }

    // source_format restricts to tar files; a single archive file as `path` works too.
    let mut one = DatasetSpec::new(
        "one",
        d.join("plain.tar").to_str().unwrap(),
        Modality::Audio,
        Label::Real,
    );
    one.source_format = Some("tar".into());
    let (ok, _) = collect(&one, &opts(Mode::Full, 0, t.path()));
    assert_eq!(ids(&ok), ["plain.tar/v/one.wav", "plain.tar/v/two.flac"]);
}

#[test]
fn archives_without_media_are_an_empty_dataset() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("nomedia");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("docs.tar"), make_tar(&[("readme.txt", b"hi")])).unwrap();
    make_zip(
        &d.join("docs.zip"),
        &[("notes.txt", b"x")],
        zip::CompressionMethod::Stored,
    );
    let spec = DatasetSpec::new("nm", d.to_str().unwrap(), Modality::Image, Label::Real);
    for mode in [Mode::Full, Mode::Debug] {
        let items: Vec<_> = match open(&spec, &opts(mode, 0, t.path())) {
            Err(e) => vec![Err(e)],
            Ok(it) => it.collect(),
        };
        assert_eq!(items.len(), 1, "{mode}: {items:?}");
        let err = items.into_iter().next().unwrap().unwrap_err();
        assert!(matches!(err, DatasetError::Empty { .. }), "{mode}: {err:?}");
        assert!(err.to_string().contains("nomedia"), "{err}");
    }
}

#[test]
fn truncated_tar_keeps_earlier_entries_and_reports_the_damage() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("trunc");
    std::fs::create_dir_all(&d).unwrap();
    let big = vec![7u8; 50_000];
    let raw = make_tar(&[("a.png", b"first"), ("b.png", &big), ("c.png", b"third")]);
    // Cut inside b.png's data.
    std::fs::write(d.join("cut.tar"), &raw[..512 * 3 + 10_000]).unwrap();
    let spec = DatasetSpec::new("tr", d.to_str().unwrap(), Modality::Image, Label::Real);
    let (ok, bad) = collect(&spec, &opts(Mode::Full, 0, t.path()));
    assert_eq!(ids(&ok), ["cut.tar/a.png"]);
    assert!(!bad.is_empty());
    assert!(
        bad.iter()
            .any(|e| e.sample().is_some_and(|(_, id)| id.starts_with("cut.tar"))),
        "{bad:?}"
    );
    // Same through the sampling path (listing pass + picks).
    let mut lim = spec.clone();
    lim.media_per_archive = 10;
    let (ok, bad) = collect(&lim, &opts(Mode::Small, 0, t.path()));
    assert_eq!(ids(&ok), ["cut.tar/a.png"]);
    assert!(
        bad.iter()
            .any(|e| e.sample() == Some(("tr", "cut.tar/b.png"))),
        "{bad:?}"
    );
}

#[test]
fn source_format_as_the_network_writes_it() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("mixed");
    write(&d.join("a.mp4"), b"v1");
    write(&d.join("b.webm"), b"v2");
    make_zip(
        &d.join("c.zip"),
        &[("in.mp4", b"v3")],
        zip::CompressionMethod::Stored,
    );
    let mut spec = DatasetSpec::new("m", d.to_str().unwrap(), Modality::Video, Label::Real);
    let run = |spec: &DatasetSpec| ids(&collect(spec, &opts(Mode::Full, 0, t.path())).0);
    assert_eq!(run(&spec), ["a.mp4", "b.webm", "c.zip/in.mp4"], "auto");
    spec.source_format = Some(".mp4".into());
    assert_eq!(
        run(&spec),
        ["a.mp4"],
        "a media extension means loose files of that type"
    );
    spec.source_format = Some("zip".into());
    assert_eq!(run(&spec), ["c.zip/in.mp4"]);
    spec.source_format = Some("mp4,webm".into());
    assert_eq!(run(&spec), ["a.mp4", "b.webm"]);
    spec.source_format = Some("something-new".into());
    assert_eq!(
        run(&spec).len(),
        3,
        "unknown format → auto-detect, not an error"
    );

    // Loose files: media_per_archive × archives_per_dataset of them.
    for i in 0..10 {
        write(&d.join(format!("more/{i}.mp4")), b"v");
    }
    spec.source_format = Some("mp4".into());
    spec.media_per_archive = 2;
    spec.archives_per_dataset = 3;
    assert_eq!(run(&spec).len(), 6);

    // Catalog lists are accepted.
    let cat = t.path().join("c.yaml");
    write(
        &cat,
        b"datasets:\n  - name: x\n    path: mixed\n    modality: video\n    media_type: real\n    source_format: [mp4, .webm]\n",
    );
    let specs = load_catalog(&cat).unwrap();
    assert_eq!(specs[0].source_format.as_deref(), Some("mp4,.webm"));
}
