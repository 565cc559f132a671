"""A planted trap: sales that depend on a future the test cannot see must not flatter validation.

The data: stores close for refurbishment every few weeks, and sell much more in the days before a
closure (a clearance sale). ``DaysUntilRefurb`` (how far the next closure is) predicts that, but
only where the closure is known. Near the end of the test nothing later is known, so the boost
there cannot be predicted. The old validation (the last train weeks, with features computed over
the whole table) sees the test period's closures and reports a score the test never reaches; a
pseudo-test window, built and censored like the test, reports what the test really scores.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from competition.data import CompetitionData
from competition.metric import rmspe
from competition.pseudo_test import period_shape, pseudo_test, windows
from features.pipeline import build_features
from models.common import fit_frame
from models.lgbm import LGBMRecipe

N_STORES, N_TRAIN, N_TEST = 40, 560, 48
BOOST = 1.8  # sales multiplier in the CLEARANCE days before a refurbishment
CLEARANCE = 10


def _trap_data(seed: int = 0) -> tuple[CompetitionData, pd.DataFrame]:
    """Competition data with the clearance effect, and the test period's true Sales."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2013-01-07", periods=N_TRAIN + N_TEST + 60)  # +60: closures after the test
    n_days = len(dates)
    rows = []
    for s in range(1, N_STORES + 1):
        closed = np.zeros(n_days, bool)
        boost = np.ones(n_days)
        day = int(rng.integers(10, 40))
        while day < n_days:
            length = int(rng.integers(3, 8))
            closed[day:day + length] = True
            boost[max(0, day - CLEARANCE):day] = BOOST
            day += length + int(rng.integers(25, 45))
        closed |= dates.day_of_week.to_numpy() == 6
        level = rng.uniform(4000, 9000)
        sales = level * boost * np.array([1.1, 1.0, 1.0, 1.0, 1.05, 0.9, 0.0])[dates.day_of_week] \
            * rng.lognormal(0, 0.05, n_days)
        rows.append(pd.DataFrame({"Store": s, "Date": dates, "Open": (~closed).astype("int8"),
                                  "Sales": np.where(closed, 0, np.round(sales)).astype("int32")}))
    df = pd.concat(rows, ignore_index=True)
    df = df.assign(DayOfWeek=(df["Date"].dt.day_of_week + 1).astype("int8"), Customers=(df["Sales"] // 10),
                   Promo=np.int8(0), StateHoliday="0", SchoolHoliday=np.int8(0))
    train_end = dates[N_TRAIN - 1]
    test_end = dates[N_TRAIN + N_TEST - 1]
    train = df[df["Date"] <= train_end].reset_index(drop=True)
    test = df[(df["Date"] > train_end) & (df["Date"] <= test_end)].reset_index(drop=True)
    test.insert(0, "Id", np.arange(1, len(test) + 1, dtype="int32"))
    store = pd.DataFrame({"Store": np.arange(1, N_STORES + 1, dtype="int32"), "StoreType": "a", "Assortment": "a",
                          "CompetitionDistance": 1000.0, "CompetitionOpenSinceMonth": np.nan,
                          "CompetitionOpenSinceYear": np.nan, "Promo2": np.int8(0), "Promo2SinceWeek": np.nan,
                          "Promo2SinceYear": np.nan, "PromoInterval": ""})
    truth = test[["Id", "Sales"]]
    data = CompetitionData(train=train, test=test.drop(columns=["Sales", "Customers"]), store=store,
                           sample_submission=truth.assign(Sales=0), external=None, source="synthetic",
                           data_dir="trap")
    return data, truth


def _recipe() -> LGBMRecipe:
    return LGBMRecipe({"learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 20, "verbosity": -1},
                      seed=0, num_boost_round=150, num_threads=1)


def _features(data: CompetitionData, censor: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no external tables
        return build_features(data, data.train["Date"].max() - pd.Timedelta(days=N_TEST - 1), censor=censor)


def _score(labels: pd.DataFrame, test: pd.DataFrame, pred: np.ndarray) -> float:
    y = labels.set_index("Id").loc[test["Id"].to_numpy(), "Sales"].to_numpy()
    return rmspe(y, np.where(test["Open"].to_numpy() == 0, 0, pred))


def _three_scores(seed: int) -> tuple[float, float, float]:
    """(old validation, pseudo-test, real test) RMSPE of the LightGBM recipe on the trap of ``seed``."""
    data, truth = _trap_data(seed)

    # The old validation: features over the whole table, train before the last N_TEST days, score them.
    tr, _ = _features(data, censor=False)
    valid_start = tr["Date"].max() - pd.Timedelta(days=N_TEST - 1)
    fit, valid = tr[tr["Date"] < valid_start], fit_frame(tr[tr["Date"] >= valid_start])
    pred, _ = _recipe()(fit, valid, {})
    old_validation = rmspe(valid["Sales"].to_numpy(), pred)

    # The new one: a pseudo-test window shaped like the test.
    w = windows(data.train["Date"], period_shape(data.train["Date"], data.test["Date"]), 1)[0]
    pt = pseudo_test(data, w)
    wtr, wte = _features(pt.data)
    pred, _ = _recipe()(wtr, wte, {})
    pseudo = _score(pt.labels, wte, pred)

    # The truth: the model that would be submitted, on the real test.
    tr, te = _features(data)
    pred, _ = _recipe()(tr, te, {})
    real = _score(truth, te, pred)
    return old_validation, pseudo, real


@pytest.mark.slow
def test_pseudo_test_catches_what_the_old_validation_missed() -> None:
    scores = {seed: _three_scores(seed) for seed in (0, 1, 2)}
    for old_validation, pseudo, real in scores.values():
        assert old_validation < real - 0.02, scores
        assert pseudo > old_validation + 0.02, scores
    # One window of 40 stores is noisy: pseudo minus real ranged from -0.018 to +0.007 over seeds
    # 0..5 (LightGBM with the ordered categories as numbers, and as categories alike). Measured,
    # seeds 0/1/2: old validation 0.0573/0.0634/0.0598, pseudo-test 0.0944/0.1091/0.1114, real
    # test 0.1125/0.1098/0.1086. The old validation is too optimistic by about 0.05 on every seed;
    # the pseudo-test's mean is within 0.006 of the real test's.
    pseudo_mean = np.mean([p for _, p, _ in scores.values()])
    real_mean = np.mean([r for _, _, r in scores.values()])
    assert pseudo_mean == pytest.approx(real_mean, abs=0.01), scores


def test_the_trap_feature_is_unknown_at_the_tests_end() -> None:
    data, _ = _trap_data()
    _, te = _features(data)
    last = te["Date"] == te["Date"].max()
    first = te["Date"] == te["Date"].min()
    assert te.loc[last, "DaysUntilRefurb"].isna().mean() > 0.9
    assert te.loc[first, "DaysUntilRefurb"].notna().mean() > 0.5
