#!/usr/bin/env python3
"""Reference for gascli's robustness pass figures: the network's `_compute_aug_metrics` and the
blend of `finalize_run` (GASBench `benchmarks/recording.py`, `benchmarks/common.py`), written
step by step with numpy from a run's two predictions files.

Usage: robustness.py predictions.csv predictions_aug.csv AUG_WEIGHT [HOLDOUT_SHARE GASSTATION_SHARE]
Prints {"base_sn34_score", "aug_sn34_score", "augmentation_robustness", "mean_prob_loss",
"p95_prob_loss", "sn34_score"} as JSON.

Labels are the network's binary ones (real 0, synthetic and semisynthetic 1); a sample's
probability of the correct class is probs[label] (dropped when there is no such entry); samples
are paired by (dataset, sample_id); with shares, the degraded rows take the class weights of the
base run's class counts.
"""
import csv
import json
import sys

import numpy as np


def provenance(name):
    name = str(name).lower()
    if "-holdout-" in name:
        return "holdout"
    if "gasstation" in name:
        return "gasstation"
    return "public"


def read(path):
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            rows.append({
                "dataset": r["dataset"],
                "sample_id": r["sample_id"],
                "label": 0 if r["label"] == "real" else 1,
                "predicted": int(r["predicted"]),
                "probs": [float(x) for x in r["probs"].split()],
            })
    return rows


def binary_prob(probs):
    if len(probs) == 3:
        return 1.0 - probs[0]
    if len(probs) == 2:
        return probs[1]
    return probs[0]


def sn34(rows, weights):
    """The network's Metrics: weighted confusion from the call, MCC, Brier, sn34."""
    tp = tn = fp = fn = 0.0
    for r, w in zip(rows, weights):
        y, p = r["label"], r["predicted"]
        if y == 1 and p == 1:
            tp += w
        elif y == 0 and p == 0:
            tn += w
        elif y == 0 and p == 1:
            fp += w
        else:
            fn += w
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    mcc = float((tp * tn - fp * fn) / den) if den > 0 else 0.0
    y = np.array([r["label"] for r in rows], dtype=float)
    q = np.clip(np.array([binary_prob(r["probs"]) for r in rows]), 1e-7, 1 - 1e-7)
    brier = float(np.average((q - y) ** 2, weights=np.array(weights)))
    mcc_norm = max(0.0, min((mcc + 1.0) / 2.0, 1.0)) ** 1.2
    brier_score = max(0.0, (0.25 - brier) / 0.25) ** 1.8
    return float(max(0.0, min(max(1e-12, mcc_norm * brier_score) ** 0.5, 1.0)))


def class_weights(rows, composition):
    counts = {}
    for r in rows:
        c = provenance(r["dataset"])
        counts[c] = counts.get(c, 0) + 1
    targets = {c: max(0.0, composition.get(c, 0.0)) for c in counts}
    total_target = sum(targets.values())
    if total_target <= 0:
        return {c: 1.0 for c in counts}
    total = sum(counts.values())
    return {c: targets[c] / total_target * total / n for c, n in counts.items()}


def main():
    base, aug = read(sys.argv[1]), read(sys.argv[2])
    w = float(sys.argv[3])
    cw = {}
    if len(sys.argv) > 4:
        hs, gs = float(sys.argv[4]), float(sys.argv[5])
        cw = class_weights(base, {"public": 1 - hs - gs, "holdout": hs, "gasstation": gs})
    weight = lambda r: cw.get(provenance(r["dataset"]), 1.0) if cw else 1.0
    base_sn34 = sn34(base, [weight(r) for r in base])
    aug_sn34 = sn34(aug, [weight(r) for r in aug])
    ratio = aug_sn34 / base_sn34 if base_sn34 > 0 else 0.0

    def prob_correct(r):
        return r["probs"][r["label"]] if r["label"] < len(r["probs"]) else None

    base_pc = {(r["dataset"], r["sample_id"]): prob_correct(r) for r in base}
    loss = []
    for r in aug:
        b, a = base_pc.get((r["dataset"], r["sample_id"])), prob_correct(r)
        if b is not None and a is not None:
            loss.append(b - a)
    out = {
        "base_sn34_score": base_sn34,
        "aug_sn34_score": aug_sn34,
        "augmentation_robustness": ratio,
        "mean_prob_loss": float(np.mean(loss)) if loss else None,
        "p95_prob_loss": float(np.percentile(loss, 95)) if loss else None,
        "sn34_score": (1 - w) * base_sn34 + w * aug_sn34 if w > 0 and aug else base_sn34,
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
