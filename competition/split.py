"""The one time-based validation split every model uses.

The test period lies after the train period, so validation must too: it is the last N calendar
days of train, where N is the number of distinct test dates (48 for Kaggle's test, 42 for a
six-week one), the same block the pseudo-test windows are cut in. A random split would leak the
future and flatter every model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from competition.pseudo_test import period_block


@dataclass(frozen=True)
class Split:
    valid_start: pd.Timestamp
    valid_end: pd.Timestamp
    n_days: int

    def is_valid(self, dates: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
        """True for dates inside the validation window."""
        d = pd.to_datetime(pd.Series(np.asarray(dates)))
        return ((d >= self.valid_start) & (d <= self.valid_end)).to_numpy()

    def is_train(self, dates: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
        """True for dates strictly before the validation window."""
        d = pd.to_datetime(pd.Series(np.asarray(dates)))
        return (d < self.valid_start).to_numpy()

    def to_dict(self) -> dict[str, str | int]:
        return {"valid_start": self.valid_start.date().isoformat(),
                "valid_end": self.valid_end.date().isoformat(), "n_days": self.n_days}


def validation_split(train_dates: pd.Series | np.ndarray, test_dates: pd.Series | np.ndarray | int) -> Split:
    """Validation = the last test-length block of train (``competition.pseudo_test.period_block``):
    N calendar days ending on the last train date, N = the number of distinct test dates (or an int)."""
    dates = pd.to_datetime(pd.Series(np.asarray(train_dates)))
    n = int(test_dates) if isinstance(test_dates, (int, np.integer)) else \
        int(pd.Series(np.asarray(test_dates)).nunique())
    if n <= 0:
        raise ValueError(f"validation_split: need at least one validation date, got N={n}")
    first, last = pd.Timestamp(dates.min()), pd.Timestamp(dates.max())
    start, end = period_block(last, n)
    if start <= first:
        raise ValueError(f"validation_split: N={n} validation days leave nothing to train on "
                         f"(train runs {first.date()}..{last.date()})")
    return Split(start, end, n)
