"""Reading what earlier stages wrote: prediction files, segment columns, meta.json.

The ensembler reads only files (ARCHITECTURE.md): ``predictions/<model>.{oof,test}.parquet``
from the models and, for segment columns, ``features/{train,test}.parquet``. It never imports
model code, so a model can be retrained or replaced without touching this package.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from competition.dataset import Dataset, parquet_dataset, require_match
from competition.pseudo_test import Window
from core.errors import DataError

OOF_COLUMNS = ("Window", "Store", "Date", "Sales", "prediction")
OOF_KEY = ["Window", "Store", "Date"]  # one store-day of one window
TEST_COLUMNS = ("Id", "Store", "Date", "prediction")
# Columns the report and segment factors group by, when the feature tables have them.
SEGMENT_COLUMNS = ("StoreType", "Assortment", "State", "Promo", "DayOfWeek", "StateHoliday",
                   "SchoolHoliday", "Open")
RERUN_FIX = "rerun the model that wrote it (`make train BUILD_DIR=...`)"
# The model whose prediction is a store's usual sales on a day (the median of its weekday and
# promo): one-off store-days (``competition.metric.one_off_rows``) are measured against it.
USUAL = "baseline"


def model_names(build_dir: Path, only: list[str] | None = None) -> list[str]:
    """Models with both an out-of-window and a test prediction file, sorted for determinism."""
    pred_dir = build_dir / "predictions"
    names = sorted(p.name.removesuffix(".oof.parquet") for p in pred_dir.glob("*.oof.parquet"))
    if only:
        missing = [m for m in only if m not in names]
        if missing:
            raise DataError(f"no out-of-window predictions for {missing} (found {names or 'none'})",
                            file=pred_dir, fix="train those models first, or drop them from --models")
        names = [n for n in names if n in only]
    if not names:
        raise DataError("no prediction files: expected <model>.oof.parquet and <model>.test.parquet",
                        file=pred_dir, fix="train at least one model first (`make train BUILD_DIR=...`)")
    for n in names:
        if not (pred_dir / f"{n}.test.parquet").exists():
            raise DataError(f"model {n!r} has out-of-window but no test predictions",
                            file=pred_dir / f"{n}.test.parquet", fix=RERUN_FIX)
    return names


def _read(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        df = pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read parquet file ({err})", file=path, fix=RERUN_FIX) from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}; the file has {list(df.columns)}", file=path,
                        column=missing[0], fix=RERUN_FIX)
    df = df[list(columns)].copy()
    df["Date"] = pd.to_datetime(df["Date"]).astype("datetime64[us]")
    bad = df["prediction"].isna() | ~np.isfinite(df["prediction"].to_numpy(dtype=np.float64, na_value=np.nan))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{int(bad.sum())} prediction(s) are NaN or infinite (first at row {i}: "
                        f"Store {df['Store'].iloc[i]}, Date {df['Date'].iloc[i].date()})",
                        file=path, column="prediction", fix=RERUN_FIX)
    key = ["Id"] if "Id" in df.columns else [c for c in ("Window", "Store", "Date") if c in df.columns]
    dup = df.duplicated(key)
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        # row= means a CSV line in DataError; for parquet the 0-based row index goes in the message.
        raise DataError(f"duplicated {tuple(key)} at row {i}", file=path, column=key[-1], fix=RERUN_FIX)
    neg = df["prediction"] < 0
    if neg.any():
        # A slightly negative prediction (a linear model on a closed day) is harmless after
        # clipping; the submission writer would reject it, so clip here and say so.
        print(f"warning: {path.name}: {int(neg.sum())} negative prediction(s) clipped to 0")
        df.loc[neg, "prediction"] = 0.0
    return df


def check_datasets(build_dir: Path, names: list[str], expected: Dataset | None) -> None:
    """Refuse (exit 2) prediction files made from another dataset than ``expected`` (the data in
    ``DATA_DIR``), or, without one, from different datasets."""
    files = [(n, p) for n in names for part in ("oof", "test")
             if (p := build_dir / "predictions" / f"{n}.{part}.parquet").exists()]
    found = {p: parquet_dataset(p) for _, p in files}
    if expected is not None:
        for n, p in files:
            require_match(expected, found[p], p,
                          f"retrain it from the current data: `make train-{n} BUILD_DIR={build_dir} DATA_DIR=...`")
        return
    if len(set(found.values())) > 1:
        made = ", ".join(f"{p.name} from {fp[:12] if fp else 'no recorded dataset'}" for p, fp in found.items())
        raise DataError(f"the prediction files were made from different datasets ({made}); they are never combined",
                        file=build_dir / "predictions",
                        fix=f"retrain every model from one dataset: `make train BUILD_DIR={build_dir} DATA_DIR=...`")


def load_predictions(build_dir: Path, names: list[str], part: str,
                     expected: Dataset | None = None) -> pd.DataFrame:
    """One wide frame: key columns plus one prediction column per model (named after the model).

    Every model must cover exactly the same rows: a blend over partly missing rows would be
    scored on a different window than the models it is compared with. And every file must come
    from the same dataset (``expected`` where given): see :func:`check_datasets`.
    """
    columns = OOF_COLUMNS if part == "oof" else TEST_COLUMNS
    key = OOF_KEY if part == "oof" else ["Id"]
    check_datasets(build_dir, names, expected)
    wide: pd.DataFrame | None = None
    for n in names:
        path = build_dir / "predictions" / f"{n}.{part}.parquet"
        df = _read(path, columns).rename(columns={"prediction": n})
        if wide is None:
            wide = df.sort_values(key).reset_index(drop=True)
            first = path
            continue
        extra = ["Sales"] if part == "oof" else []
        merged = wide.merge(df[key + extra + [n]].rename(columns={"Sales": "_sales"}), on=key, how="outer",
                            indicator=True)
        if (merged["_merge"] != "both").any():
            only_left = int((merged["_merge"] == "left_only").sum())
            only_right = int((merged["_merge"] == "right_only").sum())
            raise DataError(f"covers different rows than {first.name}: {only_right} row(s) only here, "
                            f"{only_left} only there", file=path,
                            fix="rebuild every model from the same features (`make train BUILD_DIR=...`)")
        if part == "oof":
            # Same rows but different actuals means the models saw different data.
            differ = merged["Sales"].to_numpy(np.float64) != merged["_sales"].to_numpy(np.float64)
            if differ.any():
                raise DataError(f"{int(differ.sum())} row(s) have a different actual Sales than {first.name}",
                                file=path, column="Sales",
                                fix="rebuild every model from the same features (`make train BUILD_DIR=...`)")
            merged = merged.drop(columns="_sales")
        wide = merged.drop(columns="_merge")
    assert wide is not None
    return wide.sort_values(key).reset_index(drop=True)


def load_oof(build_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """Every model's out-of-window predictions (:func:`load_predictions`) plus the ensemble's
    (``ensemble/oof.parquet``, each window's blend decided and fitted on the windows before it)
    where the ensembler has run; returns the frame and its prediction columns, the ensemble last.
    The ensemble is NaN on the days without sales (RMSPE does not score them)."""
    names = model_names(build_dir)
    valid = load_predictions(build_dir, names, "oof")
    cols = list(names)
    path = build_dir / "ensemble" / "oof.parquet"
    if path.exists():
        e = pd.read_parquet(path).rename(columns={"prediction": "ensemble"})
        e["Date"] = pd.to_datetime(e["Date"]).astype("datetime64[us]")
        valid = valid.merge(e[[*OOF_KEY, "ensemble"]], on=OOF_KEY, how="left")
        cols.append("ensemble")
    return valid, cols


def load_meta(build_dir: Path) -> dict[str, Any]:
    path = build_dir / "features" / "meta.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"not valid JSON ({err})", file=path, fix="rebuild the features (`make features`)") from None


def load_windows(build_dir: Path) -> list[Window]:
    """The pseudo-test windows the feature build lists (their dates order the causal ensemble)."""
    windows = load_meta(build_dir).get("windows")
    if not windows:
        raise DataError("the feature build lists no pseudo-test window", file=build_dir / "features" / "meta.json",
                        column="windows", fix=f"rebuild the features: `make features BUILD_DIR={build_dir}`")
    return [Window.from_dict(w) for w in windows]


def load_segments(build_dir: Path, part: str, keys: pd.DataFrame) -> pd.DataFrame:
    """Segment columns for the rows in ``keys`` (Store, Date [, Id]), from the feature tables.

    Store-level columns (StoreType, Assortment, State) come from the features when present; a
    build without feature files still gets Store and DayOfWeek, which need only the keys.
    """
    out = keys[[c for c in ("Id", "Store", "Date") if c in keys.columns]].copy()
    path = build_dir / "features" / f"{'train' if part == 'oof' else 'test'}.parquet"
    if path.exists():
        have = set(pq.read_schema(path).names)
        cols = [c for c in SEGMENT_COLUMNS if c in have]
        feats = pd.read_parquet(path, columns=["Store", "Date"] + cols)
        feats["Date"] = pd.to_datetime(feats["Date"]).astype("datetime64[us]")
        feats = feats.drop_duplicates(["Store", "Date"])
        out = out.merge(feats, on=["Store", "Date"], how="left")
    if "DayOfWeek" not in out.columns or out["DayOfWeek"].isna().any():
        out["DayOfWeek"] = out["Date"].dt.day_of_week + 1  # Rossmann's 1 = Monday
    return out
