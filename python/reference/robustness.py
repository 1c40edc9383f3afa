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
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weighted_score import binary_scores, class_weights, provenance  # noqa: E402


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
    """The network's Metrics on the binary view (weighted_score.binary_scores)."""
    y = [r["label"] for r in rows]
    pred = [r["predicted"] for r in rows]
    q = [binary_prob(r["probs"]) for r in rows]
    return binary_scores(y, pred, q, weights)[3]


def base_class_weights(rows, composition):
    """The class weights of the base run's class counts (weighted_score.class_weights)."""
    counts = {}
    for r in rows:
        c = provenance(r["dataset"])
        counts[c] = counts.get(c, 0) + 1
    return class_weights(counts, composition)


def main():
    base, aug = read(sys.argv[1]), read(sys.argv[2])
    w = float(sys.argv[3])
    cw = {}
    if len(sys.argv) > 4:
        hs, gs = float(sys.argv[4]), float(sys.argv[5])
        cw = base_class_weights(base, {"public": 1 - hs - gs, "holdout": hs, "gasstation": gs})
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
