"""The synthetic dataset: Kaggle's shape, realistic structure, deterministic."""
from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from competition.data import load_competition
from competition.synthetic import SyntheticConfig, write_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("syn")
    write_dataset(path, SyntheticConfig(n_stores=30, seed=7))
    with pytest.warns(UserWarning):
        return load_competition(path)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_deterministic_and_seed_sensitive(tmp_path: Path) -> None:
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        write_dataset(tmp_path / name, SyntheticConfig(n_stores=5, seed=seed))
    assert sha(tmp_path / "a/rossmann-store-sales.zip") == sha(tmp_path / "b/rossmann-store-sales.zip")
    assert sha(tmp_path / "a/external/weather.csv") == sha(tmp_path / "b/external/weather.csv")
    assert sha(tmp_path / "a/rossmann-store-sales.zip") != sha(tmp_path / "c/rossmann-store-sales.zip")


def test_kaggle_quirks(tmp_path: Path) -> None:
    write_dataset(tmp_path, SyntheticConfig(n_stores=5, seed=1))
    with zipfile.ZipFile(tmp_path / "rossmann-store-sales.zip") as zf:
        assert sorted(zf.namelist()) == ["sample_submission.csv", "store.csv", "test.csv", "train.csv"]
        train = zf.read("train.csv").decode().splitlines()
    assert train[0] == '"Store","DayOfWeek","Date","Sales","Customers","Open","Promo","StateHoliday","SchoolHoliday"'
    assert any(line.endswith(',"0","0"') for line in train) and any(',0,"' in line for line in train)
    assert b"\r\n" in (tmp_path / "external/store_states.csv").read_bytes()


def test_realistic_structure(data) -> None:
    tr = data.train
    open_days = tr[tr["Sales"] > 0]
    by_dow = open_days.groupby("DayOfWeek")["Sales"].mean()
    assert by_dow[1] > by_dow[3]  # Mondays are busy
    assert open_days.groupby("Promo")["Sales"].mean().pipe(lambda s: s[1] / s[0]) > 1.15
    sundays = tr[tr["DayOfWeek"] == 7]
    assert (sundays["Open"] == 0).mean() > 0.8  # most stores close on Sundays
    assert (tr.loc[tr["StateHoliday"] != "0", "Open"] == 0).mean() > 0.9
    dec = open_days[(open_days["Date"].dt.month == 12) & open_days["Date"].dt.day.between(14, 23)]["Sales"].mean()
    assert dec > 1.2 * open_days["Sales"].mean()  # Christmas peak
    # State holidays differ by state: some date is a holiday in one state and not in another.
    ss = data.external.store_states.merge(tr, on="Store")
    per_date = ss[ss["StateHoliday"] != "0"].groupby("Date")["State"].nunique()
    assert (per_date < ss["State"].nunique()).any()
    assert tr.groupby("Store")["Date"].nunique().nunique() > 1  # some stores miss rows
    assert np.isin(["b"], data.test["StateHoliday"].unique()).size == 1
    assert len(data.test) and set(data.sample_submission["Id"]) == set(data.test["Id"])
