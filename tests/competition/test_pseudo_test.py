"""Pseudo-test windows: shaped like the test, nothing from after them, features computed the same way."""
from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from competition.data import load_competition
from competition.pseudo_test import (
    TEST_COLUMNS,
    PeriodShape,
    Window,
    estimate,
    period_shape,
    plan,
    pseudo_test,
    window_weights,
    windows,
)
from competition.synthetic import SyntheticConfig, write_dataset
from core.errors import DataError
from features.cli import build, window_dir
from features.cli import main as features_main
from features.pipeline import build_features

# The sequence families: what censoring is about.
SEQUENCE_PREFIXES = ("After", "Before", "DaysSince", "DaysUntil")
SEQUENCE_SUFFIXES = ("_fw", "_bw")
GAP = 42  # train ending six weeks before the test, as ../shared's


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    """Small synthetic competition data whose train ends GAP days before the test, as ../shared's."""
    d = tmp_path_factory.mktemp("synthetic")
    write_dataset(d, SyntheticConfig(n_stores=10, seed=5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = load_competition(d)
    cut = full.train["Date"].max() - pd.Timedelta(days=GAP)
    return dataclasses.replace(full, train=full.train[full.train["Date"] <= cut].reset_index(drop=True))


def _sequence_cols(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith(SEQUENCE_PREFIXES) or c.endswith(SEQUENCE_SUFFIXES)]


def test_shape_and_windows_copy_the_test(data):
    shape = period_shape(data.train["Date"], data.test["Date"])
    assert shape == PeriodShape(n_days=48, gap=GAP)
    ws = windows(data.train["Date"], shape, 3)
    last = data.train["Date"].max()
    assert ws[0].end == last and [w.index for w in ws] == [1, 2, 3]
    for w, nxt in zip(ws, ws[1:]):
        assert nxt.end == w.start - pd.Timedelta(days=1)
    for w in ws:
        assert w.n_days == 48
        assert (w.start - w.train_end).days - 1 == GAP


def test_pseudo_test_is_shaped_like_the_test_and_knows_nothing_later(data):
    w = windows(data.train["Date"], period_shape(data.train["Date"], data.test["Date"]), 2)[1]
    pt = pseudo_test(data, w)
    test, labels = pt.data.test, pt.labels
    assert list(test.columns) == TEST_COLUMNS  # no Sales, no Customers
    assert set(test["Store"]) == set(data.test["Store"])
    assert test["Date"].min() == w.start and test["Date"].max() == w.end and test["Date"].nunique() == 48
    assert test["Id"].is_unique and (labels["Id"].to_numpy() == test["Id"].to_numpy()).all()
    assert pt.data.train["Date"].max() == w.train_end
    assert pt.data.external.weather["Date"].max() == w.end
    assert (pt.data.sample_submission["Id"] == test["Id"]).all()
    # Labels are the train rows of those store-days.
    merged = labels.merge(data.train, on=["Store", "Date"], suffixes=("", "_train"))
    assert len(merged) == len(labels) and (merged["Sales"] == merged["Sales_train"]).all()


def test_window_features_equal_the_features_of_the_data_truncated_at_the_window_end(data):
    shape = period_shape(data.train["Date"], data.test["Date"])
    w = windows(data.train["Date"], shape, 2)[1]
    pt = pseudo_test(data, w)
    _, feats = build_features(pt.data, w.start)
    ext = data.external
    truncated = dataclasses.replace(
        data, train=data.train[data.train["Date"] <= w.end],
        external=dataclasses.replace(ext, weather=ext.weather[ext.weather["Date"] <= w.end]))
    _, feats_trunc = build_features(pseudo_test(truncated, w).data, w.start)
    pd.testing.assert_frame_equal(feats, feats_trunc)


def test_train_rows_see_as_much_future_as_test_rows(data):
    """Censoring matches the test's: a train row of the last test-length block gets exactly the
    sequence features it gets as a row of the pseudo-test window over those dates."""
    shape = period_shape(data.train["Date"], data.test["Date"])
    w = windows(data.train["Date"], shape, 1)[0]
    train_feats, _ = build_features(data, w.start)
    _, window_feats = build_features(pseudo_test(data, w).data, w.start)
    cols = _sequence_cols(window_feats)
    assert {"BeforePromo", "Promo_fw", "DaysUntilClosed", "AfterStateHoliday"} <= set(cols)
    block = train_feats[train_feats["Date"] >= w.start]
    got = window_feats[["Store", "Date"] + cols].merge(block[["Store", "Date"] + cols], on=["Store", "Date"],
                                                       suffixes=("", "_train"))
    assert len(got) == len(window_feats)
    for c in cols:
        np.testing.assert_array_equal(got[c].to_numpy(), got[c + "_train"].to_numpy(), err_msg=c)
    # And it is not the uncensored value: the old features saw the days after the block.
    old, _ = build_features(data, w.start, censor=False)
    earlier = (train_feats["Date"] < w.start - pd.Timedelta(days=60)).to_numpy()
    assert (train_feats.loc[earlier, "DaysUntilRefurb"].isna().mean()
            > old.loc[earlier, "DaysUntilRefurb"].isna().mean())


def test_more_windows_than_the_train_holds_is_a_data_error(data):
    shape = period_shape(data.train["Date"], data.test["Date"])
    with pytest.raises(DataError, match=r"FOLDS=\d+ or fewer"):
        windows(data.train["Date"], shape, 40)
    with pytest.raises(DataError, match="FOLDS"):
        windows(data.train["Date"], shape, 0)
    short = pd.Series(pd.date_range("2015-01-01", periods=100))
    with pytest.raises(DataError, match="longer train period"):
        windows(short, PeriodShape(n_days=48, gap=42), 1)


def test_same_season_windows_are_the_tests_dates_a_year_back(data):
    shape = period_shape(data.train["Date"], data.test["Date"])
    test_start, test_end = data.test["Date"].min(), data.test["Date"].max()
    wins, notes = plan(data.train["Date"], data.test["Date"], 2, 3)
    assert [(w.index, w.kind, w.years_back) for w in wins] == [(1, "recent", 0), (2, "recent", 0), (3, "season", 1),
                                                                (4, "season", 2)]
    for w in wins[2:]:
        assert w.start == test_start - pd.Timedelta(days=364 * w.years_back)
        assert w.end == test_end - pd.Timedelta(days=364 * w.years_back)
        assert w.start.day_of_week == test_start.day_of_week  # 52 weeks: the same weekdays
        assert (w.start - w.train_end).days - 1 == shape.gap
        assert w.label == f"season -{w.years_back}y"
    # Three years back lies before the data (which starts in 2013): no window, and a note says why.
    assert len(notes) == 1 and "3 year(s) back" in notes[0]
    assert Window.from_dict(wins[3].to_dict()) == wins[3]


def test_windows_can_be_cut_right_after_their_train_whatever_the_tests_gap(data):
    """WINDOW_GAP=0: the windows a test right after the train would have (Kaggle's full train, the
    held-back weeks), on data whose test.csv lies 42 days after it: the same dates, the train longer."""
    own, _ = plan(data.train["Date"], data.test["Date"], 2, 1)
    right_after, _ = plan(data.train["Date"], data.test["Date"], 2, 1, gap=0)
    assert [(w.start, w.end, w.kind) for w in right_after] == [(w.start, w.end, w.kind) for w in own]
    for w, o in zip(right_after, own):
        assert w.train_end == w.start - pd.Timedelta(days=1)
        assert o.train_end == o.start - pd.Timedelta(days=GAP + 1)
    with pytest.raises(DataError, match="0 days or more") as err:
        plan(data.train["Date"], data.test["Date"], 2, 1, gap=-1)
    assert err.value.column == "WINDOW_GAP"


def test_a_window_gap_is_a_build_of_its_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The tables of windows cut 7 days after their train (the synthetic test lies right after it):
    each window's train ends 8 days before it, its tables and the features print say so, and the
    cache tells the two apart."""
    data_dir = tmp_path / "data"
    write_dataset(data_dir, SyntheticConfig(n_stores=4, seed=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meta = build(data_dir, tmp_path / "b", folds=1, seasons=1, jobs=1, gap=7)
        assert meta["cached"] is False and meta["period_shape"] == {"n_days": 48, "gap": 0}
        for w in meta["windows"]:
            assert (pd.Timestamp(w["start"]) - pd.Timestamp(w["train_end"])).days == 8
            d = window_dir(tmp_path / "b", f"w{w['index']}")
            assert json.loads((d / "meta.json").read_text())["period_shape"] == {"n_days": 48, "gap": 7}
            assert str(pd.read_parquet(d / "train.parquet")["Date"].max().date()) == w["train_end"]
        assert build(data_dir, tmp_path / "b", folds=1, seasons=1, jobs=1, gap=7)["cached"] is True
        capsys.readouterr()
        assert features_main(["--data-dir", str(data_dir), "--build-dir", str(tmp_path / "b"), "--folds", "1",
                              "--seasons", "1", "--jobs", "1", "--gap", "7"]) == 0
        assert "each 48 days, 7 days after its train; the test: 0 days)" in capsys.readouterr().out
        assert build(data_dir, tmp_path / "b", folds=1, seasons=1, jobs=1)["cached"] is False


def test_a_same_season_window_leaves_out_stores_without_rows(data):
    """As 180 real stores have no rows in 2014-07..12: their test stores are left out of such a window."""
    wins, _ = plan(data.train["Date"], data.test["Date"], 1, 1)
    season = wins[1]
    before = pseudo_test(data, season).missing_stores  # the synthetic data's own store gaps
    stores = np.setdiff1d(np.unique(data.test["Store"]), before)
    gone = stores[:2]
    inside = data.train["Date"].between(season.start - pd.Timedelta(days=20), season.end).to_numpy()
    holed = dataclasses.replace(data, train=data.train[~(inside & data.train["Store"].isin(gone).to_numpy())])
    pt = pseudo_test(holed, season)
    assert pt.missing_stores == sorted(before + gone.tolist())
    assert not pt.labels["Store"].isin(gone).any() and pt.labels["Store"].nunique() == len(stores) - 2
    assert pseudo_test(holed, wins[0]).missing_stores == pseudo_test(data, wins[0]).missing_stores


def test_estimate_weighs_the_recent_and_the_same_season_windows_half_each(data):
    wins, _ = plan(data.train["Date"], data.test["Date"], 2, 1)
    assert window_weights(wins) == {"w1": 0.25, "w2": 0.25, "w3": 0.5}
    est = estimate({"w1": 0.10, "w2": 0.12, "w3": 0.14}, wins)
    assert est.value == pytest.approx(0.25 * 0.10 + 0.25 * 0.12 + 0.5 * 0.14)
    sd = np.sqrt(0.25 * (0.10 - est.value) ** 2 + 0.25 * (0.12 - est.value) ** 2 + 0.5 * (0.14 - est.value) ** 2)
    assert (est.low, est.high) == pytest.approx((est.value - sd, est.value + sd))
    # Without a same-season window, the recent ones carry all the weight.
    assert estimate({"w1": 0.10, "w2": 0.12}, wins[:2]).value == pytest.approx(0.11)


def test_features_cli_builds_windows(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    write_dataset(data_dir, SyntheticConfig(n_stores=6, seed=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meta = build(data_dir, tmp_path / "b", folds=2, seasons=1, jobs=2)
    assert [(w["index"], w["kind"]) for w in meta["windows"]] == [(1, "recent"), (2, "recent"), (3, "season")]
    n_test_stores = pd.read_parquet(tmp_path / "b" / "features" / "test.parquet")["Store"].nunique()
    for w in meta["windows"]:
        labels = pd.read_parquet(window_dir(tmp_path / "b", f"w{w['index']}") / "labels.parquet")
        assert w["n_stores"] == labels["Store"].nunique() and w["n_stores"] + w["missing_stores"] == n_test_stores
    assert meta["period_shape"] == {"n_days": 48, "gap": 0}
    for w in meta["windows"]:
        d = window_dir(tmp_path / "b", f"w{w['index']}")
        test = pd.read_parquet(d / "test.parquet")
        labels = pd.read_parquet(d / "labels.parquet")
        train = pd.read_parquet(d / "train.parquet")
        assert (test["Id"].to_numpy() == labels["Id"].to_numpy()).all()
        assert str(test["Date"].min().date()) == w["start"] and str(train["Date"].max().date()) == w["train_end"]
        assert "Sales" not in test.columns
