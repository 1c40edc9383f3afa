//! The one mapping from a model's `model_config.yaml` to gas-media's preprocessing options,
//! used by `gascli d bench` (the runner) and `gascli d preprocess`, so both feed the model the
//! same tensor.
//!
//! [`MediaOptions::from_config`] is a small pure function of the parsed config and two local
//! decode switches: which config keys it reads (and their defaults when a key is absent) is
//! decided here and nowhere else.

use std::path::Path;

use gas_media::{AudioOptions, ImageOptions, MediaError, VideoOptions};
use gas_package::{Modality, ModelConfig};

use crate::aug_cache::{AugCache, Chain, Content};
use crate::worker::{Batch, BatchData};

/// Local decode switches that are not part of a model's config. The default is the network's
/// path; any other value is NOT network-exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeFlags {
    /// Images: decode JPEGs at a reduced DCT scale when the target is much smaller.
    pub fast_decode: bool,
    /// Images: apply the EXIF orientation tag.
    pub apply_exif: bool,
    /// Images: the network's cache step (JPEG / WebP re-encoded as Pillow's `save()` before
    /// decoding; on by default). Off: the original bytes are decoded.
    pub reencode: bool,
}

impl Default for DecodeFlags {
    fn default() -> Self {
        DecodeFlags {
            fast_decode: false,
            apply_exif: false,
            reencode: true,
        }
    }
}

/// The preprocessing a model's samples get, for its modality.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaOptions {
    pub modality: Modality,
    pub image: ImageOptions,
    pub video: VideoOptions,
    pub audio: AudioOptions,
    /// The robustness pass's degraded tensor (the network's chain) instead of the base one
    /// ([`Self::augmented`]).
    pub augment: bool,
    /// Where degraded tensors are cached (`--aug-cache-dir`); `None`: always recomputed.
    pub aug_cache: Option<AugCache>,
}

/// The element type of a preprocessed sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// Images and videos: uint8 RGB.
    U8,
    /// Audio: float32 waveform.
    F32,
}

impl Dtype {
    /// Bytes per element.
    pub fn bytes(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::F32 => 4,
        }
    }
}

impl MediaOptions {
    /// The options for `cfg`, as the network reads the config (gas_package::ModelConfig):
    /// `preprocessing.resize` for images and video frames; the frame count
    /// ([`ModelConfig::video_frames`], capped at 64) and `frame_rate` sampling for video; audio
    /// always [`gas_package::AUDIO_SAMPLE_RATE`] Hz × [`gas_package::AUDIO_SECONDS`] s, whatever
    /// the config says. No re-encode cache on disk: see [`Self::with_reencode_cache`].
    pub fn from_config(cfg: &ModelConfig, flags: DecodeFlags) -> Self {
        let size = cfg.image_size();
        MediaOptions {
            modality: cfg.modality,
            image: ImageOptions {
                size,
                apply_exif: flags.apply_exif,
                fast_decode: flags.fast_decode,
                reencode: flags.reencode,
                reencode_cache: None,
            },
            video: VideoOptions {
                size,
                num_frames: cfg.video_frames(),
                frame_rate: cfg.frame_rate(),
            },
            audio: AudioOptions {
                sample_rate: gas_package::AUDIO_SAMPLE_RATE,
                duration_seconds: gas_package::AUDIO_SECONDS,
            },
            augment: false,
            aug_cache: None,
        }
    }

    /// The same options for the robustness pass (degraded tensors).
    pub fn augmented(&self) -> Self {
        MediaOptions {
            augment: true,
            ..self.clone()
        }
    }

    /// Keeps the robustness pass's degraded tensors in `cache` ([`crate::aug_cache`]).
    pub fn with_aug_cache(mut self, cache: Option<AugCache>) -> Self {
        self.aug_cache = cache;
        self
    }

    /// A degraded tensor through the cache when there is one.
    fn degraded(
        &self,
        content: Content<'_>,
        compute: impl FnOnce() -> Result<Vec<u8>, MediaError>,
    ) -> Result<Tensor, MediaError> {
        let chain = match self.modality {
            Modality::Image => Chain::Image(&self.image),
            Modality::Video => Chain::Video(&self.video),
            Modality::Audio => {
                return Err(MediaError::Options(
                    "the network has no robustness pass (degraded tensor) for audio".into(),
                ));
            }
        };
        let data = match &self.aug_cache {
            Some(cache) => cache.get_or_compute(chain, content, &self.sample_shape()?, compute)?,
            None => compute()?,
        };
        Ok(Tensor::U8(data))
    }

    /// Keeps the cache step's re-encoded images under `dir` (an image model with the cache step
    /// on; otherwise unchanged). A cache that cannot be opened is left out: every sample is then
    /// re-encoded in memory, with the same result.
    pub fn with_reencode_cache(mut self, dir: &Path) -> Self {
        if self.modality == Modality::Image && self.image.reencode {
            self.image.reencode_cache =
                gas_media::ReencodeCache::open(dir, gas_media::reencode::DEFAULT_CACHE_BYTES).ok();
        }
        self
    }

    /// Element type of this modality's tensors.
    pub fn dtype(&self) -> Dtype {
        match self.modality {
            Modality::Audio => Dtype::F32,
            Modality::Image | Modality::Video => Dtype::U8,
        }
    }

    /// Shape of one sample's tensor: `[3, H, W]` (image), `[T, 3, H, W]` (video),
    /// `[samples]` (audio). Errors when the audio options give no valid length.
    pub fn sample_shape(&self) -> Result<Vec<usize>, MediaError> {
        let [h, w] = self.image.size.map(|v| v as usize);
        Ok(match self.modality {
            Modality::Image => vec![3, h, w],
            Modality::Video => vec![self.video.num_frames as usize, 3, h, w],
            Modality::Audio => vec![self.audio.num_samples()?],
        })
    }
}

/// One preprocessed sample.
#[derive(Debug, Clone, PartialEq)]
pub enum Tensor {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

impl MediaOptions {
    /// Preprocesses one sample held in memory (an archive entry, a parquet cell).
    pub fn preprocess_bytes(&self, bytes: &[u8]) -> Result<Tensor, MediaError> {
        match self.modality {
            Modality::Image if self.augment => self.degraded(Content::Bytes(bytes), || {
                gas_media::preprocess_image_augmented(bytes, &self.image)
            }),
            Modality::Image => gas_media::preprocess_image(bytes, &self.image).map(Tensor::U8),
            Modality::Video if self.augment => self.degraded(Content::Bytes(bytes), || {
                gas_media::preprocess_video_augmented_bytes(bytes, &self.video)
            }),
            Modality::Video => {
                gas_media::preprocess_video_bytes(bytes, &self.video).map(Tensor::U8)
            }
            Modality::Audio => {
                gas_media::preprocess_audio_bytes(bytes, &self.audio).map(Tensor::F32)
            }
        }
    }

    /// The robustness pass's degraded tensor of one image or video file (the network's chain,
    /// then the crop + resize). The network has no such pass for audio: refused.
    pub fn preprocess_file_augmented(&self, path: &Path) -> Result<Tensor, MediaError> {
        match self.modality {
            Modality::Image => {
                let bytes = std::fs::read(path).map_err(|source| MediaError::Io {
                    what: format!("reading {}", path.display()),
                    source,
                })?;
                self.degraded(Content::Bytes(&bytes), || {
                    gas_media::preprocess_image_augmented(&bytes, &self.image)
                })
            }
            Modality::Video => self.degraded(Content::File(path), || {
                gas_media::preprocess_video_augmented(path, &self.video)
            }),
            // refused inside, before anything is computed
            Modality::Audio => self.degraded(Content::File(path), || Ok(Vec::new())),
        }
    }

    /// Preprocesses one media file.
    pub fn preprocess_file(&self, path: &Path) -> Result<Tensor, MediaError> {
        match self.modality {
            Modality::Image | Modality::Video if self.augment => {
                self.preprocess_file_augmented(path)
            }
            Modality::Image => {
                let bytes = std::fs::read(path).map_err(|source| MediaError::Io {
                    what: format!("reading {}", path.display()),
                    source,
                })?;
                gas_media::preprocess_image(&bytes, &self.image).map(Tensor::U8)
            }
            Modality::Video => gas_media::preprocess_video(path, &self.video).map(Tensor::U8),
            Modality::Audio => gas_media::preprocess_audio(path, &self.audio).map(Tensor::F32),
        }
    }

    /// Stacks samples of this modality into one batch `[N, ...sample_shape]`. Tensors of the
    /// other element type (which [`Self::preprocess_bytes`] / [`Self::preprocess_file`] never
    /// give) are skipped.
    pub fn stack(&self, tensors: Vec<Tensor>) -> Result<Batch, MediaError> {
        let mut shape = self.sample_shape()?;
        let len = shape.iter().product::<usize>() * tensors.len();
        shape.insert(0, tensors.len());
        // One allocation of the batch's size and a memcpy per sample (a byte-wise flatten of
        // the samples cost 10-30 % of preprocessing throughput); each sample is freed once
        // copied, so the peak stays about one batch.
        let data = match self.dtype() {
            Dtype::F32 => {
                let mut d = Vec::with_capacity(len);
                for t in tensors {
                    if let Tensor::F32(v) = t {
                        d.extend_from_slice(&v);
                    }
                }
                BatchData::F32(d)
            }
            Dtype::U8 => {
                let mut d = Vec::with_capacity(len);
                for t in tensors {
                    if let Tensor::U8(v) = t {
                        d.extend_from_slice(&v);
                    }
                }
                BatchData::U8(d)
            }
        };
        Ok(Batch { shape, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> ModelConfig {
        let c = gas_package::check_config(yaml, "model_config.yaml");
        c.config
            .unwrap_or_else(|| panic!("config invalid: {:?}", c.errors))
    }

    #[test]
    fn reads_the_config_keys_and_defaults() {
        let v = cfg(
            "name: v\nversion: \"1\"\nmodality: video\npreprocessing:\n  resize: [64, 48]\n  max_frames: 8\n  frame_rate: 2.0\nmodel:\n  num_classes: 2\n",
        );
        let o = MediaOptions::from_config(
            &v,
            DecodeFlags {
                fast_decode: true,
                apply_exif: false,
                reencode: false,
            },
        );
        assert_eq!(o.video.size, [64, 48]);
        assert_eq!(o.video.num_frames, 8);
        assert_eq!(o.video.frame_rate, Some(2.0));
        assert!(o.image.fast_decode && !o.image.apply_exif && !o.image.reencode);
        assert_eq!(o.sample_shape().unwrap(), vec![8, 3, 64, 48]);
        assert_eq!(o.dtype(), Dtype::U8);

        let a = cfg(
            "name: a\nversion: \"1\"\nmodality: audio\npreprocessing:\n  sample_rate: 8000\n  duration_seconds: 2.0\nmodel:\n  num_classes: 2\n",
        );
        // the network feeds 16 kHz × 6 s whatever the config says
        let o = MediaOptions::from_config(&a, DecodeFlags::default());
        assert_eq!(o.audio.sample_rate, gas_package::AUDIO_SAMPLE_RATE);
        assert_eq!(o.audio.duration_seconds, gas_package::AUDIO_SECONDS);
        assert_eq!(o.sample_shape().unwrap(), vec![96_000]);
        assert_eq!(o.dtype(), Dtype::F32);
    }
}
