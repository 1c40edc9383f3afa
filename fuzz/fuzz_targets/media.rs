//! Image decoding + preprocessing (JPEG, PNG, WebP, GIF, BMP, TIFF) and the .npy reader.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the options so the EXIF, fast-decode and resize paths are reached.
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let opts = gas_media::ImageOptions {
        size: [u32::from(sel & 0x1f) + 1, u32::from((sel >> 2) & 0x1f) + 1],
        apply_exif: sel & 0x40 != 0,
        fast_decode: sel & 0x80 != 0,
        // The network's cache step (decode, re-encode as Pillow's save(), decode again).
        reencode: sel & 0x20 != 0,
        reencode_cache: None,
    };
    if sel & 1 == 0 {
        let _ = gas_media::decode_image(bytes, &opts);
    } else {
        let _ = gas_media::preprocess_image(bytes, &opts);
    }
    let _ = gas_media::npy::parse(bytes);
});
