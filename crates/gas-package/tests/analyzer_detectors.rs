//! Real-world-style detectors (timm, transformers with config.json, torchvision, torchaudio,
//! einops video) and the bundled examples pass the analyzer untouched; hostile variants of
//! the same files are refused.

use gas_package::analyzer::analyze;
use std::path::Path;

fn detectors() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/detectors");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path().join("model.py");
        out.push((
            p.display().to_string(),
            std::fs::read_to_string(&p).unwrap(),
        ));
    }
    out.sort();
    assert!(out.len() >= 5, "{out:?}");
    out
}

#[test]
fn real_world_detectors_are_valid() {
    for (path, src) in detectors() {
        let f = analyze(&src, "model.py");
        assert!(f.is_empty(), "{path}: {f:#?}");
    }
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/detectors/hf-vit/config.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cfg).unwrap()).unwrap();
    assert_eq!(v["model_type"], "vit");
}

#[test]
fn one_hostile_line_in_a_real_detector_is_refused() {
    let lines = [
        ("import torch\ntorch.os.system('id')\n", "module-attribute"),
        (
            "import timm\ntimm.models.load_checkpoint(None, 'model.py')\n",
            "torch-load",
        ),
        (
            "from transformers import AutoModel\nAutoModel.from_pretrained('.', trust_remote_code=True)\n",
            "remote-code",
        ),
        (
            "import torchvision\ntorchvision.models.resnet.torch.load('x')\n",
            "module-attribute",
        ),
        (
            "import torch.nn.functional as F\nG = F\n",
            "module-rebinding",
        ),
    ];
    for (path, src) in detectors() {
        for (line, rule) in lines {
            // append at module level, after the detector's own code
            let f = analyze(&format!("{src}\n{line}"), "model.py");
            assert!(f.iter().any(|x| x.rule == rule), "{path} + {line:?}: {f:?}");
        }
    }
}
