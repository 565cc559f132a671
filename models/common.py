"""What every model shares: reading the feature files, the one split, and writing outputs.

A model reads ``BUILD_DIR/features/{train,test}.parquet`` and ``meta.json``, fits on the part
before ``valid_start``, scores the validation window, refits on train + validation for the test
set, and writes its predictions, its submission and its validation score through this module, so
the ensembler and the report can treat every model the same way.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from competition.errors import DataError
from competition.io import write_with
from competition.metric import rmspe
from submissions.report import record_model, update_validation
from submissions.writer import to_submission, write_submission


def load_feature_tables(build_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """``(train, test, meta)`` from ``BUILD_DIR/features``."""
    fdir = Path(build_dir) / "features"
    paths = [fdir / "train.parquet", fdir / "test.parquet", fdir / "meta.json"]
    for path in paths:
        if not path.exists():
            raise DataError("the feature files are missing", file=path,
                            fix=f"run `make features BUILD_DIR={build_dir}` first")
    meta = json.loads(paths[2].read_text())
    return pd.read_parquet(paths[0]), pd.read_parquet(paths[1]), meta


def _scored(df: pd.DataFrame) -> pd.Series:
    # Only open days with sales are learned from and scored: RMSPE ignores zero-sales days and
    # closed days are set to 0 in the submission anyway.
    return (df["Open"] == 1) & (df["Sales"] > 0)


def training_frames(train: pd.DataFrame, meta: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(fit_df, valid_df)``: open days with Sales > 0 before / inside the validation window."""
    start = pd.Timestamp(meta["valid_start"])
    end = pd.Timestamp(meta.get("valid_end", train["Date"].max()))
    keep = _scored(train)
    fit = train[keep & (train["Date"] < start)].reset_index(drop=True)
    valid = train[keep & (train["Date"] >= start) & (train["Date"] <= end)].reset_index(drop=True)
    if fit.empty or valid.empty:
        raise DataError(f"the split at {start.date()} leaves {len(fit)} training and {len(valid)} validation rows",
                        file=Path("features/meta.json"), column="valid_start",
                        fix="rebuild the features (`make features`) so valid_start lies inside the train dates")
    return fit, valid


def full_frame(train: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame:
    """Train + validation (open days with Sales > 0) for the final refit."""
    end = pd.Timestamp(meta.get("valid_end", train["Date"].max()))
    return train[_scored(train) & (train["Date"] <= end)].reset_index(drop=True)


def sample_submission(build_dir: str | Path, test: pd.DataFrame) -> pd.DataFrame:
    """The competition's sample submission (the order Kaggle expects the ids in)."""
    path = Path(build_dir) / "features" / "sample_submission.parquet"
    if path.exists():
        return pd.read_parquet(path)
    # Kaggle's sample lists the test ids in ascending order.
    return pd.DataFrame({"Id": np.sort(test["Id"].to_numpy()), "Sales": 0.0})


def tuned_params(build_dir: str | Path, name: str) -> dict[str, Any] | None:
    """Best parameters of an Optuna study (``BUILD_DIR/tuning/<name>.json``), or None."""
    path = Path(build_dir) / "tuning" / f"{name}.json"
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    return doc.get("params", doc)


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    write_with(path, lambda tmp: df.to_parquet(tmp, index=False))


def write_outputs(build_dir: str | Path, name: str, valid: pd.DataFrame, valid_pred: np.ndarray,
                  test: pd.DataFrame, test_pred: np.ndarray, extra: dict[str, Any] | None = None) -> float:
    """Write predictions, the submission and the validation score of one model; return its RMSPE.

    - ``predictions/<name>.valid.parquet``: Store, Date, Sales (actual), prediction
    - ``predictions/<name>.test.parquet``: Id, Store, Date, Open, prediction (0 on closed days)
    - ``submissions/<name>.csv``
    """
    build_dir = Path(build_dir)
    valid_pred = np.asarray(valid_pred, dtype=np.float64)
    test_pred = np.where(test["Open"].to_numpy() == 0, 0.0, np.asarray(test_pred, dtype=np.float64))
    if not (np.isfinite(valid_pred).all() and np.isfinite(test_pred).all()):
        raise ValueError(f"{name}: predictions contain NaN or infinity; check the model's inputs")
    score = rmspe(valid["Sales"].to_numpy(), valid_pred)
    pdir = build_dir / "predictions"
    _write_parquet(pd.DataFrame({"Store": valid["Store"].to_numpy(), "Date": valid["Date"].to_numpy(),
                                 "Sales": valid["Sales"].to_numpy(), "prediction": valid_pred}),
                   pdir / f"{name}.valid.parquet")
    _write_parquet(pd.DataFrame({"Id": test["Id"].to_numpy(), "Store": test["Store"].to_numpy(),
                                 "Date": test["Date"].to_numpy(), "Open": test["Open"].to_numpy(),
                                 "prediction": test_pred}), pdir / f"{name}.test.parquet")
    write_submission(to_submission(test, test_pred), sample_submission(build_dir, test),
                     build_dir / "submissions" / f"{name}.csv")
    record_model(build_dir, name, score, extra)
    update_validation(build_dir, {"validation": {
        "valid_start": str(pd.Timestamp(valid["Date"].min()).date()),
        "valid_end": str(pd.Timestamp(valid["Date"].max()).date()),
        "n_days": int(valid["Date"].nunique()), "n_rows": len(valid)}})
    return score
