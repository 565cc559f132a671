"""Cross-validated accuracy of the pets models: ``python -m pets.cv``.

One held-out split of 60 photos moves 1.7 points per photo, too coarse to choose between
backbones or schedules. Here every photo is held out once per repeat: stratified K-fold over all
photos (each breed spread evenly over the folds), the same folds for every backbone and mode
given the seed, and accuracy reported as mean and standard deviation over the folds.

Modes:
    probe     -- logistic regression on frozen average-pooled features. Features are extracted
                 once per backbone (centre crop, its mirror, ``--probe-aug`` augmented views),
                 so all folds together cost about one pass over the photos. Two probes are
                 scored: on centre crops only (the classic linear probe) and trained on every
                 view with mirror TTA.
    head      -- the ``head`` preset: the fast.ai head on cached frozen features (no fine-tuning).
    finetune  -- the ``finetune`` preset: head warm-up, then frozen and unfrozen one-cycles with
                 progressive resizing, as ``make pets`` trains on a CPU.
For head and finetune each fold trains the real :class:`PetsClassifier`; accuracy is reported
with and without TTA, and finetune also reports the accuracy its own head warm-up reached before
the fine-tuning stages (the same fold, the same photos: a paired comparison).

Results go to ``OUT/<backbone>-<mode>.json`` after every fold (a rerun resumes where it
stopped); ``OUT/table.md`` is the markdown table of everything in ``OUT`` (``--table`` alone
rewrites it).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import RepeatedStratifiedKFold
from tqdm import tqdm

from core.cli import run_cli
from core.errors import DataError
from core.io import write_json_atomic, write_text_atomic
from core.seed import DEFAULT_SEED, seed_everything
from core.tracking import log_run
from pets.classifier import PetsClassifier
from pets.config import PetsConfig, preset_values
from pets.data import PetPhotos, load_pets
from pets.models import BACKBONES, PetsNet
from pets.probe import LinearProbe, extract_views
from pets.tensors import default_device
from pets.tracking import EXPERIMENT, cv_record

MODES = ("probe", "head", "finetune")


def cv_folds(labels: np.ndarray, *, n_folds: int = 5, repeats: int = 1, seed: int = DEFAULT_SEED
             ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, valid) index pairs of a repeated stratified K-fold; fold ``r * n_folds + k`` is
    fold ``k`` of repeat ``r``. Deterministic given the seed."""
    counts = np.bincount(labels)
    if n_folds < 2 or counts[counts > 0].min() < n_folds:
        raise DataError(f"{n_folds}-fold stratified cross-validation needs at least {n_folds} photos "
                        f"of every breed (the rarest has {counts[counts > 0].min()}) and 2 folds",
                        fix="use fewer --folds")
    splitter = RepeatedStratifiedKFold(n_splits=n_folds, n_repeats=repeats, random_state=seed)
    return [(np.sort(train_idx), np.sort(valid_idx))
            for train_idx, valid_idx in splitter.split(np.zeros(len(labels)), labels)]


def summarize(values: list[float]) -> dict[str, float]:
    """Mean and sample standard deviation (0 for a single fold)."""
    arr = np.asarray(values, dtype=float)
    return {"mean": float(arr.mean()), "sd": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
            "n": int(len(arr))}


def probe_cv(photos: PetPhotos, folds: list[tuple[np.ndarray, np.ndarray]], *, backbone: str,
             size: int, n_aug: int = 4, seed: int = DEFAULT_SEED, progress: bool = True
             ) -> dict[str, Any]:
    """Per-fold accuracy of the two linear probes (see the module docstring)."""
    start = time.time()
    net = PetsNet(backbone, len(photos.classes), weights="imagenet")
    views = extract_views(net, photos, size, backbone=backbone, n_aug=n_aug, seed=seed,
                          progress=progress)
    extract_s = time.time() - start
    rows = []
    for fold, (train_idx, valid_idx) in enumerate(folds):
        fold_start = time.time()
        y_train, y_valid = photos.labels[train_idx], photos.labels[valid_idx]
        centre_accuracy = (LinearProbe(seed=seed).fit(views[0, train_idx], y_train)
                           .score(views[0, valid_idx], y_valid))
        views_accuracy = (LinearProbe(train_views=len(views), test_views=2, seed=seed)
                          .fit(views[:, train_idx], y_train).score(views[:, valid_idx], y_valid))
        rows.append({"fold": fold, "accuracy": centre_accuracy, "accuracy_views": views_accuracy,
                     "seconds": round(time.time() - fold_start, 1)})
    return {"extract_seconds": round(extract_s, 1), "folds": rows}


def train_fold(photos: PetPhotos, train_idx: np.ndarray, valid_idx: np.ndarray, config: PetsConfig,
               *, progress: bool = False) -> dict[str, Any]:
    """Train the real classifier on one fold; accuracy on the held-out part with and without TTA."""
    start = time.time()
    # The head's dropout draws from the global generator: seeding per fold makes a fold's result
    # independent of the folds run before it (and so of resuming).
    seed_everything(config.seed)
    train, valid = photos.subset(train_idx), photos.subset(valid_idx)
    clf = PetsClassifier(PetsConfig.from_dict(config.to_dict()), device=default_device(),
                         progress=progress).fit(train, valid)
    row: dict[str, Any] = {"accuracy": clf.score(valid, tta=False), "accuracy_tta": clf.score(valid, tta=True)}
    warmup_rows = [epoch for epoch in clf.history_ if epoch["phase"] == "head warm-up"]
    if warmup_rows:
        row["warmup_accuracy"] = 1.0 - warmup_rows[-1]["error_rate"]
    row["seconds"] = round(time.time() - start, 1)
    return row


def _result_path(out: Path, backbone: str, mode: str) -> Path:
    return out / f"{backbone}-{mode}.json"


def run_cv(photos: PetPhotos, *, backbone: str, mode: str, n_folds: int, repeats: int, seed: int,
           out: Path, max_folds: int | None = None, probe_aug: int = 4, command: str = "",
           progress: bool = True) -> dict[str, Any]:
    """Cross-validate one backbone in one mode; writes and returns the result dict."""
    folds = cv_folds(photos.labels, n_folds=n_folds, repeats=repeats, seed=seed)
    setup = {"backbone": backbone, "mode": mode, "n_folds": n_folds, "repeats": repeats, "seed": seed,
             "n_photos": len(photos)}
    path = _result_path(out, backbone, mode)
    if mode == "probe":
        size = preset_values("head", backbone)["sizes"][-1]
        result = {**setup, "size": size, "probe_aug": probe_aug, "command": command}
        result.update(probe_cv(photos, folds, backbone=backbone, size=size, n_aug=probe_aug, seed=seed,
                               progress=progress))
    else:
        values = preset_values(mode, backbone)
        values.pop("refit_all", None)
        config = PetsConfig(backbone=backbone, seed=seed, **values)
        # Through JSON, so that it compares equal to the saved one (tuples come back as lists).
        result = {**setup, "config": json.loads(json.dumps(config.to_dict())), "command": command,
                  "folds": []}
        if path.is_file():
            old = json.loads(path.read_text())
            if all(old.get(k) == v for k, v in setup.items()) and old.get("config") == result["config"]:
                result["folds"] = old["folds"]
        done = {r["fold"] for r in result["folds"]}
        todo = [fold for fold in range(len(folds)) if fold not in done][: None if max_folds is None
                                                                         else max(0, max_folds - len(done))]
        for fold in tqdm(todo, desc=f"{backbone} {mode} folds", disable=not progress):
            row = {"fold": fold, **train_fold(photos, *folds[fold], config, progress=False)}
            result["folds"].append(row)
            result["folds"].sort(key=lambda r: r["fold"])
            write_json_atomic(path, _with_summary(result))
            if progress:
                tqdm.write(f"fold {fold}: {row}")
    write_json_atomic(path, _with_summary(result))
    return result


def _with_summary(result: dict[str, Any]) -> dict[str, Any]:
    """Add mean ± sd of every accuracy over the folds done so far, and the mean fold time."""
    folds = result["folds"]
    keys = [key for key in ("accuracy", "accuracy_views", "accuracy_tta", "warmup_accuracy")
            if folds and key in folds[0]]
    result["summary"] = {key: summarize([row[key] for row in folds]) for key in keys}
    result["seconds_per_fold"] = float(np.mean([r["seconds"] for r in folds])) if folds else 0.0
    return result


# ---------------------------------------------------------------------------- the table
ROW_LABELS = {
    ("probe", "accuracy"): "linear probe (centre crop)",
    ("probe", "accuracy_views"): "linear probe (+ mirror and augmented views, mirror TTA)",
    ("head", "accuracy"): "fast.ai head on frozen features",
    ("head", "accuracy_tta"): "fast.ai head on frozen features, TTA",
    ("finetune", "warmup_accuracy"): "fine-tuning run: its head warm-up (before fine-tuning)",
    ("finetune", "accuracy"): "fine-tuned",
    ("finetune", "accuracy_tta"): "fine-tuned, TTA",
}


def results_table(out: Path) -> str:
    """Markdown table of every result file in ``out``: one row per backbone x model."""
    rows = []
    for path in sorted(out.glob("*.json")):
        result = _with_summary(json.loads(path.read_text()))
        if not result["folds"]:
            continue
        if result["mode"] == "probe":
            wall = f"{result['extract_seconds']:.0f} s features + {result['seconds_per_fold']:.1f} s/fold"
        else:
            wall = f"{result['seconds_per_fold']:.0f} s/fold"
        for (mode, key), label in ROW_LABELS.items():
            if mode != result["mode"] or key not in result["summary"]:
                continue
            stats = result["summary"][key]
            folds = f"{stats['n']} of {result['n_folds'] * result['repeats']}"
            rows.append(f"| {result['backbone']} | {label} | {100 * stats['mean']:.1f} ± {100 * stats['sd']:.1f} "
                        f"| {folds} | {wall} |")
    head = ("| backbone | model | accuracy % (mean ± sd over folds) | folds | wall time (one core) |\n"
            "|---|---|---:|---:|---|")
    return "\n".join([head, *rows]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pets.cv", description=__doc__.splitlines()[0])
    parser.add_argument("--pets-dir", help="photos: torchvision layout or <Breed>_<n>.jpg")
    parser.add_argument("--backbone", nargs="+", default=["efficientnet_lite0"], choices=BACKBONES)
    parser.add_argument("--mode", nargs="+", default=["probe"], choices=MODES)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--max-folds", type=int, default=None,
                        help="stop after this many folds in total (head/finetune; a rerun continues)")
    parser.add_argument("--probe-aug", type=int, default=4, help="augmented views per photo for the probe")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", default="build/pets/cv")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--table", action="store_true",
                        help="write OUT/table.md from the results in --out, print it and stop")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.table:
        return _write_table(out)
    if not args.pets_dir:
        raise DataError("no photos given", fix="pass --pets-dir (e.g. ../shared/pets)")
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    # The probe runs at the head preset's (native) size.
    sizes = [size for backbone in args.backbone for mode in args.mode
             for size in preset_values(mode if mode != "probe" else "head", backbone)["sizes"]]
    photos = load_pets(args.pets_dir, short_side=max(sizes))
    command = "python -m pets.cv " + " ".join(sys.argv[1:] if argv is None else argv)
    results = []
    for backbone in args.backbone:
        for mode in args.mode:
            result = run_cv(photos, backbone=backbone, mode=mode, n_folds=args.folds, repeats=args.repeats,
                            seed=args.seed, out=out, max_folds=args.max_folds, probe_aug=args.probe_aug,
                            command=command)
            shown = {key: f"{100 * stats['mean']:.1f} ± {100 * stats['sd']:.1f} (n={stats['n']})"
                     for key, stats in result["summary"].items()}
            print(f"{backbone} {mode}: {shown}", file=sys.stderr)
            results.append(_with_summary(result))
    code = _write_table(out)
    log_run(EXPERIMENT, lambda: cv_record(results, args.pets_dir, photos.paths, out), "make pets-cv")
    return code


def _write_table(out: Path) -> int:
    text = results_table(out)
    write_text_atomic(out / "table.md", text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    run_cli(main)
