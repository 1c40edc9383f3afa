//! The robustness pass's cache of degraded tensors (`--aug-cache-dir`, `--aug-cache-readonly`,
//! the network's flags): the degraded tensor of a sample is kept as `.npy` and reused by later
//! runs, which matters most for videos (an H.264 encode per clip).
//!
//! Keyed by content, not by name: SHA-256 of a format tag, the chain's version
//! ([`gas_media::robust::IMAGE_CHAIN_VERSION`] / [`gas_media::robust::VIDEO_CHAIN_VERSION`]),
//! every option that changes the tensor (size, frames, frame rate, decode switches) and the
//! sample's bytes — so a renamed file hits, a changed file or chain misses, and two models with
//! other sizes never share an entry. Files: `DIR/gascli-v1/<img|vid>/<key[..2]>/<key>.npy`,
//! written through a temp file + rename (readers never see half a file). An entry that cannot
//! be read or has another shape is recomputed (and rewritten unless read-only). The network
//! keys its own cache by sample metadata (`img/<id[..2]>/<id>_img_v1_HxW.npy`); the two
//! layouts live side by side in one folder without clashing.

use std::io::Read;
use std::path::{Path, PathBuf};

use gas_media::npy::{self, NpyData};
use gas_media::{ImageOptions, MediaError, VideoOptions};
use sha2::{Digest, Sha256};

/// Where degraded tensors are cached, and whether this run may add to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AugCache {
    pub dir: PathBuf,
    /// `--aug-cache-readonly`: use entries, never write (a shared, pre-filled cache).
    pub readonly: bool,
}

/// What a cached tensor was made from, besides the bytes.
pub(crate) enum Chain<'a> {
    Image(&'a ImageOptions),
    Video(&'a VideoOptions),
}

impl Chain<'_> {
    fn folder(&self) -> &'static str {
        match self {
            Chain::Image(_) => "img",
            Chain::Video(_) => "vid",
        }
    }

    fn describe(&self) -> String {
        match self {
            Chain::Image(o) => format!(
                "{} size={:?} exif={} fast={} reencode={}",
                gas_media::robust::IMAGE_CHAIN_VERSION,
                o.size,
                o.apply_exif,
                o.fast_decode,
                o.reencode
            ),
            Chain::Video(o) => format!(
                "{} size={:?} frames={} rate={:?}",
                gas_media::robust::VIDEO_CHAIN_VERSION,
                o.size,
                o.num_frames,
                o.frame_rate.map(f64::to_bits)
            ),
        }
    }
}

/// A sample's bytes, in memory or in a file (hashed without holding it all).
pub(crate) enum Content<'a> {
    Bytes(&'a [u8]),
    File(&'a Path),
}

impl AugCache {
    fn key(&self, chain: &Chain<'_>, content: &Content<'_>) -> Result<String, MediaError> {
        let mut h = Sha256::new();
        h.update(b"gascli-aug-v1\0");
        h.update(chain.describe().as_bytes());
        h.update(b"\0");
        match content {
            Content::Bytes(b) => h.update(b),
            Content::File(p) => {
                let io = |source| MediaError::Io {
                    what: format!("reading {}", p.display()),
                    source,
                };
                let mut f = std::fs::File::open(p).map_err(io)?;
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = f.read(&mut buf).map_err(io)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
            }
        }
        Ok(hex::encode(h.finalize()))
    }

    fn path(&self, chain: &Chain<'_>, key: &str) -> PathBuf {
        self.dir
            .join("gascli-v1")
            .join(chain.folder())
            .join(&key[..2])
            .join(format!("{key}.npy"))
    }

    /// The cached tensor of `shape` for this sample, else `compute()`'s (stored unless
    /// read-only; a failed store only costs the next run a recompute).
    pub(crate) fn get_or_compute(
        &self,
        chain: Chain<'_>,
        content: Content<'_>,
        shape: &[usize],
        compute: impl FnOnce() -> Result<Vec<u8>, MediaError>,
    ) -> Result<Vec<u8>, MediaError> {
        let key = self.key(&chain, &content)?;
        let path = self.path(&chain, &key);
        if let Ok(n) = npy::read(&path)
            && n.shape == shape
            && let NpyData::U8(data) = n.data
        {
            return Ok(data);
        }
        let data = compute()?;
        if !self.readonly
            && let Some(parent) = path.parent()
            && std::fs::create_dir_all(parent).is_ok()
        {
            let _ = npy::write_u8(&path, shape, &data);
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_content_chain_and_options() {
        let t = tempfile::tempdir().unwrap();
        let cache = AugCache {
            dir: t.path().to_path_buf(),
            readonly: false,
        };
        let img = ImageOptions::default();
        let small = ImageOptions {
            size: [64, 64],
            ..ImageOptions::default()
        };
        let vid = VideoOptions::default();
        let file = t.path().join("x.bin");
        std::fs::write(&file, b"same bytes").unwrap();
        let k = |c: Chain<'_>, b: Content<'_>| cache.key(&c, &b).unwrap();
        let a = k(Chain::Image(&img), Content::Bytes(b"same bytes"));
        assert_eq!(
            a,
            k(Chain::Image(&img), Content::File(&file)),
            "a file hashes as its bytes"
        );
        assert_ne!(a, k(Chain::Image(&img), Content::Bytes(b"other bytes")));
        assert_ne!(a, k(Chain::Image(&small), Content::Bytes(b"same bytes")));
        assert_ne!(a, k(Chain::Video(&vid), Content::Bytes(b"same bytes")));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn damaged_or_misshapen_entries_are_recomputed_and_readonly_writes_nothing() {
        let t = tempfile::tempdir().unwrap();
        let img = ImageOptions::default();
        let rw = AugCache {
            dir: t.path().to_path_buf(),
            readonly: false,
        };
        let get = |c: &AugCache, shape: &[usize], v: u8| {
            c.get_or_compute(Chain::Image(&img), Content::Bytes(b"s"), shape, || {
                Ok(vec![v; shape.iter().product()])
            })
            .unwrap()
        };
        assert_eq!(get(&rw, &[2, 2], 1), vec![1; 4]);
        assert_eq!(get(&rw, &[2, 2], 9), vec![1; 4], "stored, then read");
        assert_eq!(
            get(&rw, &[3, 2], 7),
            vec![7; 6],
            "another shape: recomputed"
        );
        let key = rw.key(&Chain::Image(&img), &Content::Bytes(b"s")).unwrap();
        let path = rw.path(&Chain::Image(&img), &key);
        std::fs::write(&path, b"not npy").unwrap();
        assert_eq!(get(&rw, &[3, 2], 5), vec![5; 6], "damaged: recomputed");
        let ro = AugCache {
            dir: t.path().join("ro"),
            readonly: true,
        };
        assert_eq!(get(&ro, &[1], 3), vec![3]);
        assert!(!t.path().join("ro").exists());
    }
}
