"""Loading: dtypes and quirks, and a clear exit-2 message for each kind of bad input."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from competition.data import load_competition
from competition.synthetic import SyntheticConfig, write_dataset
from core.errors import DataError
from features.pipeline import build_features
from models.baseline import fit_predict as baseline
from models.lgbm import LGBMRecipe

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("syn")
    write_dataset(path, SyntheticConfig(n_stores=8, seed=3))
    return path


@pytest.fixture()
def csv_dir(synthetic_dir: Path, tmp_path: Path) -> Path:
    """The synthetic dataset as four extracted CSVs (which a test may then break)."""
    with zipfile.ZipFile(synthetic_dir / "rossmann-store-sales.zip") as zf:
        zf.extractall(tmp_path)
    shutil.copytree(synthetic_dir / "external", tmp_path / "external")
    return tmp_path


def run_fetch(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "competition.fetch", "--data-dir", str(data_dir), "--no-download"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120)


def edit_line(path: Path, line_no: int, old: str, new: str) -> None:
    lines = path.read_text().splitlines()
    assert old in lines[line_no - 1], (old, lines[line_no - 1])
    lines[line_no - 1] = lines[line_no - 1].replace(old, new, 1)
    path.write_text("\n".join(lines) + "\n")


def set_field(path: Path, line_no: int, field: int, value: str) -> None:
    """Overwrite one comma-separated field of one line (1-based line number, 0-based field)."""
    lines = path.read_text().splitlines()
    parts = lines[line_no - 1].split(",")
    parts[field] = value
    lines[line_no - 1] = ",".join(parts)
    path.write_text("\n".join(lines) + "\n")


def test_dtypes_and_quirks(synthetic_dir: Path) -> None:
    with pytest.warns(UserWarning, match="Open is blank"):
        data = load_competition(synthetic_dir)
    assert data.source == "synthetic"
    assert data.train["Date"].dtype == "datetime64[us]"
    assert data.train["Sales"].dtype == np.int32 and data.train["Store"].dtype == np.int32
    assert set(data.train["StateHoliday"].unique()) <= {"0", "a", "b", "c"}
    assert data.test["Open"].dtype == np.int8 and data.test["Open"].isin([0, 1]).all()
    assert list(data.train.columns) == ["Store", "DayOfWeek", "Date", "Sales", "Customers", "Open", "Promo",
                                        "StateHoliday", "SchoolHoliday"]
    assert data.external is not None and {"Store", "State"} <= set(data.external.store_states.columns)


def test_extracted_csvs_load_like_the_zip(synthetic_dir: Path, csv_dir: Path) -> None:
    a = load_competition(synthetic_dir)
    (csv_dir / "SYNTHETIC_DATA.txt").write_text("x")
    b = load_competition(csv_dir)
    pd.testing.assert_frame_equal(a.train, b.train)
    pd.testing.assert_frame_equal(a.test, b.test)


def assert_user_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)
    assert "fix:" in result.stderr


def test_missing_file(csv_dir: Path) -> None:
    (csv_dir / "store.csv").unlink()
    assert_user_error(run_fetch(csv_dir), "store.csv", "found [", "rossmann-store-sales.zip")
    assert not (csv_dir / "rossmann-store-sales.zip").exists()  # no synthetic data mixed in


def test_missing_column(csv_dir: Path) -> None:
    path = csv_dir / "train.csv"
    edit_line(path, 1, '"Customers"', '"Customer"')
    assert_user_error(run_fetch(csv_dir), "train.csv", "'Customers'", "missing column")


def test_unparseable_date(csv_dir: Path) -> None:
    edit_line(csv_dir / "train.csv", 5, "2015-07-31", "2015-07-3x")
    assert_user_error(run_fetch(csv_dir), "train.csv", "'Date'", "line 5", "2015-07-3x", "YYYY-MM-DD")


def test_duplicated_store_date(csv_dir: Path) -> None:
    path = csv_dir / "train.csv"
    lines = path.read_text().splitlines()
    lines.insert(10, lines[3])  # line 4 again, as line 11
    path.write_text("\n".join(lines) + "\n")
    assert_user_error(run_fetch(csv_dir), "train.csv", "appears twice", "line 11", "first on line 4")


def test_unknown_test_store(csv_dir: Path) -> None:
    set_field(csv_dir / "test.csv", 3, 1, "999")
    assert_user_error(run_fetch(csv_dir), "test.csv", "store 999", "line 3", "store.csv")


def test_negative_sales(csv_dir: Path) -> None:
    set_field(csv_dir / "train.csv", 7, 3, "-5")
    assert_user_error(run_fetch(csv_dir), "train.csv", "'Sales'", "line 7", "negative")


def test_text_in_number_column(csv_dir: Path) -> None:
    set_field(csv_dir / "train.csv", 9, 4, "many")
    assert_user_error(run_fetch(csv_dir), "train.csv", "'Customers'", "line 9", "'many'")


def test_corrupt_zip(synthetic_dir: Path, tmp_path: Path) -> None:
    data = (synthetic_dir / "rossmann-store-sales.zip").read_bytes()
    (tmp_path / "rossmann-store-sales.zip").write_bytes(data[: len(data) // 2])
    before = (tmp_path / "rossmann-store-sales.zip").read_bytes()
    assert_user_error(run_fetch(tmp_path), "rossmann-store-sales.zip", "corrupt")
    assert (tmp_path / "rossmann-store-sales.zip").read_bytes() == before  # raw data untouched


def test_data_error_render() -> None:
    err = DataError("bad", file="a.csv", column="Sales", row=3, fix="do x")
    assert err.render() == "file a.csv, column 'Sales', line 3: bad\n  fix: do x"


@pytest.mark.realdata
def test_real_data_loads(shared_rossmann: Path) -> None:
    with pytest.warns(UserWarning, match=r"Open is blank on 11 row\(s\) \(store\(s\) \[622\]\)"):
        data = load_competition(shared_rossmann)
    assert len(data.train) == 970_379 and len(data.test) == 41_088 and len(data.store) == 1_115
    assert data.train["Date"].max() == pd.Timestamp("2015-06-19")
    assert data.source == "kaggle" and data.external is not None
    assert set(data.train["StateHoliday"].unique()) == {"0", "a", "b", "c"}


# --- the test period's contract ---------------------------------------------------------------
def test_empty_test_csv(csv_dir: Path) -> None:
    for name in ("test.csv", "sample_submission.csv"):
        path = csv_dir / name
        path.write_text(path.read_text().splitlines()[0] + "\n")
    assert_user_error(run_fetch(csv_dir), "test.csv", "no rows")


@pytest.mark.parametrize("name", ["train.csv", "test.csv", "store.csv"])
def test_header_only_file_stops_make_data(csv_dir: Path, name: str) -> None:
    path = csv_dir / name
    path.write_text(path.read_text().splitlines()[0] + "\n")
    assert_user_error(run_fetch(csv_dir), name, "header but no rows", "fix:", "rossmann-store-sales.zip")


@pytest.mark.parametrize("name", ["train.csv", "test.csv", "store.csv"])
def test_empty_file_stops_make_data(csv_dir: Path, name: str) -> None:
    (csv_dir / name).write_text("")
    assert_user_error(run_fetch(csv_dir), name, "the file is empty", f"restore {name}")


def test_train_too_short_for_one_window_stops_make_data(csv_dir: Path) -> None:
    # Keep the last 60 days of train: fewer than one 48-day window plus 48 days to learn from.
    train = pd.read_csv(csv_dir / "train.csv", dtype=str, keep_default_na=False)
    last = pd.to_datetime(train["Date"]).max()
    train[pd.to_datetime(train["Date"]) > last - pd.Timedelta(days=60)].to_csv(csv_dir / "train.csv", index=False)
    assert_user_error(run_fetch(csv_dir), "train.csv", "'Date'", "holds 0 pseudo-test window(s)",
                      "needs a longer train period")


def test_duplicated_test_id(csv_dir: Path) -> None:
    set_field(csv_dir / "test.csv", 3, 0, "1")
    assert_user_error(run_fetch(csv_dir), "test.csv", "Id 1 appears twice", "line 3", "'Id'")


def test_test_period_overlapping_train(csv_dir: Path) -> None:
    train_end = pd.read_csv(csv_dir / "train.csv", usecols=["Date"])["Date"].max()
    set_field(csv_dir / "test.csv", 4, 3, train_end)
    assert_user_error(run_fetch(csv_dir), "test.csv", "'Date'", "line 4", f"last train date {train_end}",
                      "must start after the train period")


@pytest.mark.parametrize(("column", "old", "new"), [
    ("StoreType", '"a"', '"e"'), ("Assortment", '"c"', '"x"'), ("PromoInterval", '"Jan,Apr,Jul,Oct"',
                                                                '"Jan,Apr,July,Oct"')])
def test_store_code_outside_kaggles_set(csv_dir: Path, column: str, old: str, new: str) -> None:
    path = csv_dir / "store.csv"
    lines = path.read_text().splitlines()
    col = lines[0].replace('"', "").split(",").index(column)
    line_no = next(i for i, line in enumerate(lines[1:], start=2)
                   if old in line and (column == "PromoInterval" or line.split(",")[col] == old))
    edit_line(path, line_no, old, new)
    assert_user_error(run_fetch(csv_dir), "store.csv", f"'{column}'", f"line {line_no}", new.strip('"'),
                      "must be one of")


def test_more_windows_than_the_train_holds_exits_2(csv_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "features", "--data-dir", str(csv_dir), "--build-dir",
                             str(tmp_path / "b"), "--folds", "60"], capture_output=True, text=True, env=env,
                            cwd=REPO, timeout=120)
    assert_user_error(result, "test.csv", "'Date'", "pseudo-test window", "FOLDS=")


def test_test_store_without_train_rows_warns_and_gets_predictions(csv_dir: Path) -> None:
    store = int(pd.read_csv(csv_dir / "test.csv")["Store"].iloc[0])
    train = pd.read_csv(csv_dir / "train.csv", dtype=str, keep_default_na=False)
    train[train["Store"] != str(store)].to_csv(csv_dir / "train.csv", index=False)
    with pytest.warns(UserWarning, match=rf"store\(s\) \[{store}\] have no train rows"):
        data = load_competition(csv_dir)
    tr, te = build_features(data, data.train["Date"].max() - pd.Timedelta(days=47))
    new = (te["Store"] == store).to_numpy() & (te["Open"] == 1).to_numpy()
    for recipe in (baseline, LGBMRecipe({"learning_rate": 0.2, "num_leaves": 15, "verbosity": -1},
                                        seed=0, num_boost_round=30)):
        pred, _ = recipe(tr, te, {})
        assert np.isfinite(pred).all()
        # Rough but sane: within a factor of three of what the other stores sell.
        typical = float(np.median(pred[~new & (te["Open"] == 1).to_numpy()]))
        assert (pred[new] > typical / 3).all() and (pred[new] < typical * 3).all()
