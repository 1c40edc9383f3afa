#!/usr/bin/env python3
"""Reference for gas-score's provenance weighting: the network's weighted metrics
(GASBench `benchmarks/recording.py` compute_metrics_from_df and `benchmarks/utils/metrics.py`),
written step by step with numpy, as the network computes them.

Reads {"cases": [{"dataset": [...], "label": [0|1, ...], "probs": [[p_real, p_synthetic], ...],
                  "holdout_share": f|null, "gasstation_share": f|null, "holdout_weight": f}]}
on stdin; prints {"results": [{"benchmark_score", "binary_mcc", "binary_brier",
"binary_cross_entropy", "sn34_score", "provenance_weights": {class: w} | null}]}.
"""
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


def class_weights(counts, composition):
    present = {c: n for c, n in counts.items() if n > 0}
    if not present:
        return {}
    targets = {c: max(0.0, float(composition.get(c, 0.0))) for c in present}
    total_target = sum(targets.values())
    if total_target <= 0:
        return {c: 1.0 for c in present}
    total = sum(present.values())
    return {c: (targets[c] / total_target) * total / n for c, n in present.items()}


def binary_scores(y, pred, q, weights):
    """The network's Metrics on the binary view: weighted confusion from the calls `pred`, MCC,
    Brier and cross-entropy of p_synthetic `q` (clipped to [1e-7, 1 - 1e-7]), sn34.
    Returns (mcc, brier, cross_entropy, sn34)."""
    y = np.asarray(y, dtype=float)
    weights = np.asarray(weights, dtype=float)
    tp = tn = fp = fn = 0.0
    for yi, pi, wi in zip(y, pred, weights):
        if yi == 1 and pi == 1:
            tp += wi
        elif yi == 0 and pi == 0:
            tn += wi
        elif yi == 0 and pi == 1:
            fp += wi
        else:
            fn += wi
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    mcc = float((tp * tn - fp * fn) / den) if den > 0 else 0.0
    q = np.clip(np.asarray(q, dtype=float), 1e-7, 1 - 1e-7)
    ce = float(np.average(-(y * np.log(q) + (1 - y) * np.log(1 - q)), weights=weights))
    brier = float(np.average((q - y) ** 2, weights=weights))
    mcc_norm = max(0.0, min((mcc + 1.0) / 2.0, 1.0)) ** 1.2
    brier_score = max(0.0, (0.25 - brier) / 0.25) ** 1.8
    sn34 = float(max(0.0, min(max(1e-12, mcc_norm * brier_score) ** 0.5, 1.0)))
    return mcc, brier, ce, sn34


def score(case):
    names = case["dataset"]
    y = np.array(case["label"], dtype=int)
    probs = [list(map(float, p)) for p in case["probs"]]
    pred = np.array([int(np.argmax(p)) for p in probs])  # 2 outputs: argmax
    correct = (pred == y).astype(float)
    hs, gs, hw = case["holdout_share"], case["gasstation_share"], case["holdout_weight"]
    composition = None
    if hs is not None or gs is not None:
        hs, gs = hs or 0.0, gs or 0.0
        composition = {"public": 1.0 - hs - gs, "holdout": hs, "gasstation": gs}
    weights = np.ones(len(y), dtype=float)
    cw = None
    if composition:
        prov = [provenance(n) for n in names]
        counts = {}
        for p in prov:
            counts[p] = counts.get(p, 0) + 1
        cw = class_weights(counts, composition)
        weights = np.array([cw[p] for p in prov], dtype=float)
        accuracy = float(np.average(correct, weights=weights))
    elif hw != 1.0:
        w = np.where(np.array(["-holdout-" in n for n in names]), hw, 1.0)
        accuracy = float((correct * w).sum() / w.sum()) if w.sum() > 0 else 0.0
    else:
        accuracy = float(correct.mean())
    q = np.array([p[1] for p in probs])
    mcc, brier, ce, sn34 = binary_scores(y, pred, q, weights)
    return {
        "benchmark_score": accuracy,
        "binary_mcc": mcc,
        "binary_brier": brier,
        "binary_cross_entropy": ce,
        "sn34_score": sn34,
        "provenance_weights": cw,
    }


if __name__ == "__main__":
    cases = json.load(sys.stdin)["cases"]
    json.dump({"results": [score(c) for c in cases]}, sys.stdout)
