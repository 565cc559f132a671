"""RMSPE against hand-computed values, and the time split."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from competition.metric import rmspe
from competition.split import validation_split


def test_rmspe_hand_computed() -> None:
    # errors: (100-110)/100 = -0.1, (200-150)/200 = 0.25; the zero-sales day is ignored
    y, p = [100, 200, 0], [110, 150, 999]
    assert rmspe(y, p) == pytest.approx(math.sqrt((0.1**2 + 0.25**2) / 2))


def test_rmspe_perfect_and_errors() -> None:
    assert rmspe([5, 7], [5, 7]) == 0.0
    with pytest.raises(ValueError, match="every y_true is 0"):
        rmspe([0, 0], [1, 2])
    with pytest.raises(ValueError, match="shape"):
        rmspe([1, 2], [1])


def test_validation_split_last_n_dates_no_overlap() -> None:
    train_dates = pd.Series(pd.date_range("2015-01-01", "2015-03-31").repeat(3))
    test_dates = pd.Series(pd.date_range("2015-04-01", periods=10).repeat(2))
    split = validation_split(train_dates, test_dates)
    assert split.n_days == 10
    assert split.valid_start == pd.Timestamp("2015-03-22") and split.valid_end == pd.Timestamp("2015-03-31")
    valid, train = split.is_valid(train_dates), split.is_train(train_dates)
    assert not (valid & train).any() and (valid | train).all()
    assert set(train_dates[valid].dt.date.astype(str)).isdisjoint(set(train_dates[train].dt.date.astype(str)))
    assert validation_split(train_dates, 42).valid_start == pd.Timestamp("2015-02-18")
    with pytest.raises(ValueError, match="nothing to train"):
        validation_split(train_dates, 90)
