"""RMSPE against hand-computed values, and the time split."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from competition.metric import one_off_rows, rmspe
from competition.pseudo_test import PeriodShape, block_start_days, period_block, windows
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


def test_one_off_rows_sold_below_a_third_of_the_usual() -> None:
    # 299 * 3 < 900 is one-off; 300 * 3 = 900 is not; a closed day (0) is not scored, so not flagged
    sales, usual = [299, 300, 0, 1000], [900, 900, 900, 1000]
    assert one_off_rows(sales, usual).tolist() == [True, False, False, False]
    assert one_off_rows(sales, usual, ratio=4).tolist() == [False, False, False, False]
    with pytest.raises(ValueError, match="one usual value per row"):
        one_off_rows([1, 2], [1])
    with pytest.raises(ValueError, match="above 1"):
        one_off_rows([1], [1], ratio=1)


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


def test_validation_is_the_last_test_length_block_in_calendar_days() -> None:
    """A date missing from train does not stretch the validation stretch: it is the same block of
    calendar days as the first pseudo-test window and the censoring blocks."""
    dates = pd.Series(pd.date_range("2015-01-01", "2015-03-31"))
    holed = dates[dates != pd.Timestamp("2015-03-25")]
    split = validation_split(holed, 10)
    assert (split.valid_start, split.valid_end) == (pd.Timestamp("2015-03-22"), pd.Timestamp("2015-03-31"))
    w1 = windows(holed, PeriodShape(n_days=10, gap=0), folds=1)[0]
    assert (w1.start, w1.end) == period_block(pd.Timestamp("2015-03-31"), 10) == (split.valid_start, split.valid_end)
    days = np.arange(0, 30)
    assert block_start_days(days, 29, 10).tolist() == [0] * 10 + [10] * 10 + [20] * 10
