"""Tiny synthetic competition data, feature tables and prediction files for the ensembling tests.

Everything follows ARCHITECTURE.md's file contracts, so the code under test cannot tell these
from real pipeline output; it is small enough that every test runs in about a second.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from competition.data import SYNTHETIC_MARKER, load_competition
from competition.dataset import PARQUET_KEY, identify
from competition.pseudo_test import Window
from core.io import write_parquet

N_STORES = 30
TRAIN_START = "2015-01-01"
TRAIN_END = "2015-06-19"
N_VALID = 42  # three pseudo-test windows of 14 days at the end of train
N_WINDOWS = 3
TEST_DAYS = 42


def make_competition(data_dir: Path, seed: int = 0, n_stores: int = N_STORES) -> dict[str, pd.DataFrame]:
    """Write train/test/store/sample_submission CSVs the way Kaggle ships them."""
    rng = np.random.default_rng(seed)
    data_dir.mkdir(parents=True, exist_ok=True)
    stores = np.arange(1, n_stores + 1)
    store = pd.DataFrame({
        "Store": stores, "StoreType": rng.choice(list("abcd"), n_stores),
        "Assortment": rng.choice(list("abc"), n_stores),
        "CompetitionDistance": rng.integers(100, 5000, n_stores).astype(float),
        "CompetitionOpenSinceMonth": np.nan, "CompetitionOpenSinceYear": np.nan, "Promo2": 0,
        "Promo2SinceWeek": np.nan, "Promo2SinceYear": np.nan, "PromoInterval": "",
    })
    level = rng.uniform(3000, 9000, n_stores)

    def frame(dates: pd.DatetimeIndex) -> pd.DataFrame:
        df = pd.DataFrame([(s, d) for d in dates for s in stores], columns=["Store", "Date"])
        df["DayOfWeek"] = df["Date"].dt.day_of_week + 1
        df["Open"] = (df["DayOfWeek"] != 7).astype(int)
        df["Promo"] = ((df["Date"].dt.isocalendar().week.astype(int) % 2 == 0) & (df["DayOfWeek"] <= 5)).astype(int)
        df["StateHoliday"] = "0"
        df["SchoolHoliday"] = (df["Date"].dt.month == 4).astype(int)
        return df

    train = frame(pd.date_range(TRAIN_START, TRAIN_END))
    # Ascension Day: a state holiday inside the validation window, stores closed.
    hol = train["Date"] == pd.Timestamp("2015-05-14")
    train.loc[hol, "StateHoliday"] = "a"
    train.loc[hol, "Open"] = 0
    mult = (1 + 0.25 * train["Promo"]) * (1 + 0.05 * (train["DayOfWeek"] == 1))
    sales = level[train["Store"] - 1] * mult * rng.lognormal(0, 0.1, len(train))
    train["Sales"] = np.where(train["Open"] == 1, np.round(sales), 0).astype(int)
    train["Customers"] = (train["Sales"] // 10).astype(int)
    test_dates = pd.date_range(pd.Timestamp(TRAIN_END) + pd.Timedelta(days=1), periods=TEST_DAYS)
    test = frame(test_dates).sort_values(["Date", "Store"], ascending=[False, True]).reset_index(drop=True)
    test.insert(0, "Id", np.arange(1, len(test) + 1))
    for df, name, cols in (
            (train, "train.csv", ["Store", "DayOfWeek", "Date", "Sales", "Customers", "Open", "Promo",
                                  "StateHoliday", "SchoolHoliday"]),
            (test, "test.csv", ["Id", "Store", "DayOfWeek", "Date", "Open", "Promo", "StateHoliday",
                                "SchoolHoliday"])):
        out = df[cols].copy()
        out["Date"] = out["Date"].dt.strftime("%Y-%m-%d")
        out.to_csv(data_dir / name, index=False)
    store.to_csv(data_dir / "store.csv", index=False)
    pd.DataFrame({"Id": test["Id"], "Sales": 0}).to_csv(data_dir / "sample_submission.csv", index=False)
    (data_dir / SYNTHETIC_MARKER).write_text("made by tests/ensembling/conftest.py\n")
    # Minimal fast.ai tables, so the backtest has an external/ to carry over.
    ext = data_dir / "external"
    ext.mkdir(exist_ok=True)
    pd.DataFrame({"Store": stores, "State": np.where(stores % 2 == 0, "BY", "NW")}).to_csv(
        ext / "store_states.csv", index=False)
    pd.DataFrame({"StateName": ["Bayern", "NordrheinWestfalen"], "State": ["BY", "NW"]}).to_csv(
        ext / "state_names.csv", index=False)
    pd.DataFrame({"file": "Bayern", "Date": ["2015-01-01"], "Max_TemperatureC": [3]}).to_csv(
        ext / "weather.csv", index=False)
    pd.DataFrame({"file": "Rossmann_DE_BY", "week": ["2015-01-04 - 2015-01-10"], "trend": [50]}).to_csv(
        ext / "googletrend.csv", index=False)
    return {"train": train, "test": test, "store": store}


def make_build(build_dir: Path, comp: dict[str, pd.DataFrame], models: dict[str, Callable], data_dir: Path,
               seed: int = 1, n_valid: int = N_VALID) -> None:
    """Feature tables, meta.json and prediction files for ``models``: out-of-window predictions on
    the last ``n_valid`` train dates (N_WINDOWS windows) and test predictions, each recording the
    fingerprint of ``data_dir`` as the pipeline's stages do.

    Each model is ``f(actual_or_truth, frame, rng) -> prediction``; for test rows the "truth" is
    a fresh draw from the same process, which is all a blend needs.
    """
    rng = np.random.default_rng(seed)
    store = comp["store"].assign(State=lambda s: np.where(s["Store"] % 2 == 0, "BY", "NW"))
    train = comp["train"].merge(store[["Store", "StoreType", "Assortment", "State"]], on="Store")
    test = comp["test"].merge(store[["Store", "StoreType", "Assortment", "State"]], on="Store")
    for df in (train, test):  # the features stage keeps StateHoliday as a bool, as fast.ai does
        df["StateHoliday"] = df["StateHoliday"].astype(str) != "0"
    (build_dir / "features").mkdir(parents=True, exist_ok=True)
    (build_dir / "predictions").mkdir(parents=True, exist_ok=True)
    train.to_parquet(build_dir / "features" / "train.parquet", index=False)
    test.to_parquet(build_dir / "features" / "test.parquet", index=False)
    dates = np.sort(train["Date"].unique())
    valid_start = pd.Timestamp(dates[-n_valid])
    dataset = identify(data_dir)
    # Window 1 is the last stretch of train, as competition.pseudo_test numbers them; each one's
    # train ends the day before it (no gap), so window k+1 lies before window k's train end.
    span = n_valid // N_WINDOWS
    windows = [Window(k, valid_start + pd.Timedelta(days=(N_WINDOWS - k) * span - 1),
                      valid_start + pd.Timedelta(days=(N_WINDOWS - k) * span),
                      valid_start + pd.Timedelta(days=(N_WINDOWS - k + 1) * span - 1)).to_dict()
               for k in range(1, N_WINDOWS + 1)]
    (build_dir / "features" / "meta.json").write_text(json.dumps({
        "valid_start": str(valid_start.date()), "test_start": str(test["Date"].min().date()),
        "rows": {"train": len(train), "test": len(test)}, "source": dataset.source,
        "data_fingerprint": dataset.fingerprint, "data_dir": dataset.data_dir, "windows": windows}))
    valid = train[train["Date"] >= valid_start].reset_index(drop=True)
    day = (valid["Date"] - valid_start).dt.days.to_numpy()
    valid.insert(0, "Window", N_WINDOWS - day // span)
    level = train[train["Date"] < valid_start].groupby("Store")["Sales"].mean()
    truth_test = level.reindex(test["Store"]).to_numpy() * 1.15 * (1 + 0.25 * test["Promo"].to_numpy())
    for name, f in models.items():
        pv = np.where(valid["Open"] == 1, f(valid["Sales"].to_numpy(float), valid, rng), 0.0)
        pt = np.where(test["Open"] == 1, f(truth_test, test, rng), 0.0)
        provenance = {PARQUET_KEY: dataset.fingerprint}
        write_parquet(valid[["Window", "Store", "Date", "Sales"]].assign(prediction=pv),
                      build_dir / "predictions" / f"{name}.oof.parquet", provenance)
        write_parquet(test[["Id", "Store", "Date"]].assign(prediction=pt),
                      build_dir / "predictions" / f"{name}.test.parquet", provenance)


def noisy(sd: float, bias: float = 1.0) -> Callable:
    """A model whose prediction is the truth times ``bias`` times log-normal noise."""
    return lambda y, df, rng: y * bias * rng.lognormal(0, sd, len(y))


@pytest.fixture(scope="session")
def synth() -> SimpleNamespace:
    """The helpers above, for tests that build their own data (pytest runs with importlib mode,
    so test modules cannot import this conftest)."""
    return SimpleNamespace(make_competition=make_competition, make_build=make_build, noisy=noisy,
                           load_as_comp=load_as_comp)


def load_as_comp(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Read a data dir through the real loader, in the shape :func:`make_build` takes."""
    data = load_competition(data_dir)
    return {"train": data.train, "test": data.test, "store": data.store}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    make_competition(d)
    return d


@pytest.fixture
def build_factory(tmp_path: Path, data_dir: Path) -> Callable[..., Path]:
    """``build_factory(models, name="build")`` writes a build dir with those models' predictions."""
    comp = load_as_comp(data_dir)

    def factory(models: dict[str, Callable], name: str = "build", seed: int = 1) -> Path:
        b = tmp_path / name
        make_build(b, comp, models, data_dir, seed=seed)
        return b

    return factory
