#!/usr/bin/env python3
"""Reference for the network's reading of a model's output (bench.md, "Labels and model outputs").

Follows the network's per-sample rule step by step with numpy (its pinned version): the row is
flattened; 1 value -> sigmoid of the float32 scalar, call p > 0.5; otherwise a softmax of the
float32 row, call = argmax for 2 values, "real unless argmax != 0" for 3, p[0] > 0.5 for more.
The binary probability the network's metrics use: 1 - p[0] for 3 values, p[1] for 2, else p[0].

Input on stdin: one line per sample, logits as float32 bit patterns in hex separated by spaces.
Output on stdout: one line per sample: "CALL BINARY_PROB_BITS64 PROB_BITS64..." (hex).

  network_output.py                      the rule above, stdin -> stdout
  network_output.py run PKG TENSORS.npy  imports PKG/model.py, calls load_model and forward as the
                                         network does (all `model:` keys but weights_file as
                                         keyword arguments; .logits / dict / 1-tuple unwrapped),
                                         then prints the rule's output for each row ("error: ..."
                                         for a row the network could not read)
"""
import struct
import sys

import numpy as np


def network_output(logits: np.ndarray):
    logits = np.atleast_1d(logits).flatten()
    if len(logits) == 1:
        p = 1.0 / (1.0 + np.exp(-logits[0]))
        probs = np.array([p], dtype=np.float64)
        return int(p > 0.5), probs
    e = np.exp(logits - np.max(logits))
    probs = e / np.sum(e)
    if len(probs) == 3:
        call = 0 if np.argmax(probs) == 0 else 1
    elif len(probs) == 2:
        call = int(np.argmax(probs))
    else:
        call = int(probs[0] > 0.5)
    return call, probs


def binary_probability(probs) -> float:
    probs = [float(x) for x in probs]
    if len(probs) == 3:
        return 1.0 - probs[0]
    if len(probs) == 2:
        return probs[1]
    return probs[0]


def bits64(x: float) -> str:
    return "%016x" % struct.unpack("<Q", struct.pack("<d", float(x)))[0]


def unwrap(out):
    """The model output as the network's worker unwraps it (bench.md)."""
    if hasattr(out, "logits"):
        return out.logits
    if isinstance(out, dict):
        for key in ("logits", "output"):
            if key in out:
                return out[key]
        if len(out) == 1:
            return next(iter(out.values()))
        raise ValueError("dict output without logits/output key")
    if isinstance(out, (tuple, list)):
        if len(out) == 1:
            return out[0]
        raise ValueError("tuple output of several items")
    return out


def run_package(pkg: str, tensors: str) -> int:
    import importlib.util
    import os

    import torch
    import yaml

    with open(os.path.join(pkg, "model_config.yaml")) as f:
        cfg = yaml.safe_load(f)
    spec = importlib.util.spec_from_file_location("reference_model", os.path.join(pkg, "model.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    kwargs = dict(cfg.get("model") or {})
    weights = os.path.join(pkg, kwargs.pop("weights_file", "model.safetensors"))
    try:
        model = mod.load_model(weights, **kwargs)
    except TypeError:
        model = mod.load_model(weights, num_classes=kwargs.get("num_classes", 2))
    model.eval()
    x = torch.from_numpy(np.load(tensors))
    with torch.no_grad():
        out = unwrap(model(x))
    rows = out.cpu().to(torch.float32).numpy()
    lines = []
    for i in range(x.shape[0]):
        row = np.atleast_1d(rows[i]).flatten()
        if not np.all(np.isfinite(row)):
            lines.append("error: non-finite logits")
            continue
        call, probs = network_output(rows[i])
        lines.append(" ".join([str(call), bits64(binary_probability(probs))]
                              + [bits64(p) for p in probs]))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "run":
        return run_package(sys.argv[2], sys.argv[3])
    out = []
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        raw = np.array([int(w, 16) for w in words], dtype=np.uint32).view(np.float32)
        call, probs = network_output(raw)
        out.append(" ".join([str(call), bits64(binary_probability(probs))]
                            + [bits64(p) for p in probs]))
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    with np.errstate(over="ignore"):
        sys.exit(main())
