"""What `make pets` and `make pets-cv` log as their MLflow runs (experiment ``pets``; see
``core.tracking`` for the store and ``TRACKING=0``)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from core.tracking import RunRecord, flatten, git_state, peak_rss_mb

EXPERIMENT = "pets"
# metrics.json entries of `make pets` that are measurements (the rest describe the run).
TRAIN_METRICS = ("linear_probe_accuracy", "held_out_accuracy", "held_out_accuracy_tta", "error_rate",
                 "linear_probe_seconds", "train_seconds", "refit_all_seconds", "total_seconds", "n_photos",
                 "n_train", "n_valid")
# Per-epoch entries of the classifier's history, logged as metric histories (step = epoch row).
EPOCH_METRICS = ("train_loss", "valid_loss", "error_rate", "seconds")


def photos_fingerprint(paths: list[Path]) -> str:
    """sha256 over the photos' names and sizes: which photo set a run saw, without rereading it."""
    h = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.name):
        h.update(f"{path.name}\t{path.stat().st_size}\n".encode())
    return h.hexdigest()


def train_record(config: dict[str, Any], metrics: dict[str, Any], pets_dir: str | Path, paths: list[Path],
                 out: Path) -> RunRecord:
    """The run of one `make pets`: config, photo set, held-out and probe accuracy, timings, plots."""
    params = {**git_state(), **flatten(config), "preset": metrics.get("preset"), "device": metrics.get("device"),
              "saved_model_trained_on": metrics.get("saved_model_trained_on"),
              "pets_dir": str(Path(pets_dir).resolve()), "data_fingerprint": photos_fingerprint(paths)}
    values = {k: metrics[k] for k in TRAIN_METRICS if k in metrics}
    history = metrics.get("history") or []
    series = {f"epoch.{k}": [row[k] for row in history if k in row] for k in EPOCH_METRICS}
    record = RunRecord(name="pets", params=params, metrics={**values, "peak_rss_mb": peak_rss_mb()},
                       series={k: v for k, v in series.items() if v},
                       tags={"command": "pets", "mlflow.source.name": "make pets",
                             "mlflow.source.git.commit": params["git_commit"]})
    record.add_files([out / "config.json", out / "metrics.json", out / "most_confused.png", out / "top_losses.png"])
    record.add_files(sorted((out / "heatmaps").glob("*.png")), "heatmaps")
    return record


def cv_record(results: list[dict[str, Any]], pets_dir: str | Path, paths: list[Path], out: Path) -> RunRecord:
    """The run of one `make pets-cv`: one nested run per backbone and mode, accuracy mean and sd."""
    git = git_state()
    children = []
    for result in results:
        name = f"{result['backbone']} {result['mode']}"
        metrics = {f"{key}.{stat}": value for key, stats in (result.get("summary") or {}).items()
                   for stat, value in stats.items() if stat in ("mean", "sd", "n")}
        metrics["seconds_per_fold"] = result.get("seconds_per_fold")
        setup = {k: v for k, v in result.items() if k not in ("folds", "summary", "command", "seconds_per_fold")}
        child = RunRecord(name=name, params=flatten(setup), metrics=metrics, tags={"stage": name})
        child.add_files([out / f"{result['backbone']}-{result['mode']}.json"])
        children.append(child)
    params = {**git, "pets_dir": str(Path(pets_dir).resolve()), "data_fingerprint": photos_fingerprint(paths),
              **{k: results[0][k] for k in ("n_folds", "repeats", "seed") if results and k in results[0]}}
    metrics = {f"{c.name.replace(' ', '.')}.{k}": v for c in children for k, v in c.metrics.items()}
    record = RunRecord(name="pets-cv", params=params, metrics={**metrics, "peak_rss_mb": peak_rss_mb()},
                       tags={"command": "pets-cv", "mlflow.source.name": "make pets-cv",
                             "mlflow.source.git.commit": git["git_commit"]}, children=children)
    record.add_files([out / "table.md"])
    return record
