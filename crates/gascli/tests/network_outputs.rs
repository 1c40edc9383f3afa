//! Model outputs as the network reads them, end to end: models that return 1, 2 or 3 logits, a
//! dict (`logits` / `output` key), an object with `.logits` (as `transformers` returns), a
//! one-element tuple, a `[B, 1, 2]` tensor, NaN for some samples, extra `model:` keys passed to
//! `load_model` (and the network's TypeError fallback), all benchmarked through the sandbox.
//! Every row of predictions.csv (call, binary probability, raw probabilities) must equal, to the
//! bit, what the Python reference (`python/reference/network_output.py run`: the network's
//! load_model call, unwrapping and numpy rule) gives for the same model on the tensors of
//! `gascli d preprocess`. Needs the venv: fails when CI is set and it is missing, skips otherwise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use gas_test_support::venv_python;
use serde_json::Value;

fn root() -> PathBuf {
    std::path::absolute(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))).unwrap()
}

/// A safetensors file with one float32 tensor `scale` = [1.0].
fn scale_weights() -> Vec<u8> {
    let header = br#"{"scale":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header);
    b.extend_from_slice(&1.0f32.to_le_bytes());
    b
}

/// Logits from single pixels (elementwise, so exact whatever the batch size).
const PRELUDE: &str = r#"import torch
from safetensors.torch import load_file


def base(x):
    z0 = x[:, 0, 0, 0].float() / 32.0 - 4.0
    z1 = x[:, 1, 5, 5].float() / 40.0 - 3.0
    z2 = x[:, 2, 10, 3].float() / 50.0 - 2.5
    return z0, z1, z2


class Out:
    def __init__(self, logits):
        self.logits = logits


class M(torch.nn.Module):
    def __init__(self, form, scale=1.0):
        super().__init__()
        self.form = form
        self.scale_factor = scale
        self.scale = torch.nn.Parameter(torch.ones(1))

    def forward(self, x):
        z0, z1, z2 = base(x)
        k = self.scale * self.scale_factor
        two = torch.stack([z0, z1], dim=1) * k
        three = torch.stack([z0, z1, z2], dim=1) * k
        f = self.form
        if f == "one":
            return (z0 * k).unsqueeze(1)
        if f == "two":
            return two
        if f == "three":
            return three
        if f == "dict":
            return {"logits": three, "features": z0}
        if f == "output_key":
            return {"output": two}
        if f == "object":
            return Out(two)
        if f == "tuple":
            return (three,)
        if f == "nested":
            return two.unsqueeze(1)
        if f == "nan":
            return torch.where((x[:, 0, 0, 0] > 150).unsqueeze(1), torch.full_like(two, float("nan")), two)
        raise ValueError(f)
"#;

struct Case {
    name: &'static str,
    load: &'static str,
    model_yaml: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "one",
        load: "def load_model(weights_path, num_classes=2):\n    m = M('one')\n",
        model_yaml: "num_classes: 2",
    },
    Case {
        name: "two",
        load: "def load_model(weights_path, num_classes=2):\n    m = M('two')\n",
        model_yaml: "num_classes: 2",
    },
    Case {
        name: "three",
        load: "def load_model(weights_path, num_classes=3):\n    m = M('three')\n",
        model_yaml: "num_classes: 3",
    },
    Case {
        name: "dict",
        load: "def load_model(weights_path, num_classes=3):\n    m = M('dict')\n",
        model_yaml: "num_classes: 3",
    },
    Case {
        name: "output_key",
        load: "def load_model(weights_path, num_classes=2):\n    m = M('output_key')\n",
        model_yaml: "num_classes: 2",
    },
    Case {
        name: "object",
        load: "def load_model(weights_path, num_classes=2):\n    m = M('object')\n",
        model_yaml: "num_classes: 2",
    },
    Case {
        name: "tuple",
        load: "def load_model(weights_path, num_classes=3):\n    m = M('tuple')\n",
        model_yaml: "num_classes: 3",
    },
    Case {
        name: "nested",
        load: "def load_model(weights_path, num_classes=2):\n    m = M('nested')\n",
        model_yaml: "num_classes: 2",
    },
    Case {
        name: "nan",
        load: "def load_model(weights_path, num_classes=2):\n    m = M('nan')\n",
        model_yaml: "num_classes: 2",
    },
    // every `model:` key but weights_file reaches load_model; nothing from `preprocessing:`
    Case {
        name: "kwargs",
        load: "def load_model(weights_path, num_classes=2, head_scale=1.0, **rest):\n    if rest or num_classes != 2:\n        raise ValueError(f'unexpected keyword arguments {sorted(rest)}')\n    m = M('two', head_scale)\n",
        model_yaml: "num_classes: 2\n  head_scale: 2.5",
    },
    // load_model without the extra key: TypeError, then the network's retry with num_classes
    Case {
        name: "fallback",
        load: "def load_model(weights_path, num_classes=2):\n    m = M('two', 3.0)\n",
        model_yaml: "num_classes: 2\n  head_scale: 2.5",
    },
];

fn write_package(dir: &Path, case: &Case) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("model.py"),
        format!(
            "{PRELUDE}\n\n{}    m.load_state_dict(load_file(weights_path))\n    return m.eval()\n",
            case.load
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("model_config.yaml"),
        format!(
            "name: out-{}\nversion: \"1\"\nmodality: image\npreprocessing:\n  resize: [16, 16]\n  normalize: {{mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}}\nmodel:\n  {}\n",
            case.name, case.model_yaml
        ),
    )
    .unwrap();
    std::fs::write(dir.join("model.safetensors"), scale_weights()).unwrap();
}

fn images() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for class in ["real", "synthetic", "semisynthetic"] {
        for e in std::fs::read_dir(root().join("examples/data/image").join(class)).unwrap() {
            v.push(e.unwrap().path());
        }
    }
    v.sort();
    v
}

fn gascli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gascli"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

#[test]
fn every_output_form_gives_the_network_calls_and_probabilities() {
    let Some(py) = venv_python(&["torch", "numpy", "yaml"]) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let imgs = images();
    let by_name: BTreeMap<String, usize> = imgs
        .iter()
        .enumerate()
        .map(|(i, p)| (p.file_name().unwrap().to_string_lossy().into_owned(), i))
        .collect();
    for case in CASES {
        let pkg = tmp.path().join(case.name);
        write_package(&pkg, case);
        let pkg_s = pkg.to_str().unwrap();

        // validate: the extra model key is described as a load_model argument
        let out = gascli(&["d", "validate", "--json", pkg_s]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        assert_eq!(v["valid"], true, "{}: {v:#}", case.name);
        if case.model_yaml.contains("head_scale") {
            let text = v["warnings"].to_string();
            assert!(text.contains("head_scale=2.5"), "{}: {text}", case.name);
        }

        // the exact tensors, and the reference's reading of the model's outputs on them
        let npy = tmp.path().join(format!("{}.npy", case.name));
        let mut args = vec![
            "d",
            "preprocess",
            "--model",
            pkg_s,
            "-o",
            npy.to_str().unwrap(),
        ];
        let img_strs: Vec<String> = imgs.iter().map(|p| p.display().to_string()).collect();
        args.extend(img_strs.iter().map(String::as_str));
        let out = gascli(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let reference = Command::new(&py)
            .arg(root().join("python/reference/network_output.py"))
            .args(["run", pkg_s, npy.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            reference.status.success(),
            "{}: {}",
            case.name,
            String::from_utf8_lossy(&reference.stderr)
        );
        let want: Vec<String> = String::from_utf8(reference.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(want.len(), imgs.len());

        // the benchmark through the sandbox
        let res = tmp.path().join(format!("{}-results", case.name));
        let out = gascli(&[
            "d",
            "bench",
            "--json",
            "--quiet",
            "--batch-size",
            "8",
            "--torch-threads",
            "1",
            "--image-model",
            pkg_s,
            "--data-dir",
            "examples/data/image",
            "--results-dir",
            res.to_str().unwrap(),
        ]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let n_failed_want = want.iter().filter(|l| l.starts_with("error")).count() as u64;
        assert_eq!(
            v["overall"]["n_failed"],
            n_failed_want,
            "{}: {v:#}\n{}",
            case.name,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            v["overall"]["n"].as_u64().unwrap() + n_failed_want,
            imgs.len() as u64,
            "{}",
            case.name
        );
        if case.name == "nan" {
            assert!(n_failed_want > 0, "the nan case should fail some samples");
            assert!(v["errors"]["counts"]["output"].as_u64().unwrap() == n_failed_want);
        }
        // plain CSV here: no field holds a comma or a quote
        let text = std::fs::read_to_string(res.join("predictions.csv")).unwrap();
        let mut lines = text.lines();
        let headers: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |name: &str| headers.iter().position(|h| *h == name).unwrap();
        let (id_c, ps_c, pred_c, probs_c) = (
            col("sample_id"),
            col("p_synthetic"),
            col("predicted"),
            col("probs"),
        );
        let mut seen = 0;
        for line in lines {
            assert!(!line.contains('"'), "{line}");
            let rec: Vec<&str> = line.split(',').collect();
            let id = rec[id_c].rsplit('/').next().unwrap().to_string();
            let want_line = &want[by_name[&id]];
            let mut got = vec![rec[pred_c].to_string()];
            got.push(format!(
                "{:016x}",
                rec[ps_c].parse::<f64>().unwrap().to_bits()
            ));
            for p in rec[probs_c].split(' ') {
                got.push(format!("{:016x}", p.parse::<f64>().unwrap().to_bits()));
            }
            assert_eq!(&got.join(" "), want_line, "{}: sample {id}", case.name);
            seen += 1;
        }
        assert_eq!(
            seen as u64,
            imgs.len() as u64 - n_failed_want,
            "{}",
            case.name
        );
    }
}
