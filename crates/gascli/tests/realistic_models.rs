//! Realistic detector packages as miners write them, built at test time with random weights (no
//! hub access): a `timm` backbone (MobileNetV3) and a `transformers` ViT shipped with its
//! `config.json` and loaded with `from_pretrained` on the package directory. Each is validated,
//! packaged to a ZIP and benchmarked through the sandbox on the bundled images. Needs the worker
//! venv with the network's runtime (scripts/setup.sh): fails when CI is set and it is missing,
//! skips otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use gas_test_support::venv_python;
use serde_json::Value;

fn root() -> PathBuf {
    std::path::absolute(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))).unwrap()
}

const TIMM_MODEL: &str = r#""""EfficientNet-style detector on a timm backbone (MobileNetV3), as a miner would ship it."""
import timm
import torch
from safetensors.torch import load_file


class Detector(torch.nn.Module):
    def __init__(self, num_classes: int = 2, backbone: str = "mobilenetv3_small_050"):
        super().__init__()
        self.backbone = timm.create_model(backbone, pretrained=False, num_classes=num_classes)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255.0
        return self.backbone((x - self.mean) / self.std)


def load_model(weights_path: str, num_classes: int = 2, backbone: str = "mobilenetv3_small_050"):
    model = Detector(num_classes, backbone)
    model.load_state_dict(load_file(weights_path))
    model.eval()
    return model
"#;

const TIMM_CONFIG: &str = "name: timm-detector\nversion: \"1.0.0\"\nmodality: image\npreprocessing:\n  resize: [96, 96]\nmodel:\n  num_classes: 2\n  backbone: mobilenetv3_small_050\n  weights_file: model.safetensors\n";

const TIMM_BUILD: &str = r#"import importlib.util, sys, torch
from safetensors.torch import save_file
torch.manual_seed(0)
spec = importlib.util.spec_from_file_location("m", sys.argv[1] + "/model.py")
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
net = m.Detector(2)
save_file({k: v.contiguous() for k, v in net.state_dict().items()}, sys.argv[1] + "/model.safetensors")
"#;

const HF_MODEL: &str = r#""""ViT detector with transformers: config.json + model.safetensors in the package, loaded with
from_pretrained on the package directory. forward returns the transformers output object; the
network reads its .logits."""
from pathlib import Path

import torch
from transformers import ViTForImageClassification


class Detector(torch.nn.Module):
    def __init__(self, vit):
        super().__init__()
        self.vit = vit

    def forward(self, x: torch.Tensor):
        x = x.float() / 255.0
        return self.vit(pixel_values=(x - 0.5) / 0.5)


def load_model(weights_path: str, num_classes: int = 2):
    vit = ViTForImageClassification.from_pretrained(Path(weights_path).parent)
    if vit.config.num_labels != num_classes:
        raise ValueError(f"config.json has {vit.config.num_labels} labels, model_config.yaml {num_classes}")
    return Detector(vit).eval()
"#;

const HF_CONFIG: &str = "name: vit-detector\nversion: \"1.0.0\"\nmodality: image\npreprocessing:\n  resize: [32, 32]\nmodel:\n  num_classes: 2\n";

const HF_BUILD: &str = r#"import sys, torch
from transformers import ViTConfig, ViTForImageClassification
torch.manual_seed(0)
cfg = ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
                num_attention_heads=2, intermediate_size=64, num_labels=2)
ViTForImageClassification(cfg).save_pretrained(sys.argv[1], safe_serialization=True)
"#;

fn build(py: &Path, dir: &Path, model: &str, config: &str, builder: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("model.py"), model).unwrap();
    std::fs::write(dir.join("model_config.yaml"), config).unwrap();
    let out = Command::new(py)
        .args(["-c", builder])
        .arg(dir)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "building {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn gascli(args: &[&str]) -> (Option<i32>, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gascli"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn validate_package_bench(dir: &Path, expect_files: &[&str]) {
    let d = dir.to_str().unwrap();
    let (code, v, err) = gascli(&["d", "validate", "--json", d]);
    assert_eq!(code, Some(0), "{v:#} {err}");
    assert_eq!(v["valid"], true, "{v:#}");
    let zip = dir.with_extension("zip");
    let (code, _, err) = gascli(&["d", "package", d, "-o", zip.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let listing = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))",
        ])
        .arg(&zip)
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&listing.stdout);
    for f in expect_files {
        assert!(
            names.lines().any(|l| l == *f),
            "{f} not in the ZIP: {names}"
        );
    }
    let res = dir.with_extension("results");
    let (code, v, err) = gascli(&[
        "d",
        "bench",
        "--json",
        "--quiet",
        "--batch-size",
        "8",
        "--torch-threads",
        "1",
        "--image-model",
        zip.to_str().unwrap(),
        "--data-dir",
        "examples/data/image",
        "--results-dir",
        res.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{v:#}\n{err}");
    assert_eq!(v["sandbox"]["enabled"], true);
    assert_eq!(v["overall"]["n"], 60, "{v:#}");
    assert_eq!(v["overall"]["n_failed"], 0, "{v:#}");
    let sn34 = v["overall"]["sn34_score"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&sn34));
}

#[test]
fn timm_backbone_package_validates_packages_and_benchmarks() {
    let Some(py) = venv_python(&["timm", "transformers", "safetensors"]) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("timm-detector");
    build(&py, &dir, TIMM_MODEL, TIMM_CONFIG, TIMM_BUILD);
    validate_package_bench(
        &dir,
        &["model.py", "model_config.yaml", "model.safetensors"],
    );
}

#[test]
fn transformers_vit_with_config_json_validates_packages_and_benchmarks() {
    let Some(py) = venv_python(&["timm", "transformers", "safetensors"]) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vit-detector");
    build(&py, &dir, HF_MODEL, HF_CONFIG, HF_BUILD);
    assert!(dir.join("config.json").is_file());
    validate_package_bench(
        &dir,
        &[
            "model.py",
            "model_config.yaml",
            "model.safetensors",
            "config.json",
        ],
    );
}
