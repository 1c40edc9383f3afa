"""Reference values for gas-score's cross-check test: scikit-learn's MCC and Brier.

Reads {"cases": [{"y": [...], "p": [...], "w": [...] | null}, ...]} on stdin and prints
{"results": [{"mcc": f, "brier": f, "log_loss": f | null}, ...]}.
Predicted class is synthetic iff p > 0.5 (gas-score's documented tie rule).
"""
import json
import warnings
import sys

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss, matthews_corrcoef

warnings.filterwarnings("ignore")
cases = json.load(sys.stdin)["cases"]
out = []
for c in cases:
    y = np.asarray(c["y"], dtype=int)
    p = np.clip(np.asarray(c["p"], dtype=float), 1e-7, 1 - 1e-7)
    w = None if c["w"] is None else np.asarray(c["w"], dtype=float)
    yhat = (np.asarray(c["p"], dtype=float) > 0.5).astype(int)
    mcc = float(matthews_corrcoef(y, yhat, sample_weight=w))
    brier = float(brier_score_loss(y, p, sample_weight=w, pos_label=1))
    ll = float(log_loss(y, p, sample_weight=w, labels=[0, 1]))
    out.append({"mcc": mcc, "brier": brier, "log_loss": ll})
json.dump({"results": out}, sys.stdout)
