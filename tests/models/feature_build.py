"""Small hand-made feature folders in the ARCHITECTURE.md layout, shared by the model tests."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

N_VALID_DAYS = 42
N_WINDOWS = 2


def _write_tables(fdir: Path, train: pd.DataFrame, test: pd.DataFrame, extra: dict) -> None:
    """One train/test pair, as features.cli.write_tables lays it out."""
    fdir.mkdir(parents=True, exist_ok=True)
    train.to_parquet(fdir / "train.parquet", index=False)
    test.to_parquet(fdir / "test.parquet", index=False)
    dates = np.sort(train["Date"].unique())
    meta = {"valid_start": pd.Timestamp(dates[-N_VALID_DAYS]).date().isoformat(),
            "valid_end": pd.Timestamp(dates[-1]).date().isoformat(),
            "test_start": test["Date"].min().date().isoformat(), "n_train": len(train), "n_test": len(test), **extra}
    (fdir / "meta.json").write_text(json.dumps(meta))


def write_feature_build(build_dir: Path, seed: int = 0, n_stores: int = 25, n_days: int = 300,
                        test_days: int = 14) -> Path:
    """Feature files (``B/features/{train,test}.parquet``, ``meta.json``) with a known signal, and
    N_WINDOWS pseudo-test windows of ``test_days`` at the end of train (``B/features/windows/w<k>/``
    with ``labels.parquet``; no gap, as on Kaggle's full data).

    Sales = store level x day-of-week x promo x month x day-of-month x noise, closed on Sundays, so a good model
    must learn per-store levels and interactions that a per-store median only partly captures.
    Columns are a subset of features.columns, as a model must cope with (external tables are
    optional).
    """
    rng = np.random.default_rng(seed)
    stores = np.arange(1, n_stores + 1)
    level = rng.uniform(3000, 9000, n_stores)
    promo_lift = rng.uniform(0.1, 0.4, n_stores)
    store_type = rng.choice(list("abcd"), n_stores)
    distance = rng.integers(100, 20000, n_stores).astype(float)
    dates = pd.date_range("2014-09-01", periods=n_days + test_days)

    df = pd.DataFrame([(s, d) for d in dates for s in stores], columns=["Store", "Date"])
    si = df["Store"].to_numpy() - 1
    df["DayOfWeek"] = (df["Date"].dt.day_of_week + 1).astype("int8")
    df["Month"] = df["Date"].dt.month.astype("int8")
    df["Day"] = df["Date"].dt.day.astype("int8")
    df["StoreType"] = store_type[si]
    df["StateHoliday"] = np.where(df["Date"].dt.strftime("%m-%d").isin(["12-25", "01-01"]), "a", "0")
    df["Open"] = ((df["DayOfWeek"] != 7) & (df["StateHoliday"] == "0")).astype("int8")
    df["Promo"] = ((df["Date"].dt.isocalendar().week.astype(int) % 2 == 0)
                   & (df["DayOfWeek"] <= 5)).astype("int8")
    df["SchoolHoliday"] = df["Month"].isin([7, 8]).astype("int8")
    df["CompetitionDistance"] = distance[si]
    dow_effect = np.array([1.25, 1.0, 0.95, 0.95, 1.05, 0.9, 0.0])[df["DayOfWeek"].to_numpy() - 1]
    month_effect = 1 + 0.15 * (df["Month"].to_numpy() == 12)
    # Pay-day cycle within the month: a per-store median cannot see it, a tree on `Day` can.
    day_effect = 1 + 0.15 * np.cos(2 * np.pi * (df["Day"].to_numpy() - 1) / 31)
    sales = (level[si] * dow_effect * month_effect * day_effect * (1 + promo_lift[si] * df["Promo"].to_numpy())
             * (1 - 0.1 * df["SchoolHoliday"].to_numpy()) * rng.lognormal(0, 0.04, len(df)))
    df["Sales"] = np.where(df["Open"] == 1, np.round(sales), 0).astype("int32")
    df["Customers"] = (df["Sales"] // 9).astype("int32")

    cut = dates[n_days]
    train = df[df["Date"] < cut].reset_index(drop=True)
    test = df[df["Date"] >= cut].drop(columns=["Sales", "Customers"]).reset_index(drop=True)
    test.insert(0, "Id", np.arange(1, len(test) + 1, dtype="int32"))
    fdir = build_dir / "features"
    windows = []
    for k in range(1, N_WINDOWS + 1):
        end = dates[n_days - 1 - (k - 1) * test_days]
        start = end - pd.Timedelta(days=test_days - 1)
        w = {"index": k, "train_end": str((start - pd.Timedelta(days=1)).date()), "start": str(start.date()),
             "end": str(end.date()), "n_days": test_days}
        rows = train[(train["Date"] >= start) & (train["Date"] <= end)].reset_index(drop=True)
        rows.insert(0, "Id", np.arange(1, len(rows) + 1, dtype="int32"))
        wdir = fdir / "windows" / f"w{k}"
        _write_tables(wdir, train[train["Date"] < start].reset_index(drop=True),
                      rows.drop(columns=["Sales", "Customers"]), {"window": w})
        rows[["Id", "Store", "Date", "Open", "Sales", "Customers"]].to_parquet(wdir / "labels.parquet", index=False)
        windows.append(w)
    _write_tables(fdir, train, test, {"windows": windows})
    # Kaggle's sample lists the test Ids in ascending order.
    pd.DataFrame({"Id": test["Id"], "Sales": 0.0}).to_parquet(fdir / "sample_submission.parquet", index=False)
    return build_dir
