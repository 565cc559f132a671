"""The grid helpers the feature families are built on: one block of new columns at once
(``with_columns``), day numbers, the dense store x day grid of sequence features
(``StoreDayGrid``: distances to events, unknown across data gaps) and day-window sums over it
(``WindowSums``).

Per-store sequence features use a dense ``store x day`` grid (1,115 x 990 cells on Kaggle's data)
instead of fast.ai's per-row Python loops: per-date and per-store quantities are computed once on
the small table and gathered with integer indexing.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def with_columns(df: pd.DataFrame, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """``df.assign(**columns)`` in one block: assigning dozens of columns one by one fragments
    the frame (pandas warns and every later copy slows down)."""
    return pd.concat([df.drop(columns=[c for c in columns if c in df.columns]),
                      pd.DataFrame(columns, index=df.index)], axis=1)


def day_number(dates: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 as int64, independent of the datetime unit (ns in pandas 2, us in 3)."""
    return dates.to_numpy().astype("datetime64[D]").astype(np.int64)


class StoreDayGrid:
    """Dense store x calendar-day grid for per-store sequence features over calendar days.

    Row ``i`` of the frame sits in cell ``(store_row[i], day_col[i])``; ``observed`` marks the
    cells that have a row (the rest are data gaps).
    """

    def __init__(self, df: pd.DataFrame) -> None:
        store = df["Store"].to_numpy().astype(np.int64)
        day = day_number(df["Date"])
        first_store, first_day = int(store.min()), int(day.min())
        self.first_day = first_day
        self.n_store = int(store.max()) - first_store + 1
        self.n_day = int(day.max()) - first_day + 1
        self.store_row = store - first_store
        self.day_col = day - first_day
        # Flat cell index: one 1-d take/put is several times faster than 2-d fancy indexing.
        self.cell = self.store_row * self.n_day + self.day_col
        self.observed = self.scatter(np.ones(len(df), dtype=bool), False)
        self._unobserved_distance: dict[tuple[bool, bool], np.ndarray] = {}

    def scatter(self, values: np.ndarray, fill: object) -> np.ndarray:
        """A grid holding each row's value in its cell and ``fill`` elsewhere."""
        g = np.full((self.n_store, self.n_day), fill, dtype=np.asarray(values).dtype)
        g.reshape(-1)[self.cell] = values
        return g

    def weekday(self) -> np.ndarray:
        """Each grid column's weekday, Monday = 0 (day 0, 1970-01-01, was a Thursday)."""
        return (self.first_day + np.arange(self.n_day) + 3) % 7

    def gather(self, grid: np.ndarray) -> np.ndarray:
        """Each row's cell of ``grid``."""
        return np.ascontiguousarray(grid).reshape(-1)[self.cell]

    def distance(self, event: np.ndarray, forward: bool, horizon: int, skip_self: bool) -> np.ndarray:
        """Distance to the next (``forward``) or previous event within ``horizon`` days, strictly
        after (before) the day itself with ``skip_self``.

        NaN where the answer is unknown because an unobserved day (a data gap, such as the six
        held-back weeks before the test period or a store's missing 2014 half-year) comes first;
        ``horizon`` where no event occurs within the horizon. The distances to the nearest
        unobserved day, the same for every event, are computed once per direction.
        """
        key = (forward, skip_self)
        if key not in self._unobserved_distance:
            self._unobserved_distance[key] = _unobserved_distance(self.observed, forward, skip_self)
        return _bounded(_event_distance(event, forward, skip_self), self._unobserved_distance[key], horizon)


def dist_next(mask: np.ndarray) -> np.ndarray:
    """Per grid row, days from each cell to the next True cell at or after it (large if none)."""
    n = mask.shape[1]
    idx = np.where(mask, np.arange(n), n + 10**6)
    nxt = np.minimum.accumulate(idx[:, ::-1], axis=1)[:, ::-1]
    return nxt - np.arange(n)


def dist_prev(mask: np.ndarray) -> np.ndarray:
    """Per grid row, days from the previous True cell at or before each cell (large if none)."""
    n = mask.shape[1]
    idx = np.where(mask, np.arange(n), -(10**6))
    prv = np.maximum.accumulate(idx, axis=1)
    return np.arange(n) - prv


def _shift(grid: np.ndarray, forward: bool, fill: bool) -> np.ndarray:
    """Each cell takes its next (forward) or previous day's value; the edge gets ``fill``."""
    shift = 1 if forward else -1
    out = np.roll(grid, -shift, axis=1)
    out[(slice(None), -1) if forward else (slice(None), 0)] = fill
    return out


def _event_distance(event: np.ndarray, forward: bool, skip_self: bool) -> np.ndarray:
    dist_fn = dist_next if forward else dist_prev
    if skip_self:  # distance to a strictly later (earlier) day
        return dist_fn(_shift(event, forward, False)) + 1
    return dist_fn(event)


def _unobserved_distance(observed: np.ndarray, forward: bool, skip_self: bool) -> np.ndarray:
    dist_fn = dist_next if forward else dist_prev
    if skip_self:
        return dist_fn(_shift(~observed, forward, True)) + 1
    col = np.arange(observed.shape[1])
    # The days beyond the grid's edge are unobserved too.
    return np.minimum(dist_fn(~observed), observed.shape[1] - col if forward else col + 1)


def _bounded(d_ev: np.ndarray, d_unobs: np.ndarray, horizon: int) -> np.ndarray:
    out = np.minimum(d_ev, horizon).astype(np.float32)
    out[(d_unobs < d_ev) & (d_unobs <= horizon)] = np.nan
    return out


class WindowSums:
    """Per cell, sums of a grid over day windows ``[d+start, d+stop)``, NaN where a window touches
    an unobserved day: one cumulative sum per grid, any number of windows read from it."""

    def __init__(self, observed: np.ndarray, reach: int) -> None:
        self.pad = reach + 1
        self.n = observed.shape[1]
        self._unobserved = self._cumulative(~observed, fill=1)

    def _cumulative(self, grid: np.ndarray, fill: int = 0) -> np.ndarray:
        g = np.pad(grid.astype(np.int32), ((0, 0), (self.pad, self.pad)), constant_values=fill)
        return np.concatenate([np.zeros((g.shape[0], 1), np.int32), np.cumsum(g, axis=1)], axis=1)

    def of(self, grid: np.ndarray) -> np.ndarray:
        """The cumulative sum of ``grid`` that :meth:`count` reads."""
        return self._cumulative(grid)

    def count(self, cumulative: np.ndarray, start: int, stop: int, cols: np.ndarray | None = None) -> np.ndarray:
        """Sums over ``[d+start, d+stop)`` for the days ``cols`` (default all), as float32."""
        d = np.arange(self.n) if cols is None else cols
        lo, hi = d + self.pad + start, d + self.pad + stop
        cnt = (cumulative[:, hi] - cumulative[:, lo]).astype(np.float32)
        cnt[(self._unobserved[:, hi] - self._unobserved[:, lo]) > 0] = np.nan
        return cnt
