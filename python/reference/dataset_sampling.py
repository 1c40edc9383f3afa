#!/usr/bin/env python3
"""Reference for which samples a benchmark run draws, written from the network's rules
(GASBench `dataset/config.py`, `dataset/download/`, `dataset/iterator.py`), step by step, with
the libraries the network draws with: Python's `random.Random(seed)` and numpy's legacy
`RandomState(seed)` (what pandas' `DataFrame.sample(random_state=seed)` uses).

gas-datasets' parity test writes a job (JSON) and compares its own plan with this script's.

Usage:
  dataset_sampling.py JOB.json OUT.json

JOB.json:
  {"modality": "image", "mode": "small", "seed": 7,
   "catalog": "cat.yaml" | null, "holdout": "hold.yaml" | null,
   "datasets_filter": ["sub", ...] | null, "content_category": null, "gasstation_only": false,
   "per_dataset": null, "today": "2026-11-30" | null, "num_weeks": N | null,
   "listings": {"<dataset path>": [FILE, ...]}}
  FILE: {"path": "a.zip", "entries": ["x.png", ...]}            zip/tar: entry names in order
      | {"path": "b.parquet", "columns": ["image", ...], "rows": N,
         "filter_values": {"label": ["fake", "real", ...]}}    parquet
      | {"path": "c.jpg"}                                       a loose media file
      | {"path": "data_2026W48/m.parquet", "archive_filenames": ["a.tar", ...]}
                                     a GAS-Station metadata parquet (its archive_filename column)
GAS-Station datasets (name contains "gasstation") follow the weekly rules of
gasstation_utils.py / _process_gasstation / the iterator's per-week cache, for a fresh cache
on the day `today` (the network uses datetime.now()). The network iterates a parquet's archive
names as a Python set, an order that changes per process: this reference takes them sorted.
OUT.json:
  {"datasets": [{"name", "original_name", "media_per_archive", "archives_per_dataset", "cap",
                 "samples": ["<file>/<entry>" | "<file>#<row>" | "<file>#<row>:<col>" | "<file>"]}]}
"""
import datetime
import hashlib
import json
import math
import random
import sys

import numpy as np
import yaml

# Totals per modality and mode, and the per-dataset floors/caps (dataset/config.py).
TOTALS = {
    "debug": {"image": 100, "video": 50, "audio": 50},
    "small": {"image": 5000, "video": 5000, "audio": 5000},
    "full": {"image": 55000, "video": 26000, "audio": 37000},
}
DOWNLOAD_OVERRIDES = {"debug": (100, 1), "small": (100, 1)}
REGULAR_MIN, REGULAR_MAX = 100, 2000
GS_MIN, GS_MAX = 500, 10000
GS_WEIGHT = 5.0
CACHE_MAX_SAMPLES = 500  # samples kept in a regular dataset's cache (iterator.py)
DEFAULT_MAX_SAMPLES = 10000  # iterator's max_samples when the plan gives 0
MAX_FILES_DEFAULT = 5000

EXTS = {
    "image": [".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tiff", ".webp"],
    "video": [".mp4", ".avi", ".mov", ".mkv", ".wmv", ".webm", ".m4v", ".mpeg", ".mpg"],
    "audio": [".wav", ".mp3", ".flac", ".ogg", ".m4a", ".aac"],
}


def entry(d, holdout=False):
    """One catalog entry with the network's defaults (holdout `datasets:` lists: -1 / -1)."""
    return {
        "name": d["name"],
        "path": d["path"],
        "modality": d.get("modality"),
        "media_type": d["media_type"],
        "source_format": d.get("source_format", "") or "",
        "source": d.get("source", "huggingface"),
        "media_per_archive": d.get("media_per_archive", -1 if holdout else 100),
        "archives_per_dataset": d.get("archives_per_dataset", -1 if holdout else 5),
        "include_paths": d.get("include_paths", [] if holdout else None),
        "exclude_paths": d.get("exclude_paths", [] if holdout else None),
        "data_columns": d.get("data_columns"),
        "filter_column": d.get("filter_column"),
        "filter_value": d.get("filter_value"),
        "content_category": d.get("content_category"),
        "original_name": None,
    }


def load_catalog(path):
    with open(path) as f:
        data = yaml.safe_load(f)
    out = {"image": [], "video": [], "audio": []}
    if isinstance(data.get("datasets"), list):
        for d in data["datasets"]:
            out[d["modality"].lower()].append(entry(d))
    else:
        for m in ("image", "video", "audio"):
            for d in data.get(m) or []:
                out[m].append(entry(dict({"modality": m}, **d)))
    return out


def holdout_name(e):
    inc = ",".join(sorted(e["include_paths"])) if e["include_paths"] else ""
    exc = ",".join(sorted(e["exclude_paths"])) if e["exclude_paths"] else ""
    fp = "|".join([e["path"] or "", e["modality"] or "", e["media_type"] or "",
                   e["source_format"] or "", inc, exc, e["source"] or ""])
    return f"{e['media_type']}-{e['modality']}-holdout-{hashlib.sha1(fp.encode()).hexdigest()[:8]}"


def load_holdouts(path):
    with open(path) as f:
        data = yaml.safe_load(f)
    if "datasets" in data:
        lst = [d for d in data["datasets"] if isinstance(d, dict)]
        first = next((d["modality"] for d in lst if d.get("modality")), None)
        out = {"image": [], "video": [], "audio": []}
        for d in lst:
            e = entry(d, holdout=True)
            e["modality"] = d.get("modality", first)
            out[first].append(e)
    else:
        out = load_catalog(path)
    for m in out:
        for e in out[m]:
            e["original_name"] = e["name"]
            e["name"] = holdout_name(e)
    return out


def apply_mode(ds, mode):
    if mode not in DOWNLOAD_OVERRIDES:
        return ds
    mpa, apd = DOWNLOAD_OVERRIDES[mode]
    ds = ds[:1] if mode == "debug" else ds
    return [dict(e, media_per_archive=mpa, archives_per_dataset=apd) for e in ds]


def weighted_caps(ds, total):
    gs = [e for e in ds if "gasstation" in e["name"].lower()]
    reg = [e for e in ds if "gasstation" not in e["name"].lower()]
    if not gs:
        cap = total // len(ds) if ds else 0
        cap = min(REGULAR_MAX, cap)
        return {e["name"]: cap for e in ds}
    per_unit = total / (len(reg) + len(gs) * GS_WEIGHT)
    reg_cap = int(per_unit)
    gs_cap = int(per_unit * GS_WEIGHT)
    even = max(1, total // (len(reg) + len(gs)))
    reg_min = min(REGULAR_MIN, even)
    gs_min = min(GS_MIN, max(1, int(even * GS_WEIGHT)))
    reg_cap = min(REGULAR_MAX, max(reg_min, reg_cap))
    gs_cap = min(GS_MAX, max(gs_min, gs_cap))
    return {e["name"]: (gs_cap if "gasstation" in e["name"].lower() else reg_cap) for e in ds}


def is_direct_media(e, fmt):
    return fmt.lower().lstrip(".") in {x.lstrip(".") for x in EXTS[e["modality"]]}


def n_files(e, fmt):
    mpa, apd = e["media_per_archive"], e["archives_per_dataset"]
    if is_direct_media(e, fmt):
        return -1 if (mpa == -1 or apd == -1) else mpa * apd
    return apd


def list_files(e, files, fmt, max_files):
    if max_files is None:
        max_files = MAX_FILES_DEFAULT
    if fmt != "frames" and not fmt.startswith("."):
        fmt = "." + fmt
    exts = (".tar", ".tar.gz", ".tgz") if fmt in (".tar", ".tar.gz", ".tgz") else (fmt,)
    out = []
    for f in files:
        p = f["path"]
        if not p.endswith(exts):
            continue
        if e["include_paths"] and not any(s in p for s in e["include_paths"]):
            continue
        if e["exclude_paths"] and any(s in p for s in e["exclude_paths"]):
            continue
        out.append(f)
        if max_files and len(out) >= max_files:
            break
    return out


def from_file(e, f, num_items, seed):
    """The samples one downloaded file yields, in order (extract.py)."""
    p = f["path"]
    low = p.lower()
    if low.endswith(".parquet"):
        return from_parquet(e, f, num_items, seed)
    if low.endswith((".zip", ".tar", ".tar.gz", ".tgz")):
        cands = [n for n in f["entries"]
                 if any(n.lower().endswith(x) for x in EXTS[e["modality"]]) and "MACOSX" not in n]
        if num_items != -1:
            cands = random.Random(seed).sample(cands, min(num_items, len(cands)))
        return [f"{p}/{n}" for n in cands]
    if any(low.endswith(x) for x in EXTS["image"] + EXTS["video"] + EXTS["audio"]):
        return [p] if any(low.endswith(x) for x in EXTS[e["modality"]]) else []
    return []


def media_columns(e, cols):
    if e["data_columns"]:
        return [c for c in e["data_columns"] if c in cols]
    m = e["modality"]
    if m == "image":
        c = (next((c for c in cols if c.lower() == "image"), None)
             or next((c for c in cols if "image" in c.lower() and "_id" not in c.lower()), None)
             or next((c for c in cols if "image" in c.lower()), None))
        return [c] if c else []
    if m == "audio":
        keys = ["audio", "bytes", "content", "data", "wav", "mp3"]
        exact = [c for c in cols if c.lower() == "audio"]
        return exact or [c for c in cols if "_id" not in c.lower() and any(k in c.lower() for k in keys)]
    keys = ["video", "bytes", "content", "data"]
    c = (next((c for c in cols if c.lower() in keys), None)
         or next((c for c in cols if any(k in c.lower() for k in keys) and "_id" not in c.lower()), None)
         or next((c for c in cols if any(k in c.lower() for k in keys)), None))
    return [c] if c else []


def from_parquet(e, f, num_items, seed):
    rows = list(range(f["rows"]))
    if e["filter_column"] and e["filter_value"]:
        vals = f.get("filter_values", {}).get(e["filter_column"])
        if vals is None:
            return []
        rows = [r for r in rows if vals[r] == e["filter_value"]]
        if not rows:
            return []
    if num_items != -1:
        # DataFrame.sample(n, random_state=seed) = RandomState(seed).choice(len, n, replace=False)
        take = np.random.RandomState(seed).permutation(len(rows))[: min(num_items, len(rows))]
        rows = [rows[int(i)] for i in take]
    cols = media_columns(e, f["columns"])
    if not cols:
        return []
    out = []
    for r in rows:
        for c in cols:
            out.append(f"{f['path']}#{r}:{c}" if len(cols) > 1 else f"{f['path']}#{r}")
    return out


def extracted(e, files, seed):
    """download_and_extract: the samples in the order they reach the cache."""
    mpa, apd = e["media_per_archive"], e["archives_per_dataset"]
    if e["filter_column"] and e["filter_value"]:
        listed = list_files(e, files, e["source_format"] or "parquet", None)
        random.Random(seed).shuffle(listed)
        target = mpa * apd
        out = []
        for f in listed:
            if len(out) >= target:
                break
            got = from_file(e, f, target - len(out), seed)
            out.extend(got[: target - len(out)])
        return out
    fmt = e["source_format"]
    n = n_files(e, fmt)
    listed = list_files(e, files, fmt, n if n > 0 else None)
    if not listed and "gasstation" not in e["name"].lower():
        for fb in [".parquet", ".zip", ".tar", ".tar.gz"]:
            if fb != fmt:
                listed = list_files(e, files, fb, n if n > 0 else None)
                if listed:
                    n = n_files(e, fb)
                    break
    if n == -1:
        chosen = listed
    elif n <= 0:
        chosen = []
    elif "gasstation" in e["name"].lower():
        chosen = sorted(listed, key=lambda f: f["path"], reverse=True)[:n]
    else:
        chosen = random.Random(seed).sample(listed, min(n, len(listed)))
    out = []
    for f in chosen:
        out.extend(from_file(e, f, mpa, seed))
    return out


def iso_week(day):
    year, week, _ = day.isocalendar()
    return f"{year}W{week:02d}"


def week_in_path(p):
    import re
    m = re.search(r"(\d{4}W\d{2})", p)
    return m.group(1) if m else None


def target_weeks(e, files, today, num_weeks):
    """calculate_target_weeks; _week_has_data lists the files of the format (no path filters)."""
    if num_weeks:
        weeks = [iso_week(today - datetime.timedelta(weeks=i)) for i in range(num_weeks)]
    else:
        fmt = str(e["source_format"]).lower().lstrip(".")
        fmt = "." + fmt if fmt else (".parquet" if e["modality"] == "image" else ".zip")
        names = [f["path"] for f in files if f["path"].endswith(fmt)]
        has = lambda w: any(w in n for n in names)
        weeks = [iso_week(today)]
        if not has(weeks[0]):
            for i in range(1, 5):
                prev = iso_week(today - datetime.timedelta(weeks=i))
                if has(prev):
                    weeks.append(prev)
                    break
    return sorted(weeks)


def gasstation_samples(e, files, seed, today, num_weeks):
    """Per target week: download_and_extract(target_week=week) into the week's cache; read
    back week by week, the highest cache index (newest sample) first."""
    by_path = {f["path"]: f for f in files}
    out = []
    for week in target_weeks(e, files, today, num_weeks):
        fmt = e["source_format"]
        n = n_files(e, fmt)
        listed = [f for f in list_files(e, files, fmt, 10**9) if week in f["path"]]
        if not listed:
            continue
        if n == -1:
            chosen = listed
        elif n <= 0:
            chosen = []
        else:
            chosen = sorted(listed, key=lambda f: f["path"], reverse=True)[:n]
        cached = []
        if any(".parquet" in f["path"] for f in chosen):
            for f in [f for f in chosen if ".parquet" in f["path"]]:
                pweek = week_in_path(f["path"])
                if not pweek:
                    continue
                for name in sorted(set(f.get("archive_filenames", []))):
                    tar = by_path.get(f"archives/{pweek}/{name}")
                    if tar is None:
                        continue
                    cached.extend(from_file(e, tar, e["media_per_archive"], seed))
        else:
            for f in chosen:
                cached.extend(from_file(e, f, e["media_per_archive"], seed))
        out.extend(reversed(cached))
    return out


def main(job_path, out_path):
    with open(job_path) as f:
        job = json.load(f)
    modality, mode, seed = job["modality"], job["mode"], job["seed"]
    ds = []
    if job.get("catalog"):
        ds = load_catalog(job["catalog"])[modality]
        if job.get("gasstation_only"):
            ds = [e for e in ds if "gasstation" in e["name"].lower()]
        if job.get("content_category"):
            ds = [e for e in ds if e["content_category"] == job["content_category"]]
        ds = apply_mode(ds, mode)
    if job.get("holdout") and not job.get("gasstation_only"):
        ds = ds + apply_mode(load_holdouts(job["holdout"])[modality], mode)
    if job.get("datasets_filter"):
        fl = [x.lower() for x in job["datasets_filter"]]
        ds = [e for e in ds if any(x in e["name"].lower() for x in fl)]
    caps = weighted_caps(ds, TOTALS[mode][modality])
    if job.get("per_dataset") is not None:
        caps = {k: job["per_dataset"] for k in caps}
    out = []
    for e in ds:
        cap = caps[e["name"]] or DEFAULT_MAX_SAMPLES
        files = job["listings"].get(e["path"], [])
        if "gasstation" in e["name"].lower():
            today = datetime.date.fromisoformat(job.get("today") or datetime.date.today().isoformat())
            items = gasstation_samples(e, files, seed, today, job.get("num_weeks"))
        else:
            items = extracted(e, files, seed)[:CACHE_MAX_SAMPLES]
            # the cache is read back in file-name order (img_000000, …), shuffled with the seed
            random.Random(seed).shuffle(items)
        out.append({
            "name": e["name"],
            "original_name": e["original_name"],
            "media_per_archive": e["media_per_archive"],
            "archives_per_dataset": e["archives_per_dataset"],
            "cap": caps[e["name"]],
            "samples": items[:cap],
        })
    with open(out_path, "w") as f:
        json.dump({"datasets": out}, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
