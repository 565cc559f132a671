"""``python -m ensembling.backtest --data-dir D --build-dir B --folds 3``: rolling-origin backtest.

One validation window is one draw: a change that wins on it can lose on the next six weeks. So
the same pipeline (the Makefile's ``ensemble`` target, the very DAG ``make submit`` runs) is rerun
on K earlier windows and each model's RMSPE is reported as mean +/- sd.

Fold k (k = 1..K) validates on the k-th window of N consecutive train dates counting back from the
end of train, N = the number of distinct test dates: that is exactly the window the pipeline's
own split (``competition.split.validation_split``: the last N train dates) picks once train is cut
after it. So fold k's data is the competition data with train rows up to the window's end, and
test, store, sample_submission and external/ unchanged. Fold 1 is the normal validation window.
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from competition.data import COMPETITION_FILES, SYNTHETIC_MARKER, read_raw_file
from competition.errors import DataError
from competition.io import write_json_atomic, write_text_atomic, write_with
from competition.metric import rmspe
from ensembling.sinks import read_validation

REPO_ROOT = Path(__file__).resolve().parents[1]
# At least this many train dates must precede a fold's window: models need history to learn
# weekly and yearly patterns, and the features need it for their per-store statistics.
MIN_HISTORY_DAYS = 180

Pipeline = Callable[[Path, Path, int, Path], None]


@dataclass(frozen=True)
class FoldWindow:
    fold: int
    start: pd.Timestamp
    end: pd.Timestamp
    n_days: int

    def to_dict(self) -> dict[str, Any]:
        return {"fold": self.fold, "start": str(self.start.date()), "end": str(self.end.date()),
                "n_days": self.n_days}


def fold_windows(train_dates: pd.Series | np.ndarray, n_days: int, folds: int,
                 min_history: int = MIN_HISTORY_DAYS) -> list[FoldWindow]:
    """The K consecutive windows of ``n_days`` distinct train dates, counting back from the end."""
    dates = np.sort(pd.unique(pd.to_datetime(pd.Series(np.asarray(train_dates)))))
    if folds < 1 or n_days < 1:
        raise DataError(f"need folds >= 1 and a window of >= 1 day (got folds={folds}, n_days={n_days})",
                        fix="use FOLDS=3 or similar")
    history = len(dates) - folds * n_days
    if history < min_history:
        raise DataError(f"{folds} folds of {n_days} dates leave {history} train dates before the first window; "
                        f"at least {min_history} are needed", fix="use fewer folds (FOLDS=...)")
    out = []
    for k in range(1, folds + 1):
        window = dates[len(dates) - k * n_days: len(dates) - (k - 1) * n_days]
        out.append(FoldWindow(k, pd.Timestamp(window[0]), pd.Timestamp(window[-1]), n_days))
    return out


def _read_raw(data_dir: Path, name: str) -> tuple[bytes, pd.DataFrame]:
    """The file's bytes and its cells as text, exactly as written (no type conversion)."""
    data, where = read_raw_file(data_dir, name)
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    if "Date" not in frame.columns:
        raise DataError("missing column 'Date'", file=where, column="Date", fix="use the Kaggle file as downloaded")
    return data, frame


def _write_if_changed(path: Path, data: bytes) -> None:
    """Leave an identical file untouched: its timestamp is what lets make skip the fold's stages."""
    if path.exists() and path.read_bytes() == data:
        return
    write_with(path, lambda tmp: tmp.write_bytes(data))


def write_fold_data(data_dir: Path, out_dir: Path, window_end: pd.Timestamp,
                    train: pd.DataFrame | None = None) -> Path:
    """A competition data dir whose train stops at ``window_end``; everything else unchanged."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if train is None:
        _, train = _read_raw(data_dir, "train.csv")
    keep = pd.to_datetime(train["Date"]) <= window_end
    _write_if_changed(out_dir / "train.csv", train[keep].to_csv(index=False).encode())
    for name in COMPETITION_FILES:
        if name != "train.csv":
            _write_if_changed(out_dir / name, read_raw_file(data_dir, name)[0])
    if (data_dir / SYNTHETIC_MARKER).exists():
        _write_if_changed(out_dir / SYNTHETIC_MARKER, (data_dir / SYNTHETIC_MARKER).read_bytes())
    ext, link = data_dir / "external", out_dir / "external"
    if ext.is_dir() and not link.exists():
        try:  # a link costs nothing and cannot drift from the original
            os.symlink(ext.resolve(), link, target_is_directory=True)
        except OSError:
            shutil.copytree(ext, link)
    return out_dir


def make_pipeline(data_dir: Path, build_dir: Path, seed: int, log: Path) -> None:
    """``make ensemble DATA_DIR=... BUILD_DIR=... SEED=...``: the same DAG as ``make submit``."""
    cmd = [os.environ.get("MAKE", "make"), "-C", str(REPO_ROOT), "ensemble", f"DATA_DIR={data_dir.resolve()}",
           f"BUILD_DIR={build_dir.resolve()}", f"SEED={seed}"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as fh:
        fh.write(" ".join(cmd) + "\n")
        fh.flush()
        code = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False).returncode
    if code != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        raise DataError(f"the pipeline failed with exit code {code}; last lines of its log:\n{tail}", file=log,
                        fix="fix the failing stage (rerun the command on the first line of the log to see it)")


def score_fold(build_dir: Path, window: FoldWindow) -> dict[str, Any]:
    """Each model's RMSPE from its prediction file, and the ensemble's from validation.json."""
    scores: dict[str, float] = {}
    notes = []
    for path in sorted((build_dir / "predictions").glob("*.valid.parquet")):
        df = pd.read_parquet(path, columns=["Date", "Sales", "prediction"])
        d = pd.to_datetime(df["Date"])
        if d.min() != window.start or d.max() != window.end:
            # The fold is meaningless if the pipeline validated elsewhere; say so loudly.
            notes.append(f"{path.name} covers {d.min().date()}..{d.max().date()}, expected the fold window")
        scores[path.name.removesuffix(".valid.parquet")] = rmspe(df["Sales"], df["prediction"])
    ens = read_validation(build_dir).get("models", {}).get("ensemble")
    if ens:
        scores["ensemble"] = float(ens["rmspe"])
        if "rmspe_honest" in ens:
            scores["ensemble (honest)"] = float(ens["rmspe_honest"])
    else:
        notes.append("no ensemble entry in reports/validation.json")
    return {**window.to_dict(), "rmspe": scores, "notes": notes}


def summarize(folds: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    names = sorted({n for f in folds for n in f["rmspe"]}, key=lambda n: (n.startswith("ensemble"), n))
    out = {}
    for n in names:
        vals = [f["rmspe"].get(n) for f in folds]
        got = np.array([v for v in vals if v is not None], dtype=np.float64)
        out[n] = {"per_fold": vals, "mean": float(got.mean()) if len(got) else None,
                  "sd": float(got.std(ddof=1)) if len(got) > 1 else 0.0, "n_folds": int(len(got))}
    return out


def results_markdown(result: dict[str, Any]) -> str:
    folds = result["folds"]
    head = ["model"] + [f"fold {f['fold']} ({f['start']}..{f['end']})" for f in folds] + ["mean ± sd"]
    lines = [f"# Rolling-origin backtest ({len(folds)} folds of {folds[0]['n_days']} dates)", "",
             f"data: {result['data_dir']}, seed {result['seed']}. Fold 1 is the usual validation window; "
             "each fold reruns `make ensemble` on the data cut after its window.", "",
             "| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for name, s in result["summary"].items():
        cells = ["" if v is None else f"{v:.4f}" for v in s["per_fold"]]
        mean = "" if s["mean"] is None else f"{s['mean']:.4f} ± {s['sd']:.4f}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {mean} |")
    lines += ["", "*ensemble (honest)*: the blend fitted on one half of the fold's window and scored on the other."]
    notes = [f"- fold {f['fold']}: {n}" for f in folds for n in f["notes"]]
    if notes:
        lines += ["", "## Notes", ""] + notes
    return "\n".join(lines) + "\n"


def run_backtest(data_dir: Path, build_dir: Path, folds: int, seed: int, pipeline: Pipeline = make_pipeline,
                 min_history: int = MIN_HISTORY_DAYS) -> dict[str, Any]:
    """Cut the data for each fold, run ``pipeline(data, build, seed, log)`` there, score, summarise."""
    _, train = _read_raw(data_dir, "train.csv")
    _, test = _read_raw(data_dir, "test.csv")
    windows = fold_windows(train["Date"], int(test["Date"].nunique()), folds, min_history)
    root = build_dir / "backtest"
    results = []
    for w in tqdm(windows, desc="backtest folds", unit="fold"):
        fold_dir = root / f"fold_{w.fold}"
        fold_data = write_fold_data(data_dir, fold_dir / "data", w.end, train)
        pipeline(fold_data, fold_dir / "build", seed, fold_dir / "pipeline.log")
        results.append(score_fold(fold_dir / "build", w))
    result = {"data_dir": str(data_dir), "seed": seed, "folds": results, "summary": summarize(results)}
    write_json_atomic(root / "results.json", result)
    write_text_atomic(root / "results.md", results_markdown(result))
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ensembling.backtest", description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--build-dir", type=Path, default=Path("build"))
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--min-history", type=int, default=MIN_HISTORY_DAYS,
                    help="train dates required before the earliest window")
    args = ap.parse_args(argv)
    result = run_backtest(args.data_dir, args.build_dir, args.folds, args.seed, min_history=args.min_history)
    print(results_markdown(result))
    print(f"wrote {args.build_dir / 'backtest' / 'results.md'} and results.json")
    return 0


if __name__ == "__main__":
    from competition.cli import run_cli

    run_cli(main)
