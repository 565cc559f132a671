"""Compose the feature families over train and test together (fast.ai's ``rossman_data_clean``)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from competition.pseudo_test import PeriodShape, block_start_days, period_shape
from core.errors import DataError
from features import families as fam
from features.grid import day_number, with_columns
from features.registry import DEFAULT_FAMILIES, FamilySpec

_TRAIN_COLS = ["Store", "DayOfWeek", "Date", "Sales", "Customers", "Open", "Promo",
               "StateHoliday", "SchoolHoliday"]
_TEST_COLS = ["Id", "Store", "DayOfWeek", "Date", "Open", "Promo", "StateHoliday",
              "SchoolHoliday"]


def combine(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Train rows (in (Store, Date) order) then test rows (in Id order), with a ``_test`` marker.

    Both parts are contiguous so that ``split`` is two zero-copy slices; families that need the
    per-store date order sort internally. Sales/Customers are float with NaN on test rows; Id is
    -1 on train rows; StateHoliday is categorical. One row per (Store, Date) is required.
    """
    tr = train[_TRAIN_COLS]
    te = test[_TEST_COLS]
    tr_key = tr["Store"].to_numpy().astype(np.int64) * 100_000 + day_number(tr["Date"])
    tr_order = np.argsort(tr_key, kind="stable")
    te_order = np.argsort(te["Id"].to_numpy(), kind="stable")
    n_tr, n_te = len(tr), len(te)

    def cat(col: str, dtype: Any) -> np.ndarray:
        return np.concatenate([tr[col].to_numpy()[tr_order], te[col].to_numpy()[te_order]]).astype(dtype)

    sh_codes = np.concatenate([tr["StateHoliday"].astype("str").to_numpy(object)[tr_order],
                               te["StateHoliday"].astype("str").to_numpy(object)[te_order]])
    sh_cat = pd.Categorical(sh_codes)
    df = pd.DataFrame({
        "Store": cat("Store", np.int32),
        "DayOfWeek": cat("DayOfWeek", np.int8),
        "Date": np.concatenate([tr["Date"].to_numpy().astype("datetime64[us]")[tr_order],
                                te["Date"].to_numpy().astype("datetime64[us]")[te_order]]),
        "Sales": np.concatenate([tr["Sales"].to_numpy(np.float64)[tr_order], np.full(n_te, np.nan)]),
        "Customers": np.concatenate([tr["Customers"].to_numpy(np.float64)[tr_order],
                                     np.full(n_te, np.nan)]),
        "Open": cat("Open", np.int8),
        "Promo": cat("Promo", np.int8),
        "StateHoliday": sh_cat,
        "SchoolHoliday": cat("SchoolHoliday", np.int8),
        "Id": np.concatenate([np.full(n_tr, -1), te["Id"].to_numpy()[te_order]]).astype(np.int64),
        "_test": np.r_[np.zeros(n_tr, bool), np.ones(n_te, bool)],
    })
    # Duplicate (Store, Date) check in O(n) on the dense grid's flat index.
    store = df["Store"].to_numpy().astype(np.int64)
    day = day_number(df["Date"])
    flat = (store - store.min()) * (day.max() - day.min() + 1) + (day - day.min())
    counts = np.bincount(flat)
    if counts.size and counts.max() > 1:
        i = int(np.flatnonzero(counts[flat] > 1)[0])
        raise DataError(f"store {store[i]} has more than one row for {df['Date'].iat[i].date()} "
                        "in train.csv + test.csv", column="Date",
                        fix="keep one row per store and date (train and test must not overlap)")
    return df


# Sequence families read a store's days before and after each row: who computes them decides what
# "unknown" means. They only read these columns, which test.csv has too.
SEQUENCE_INPUTS = ["Store", "Date", "Open", "Promo", "StateHoliday", "SchoolHoliday"]
# Days of history fast.ai's durations (days since the last state holiday, unbounded) see before
# the gap: a year, as a state holiday comes at least once a year. The registry's sequence families
# see their longest horizon plus one (``FamilySpec.lookback_days``): the values are the same as
# with a year's history, and each block costs a third as much.
SEQUENCE_LOOKBACK_DAYS = 366


def block_starts(df: pd.DataFrame, shape: PeriodShape) -> np.ndarray:
    """Each row's block start as a day number: the test start for test rows, the start of its
    test-length block (``competition.pseudo_test.period_block``, the last ending on the last
    train date; the first may be shorter) for train rows. ``censored`` runs the sequence
    families block by block; a family may also end each row's history before its block's gap."""
    is_test = df["_test"].to_numpy()
    day = day_number(df["Date"])
    out = np.full(len(df), int(day[is_test].min()) if is_test.any() else int(day.max()) + shape.gap + 1)
    train_day = day[~is_test]
    if len(train_day):
        first, last = int(train_day.min()), int(train_day.max())
        out[~is_test] = np.maximum(first, block_start_days(train_day, last, shape.n_days))
    return out


def censored(df: pd.DataFrame, family: Callable[[pd.DataFrame], pd.DataFrame], shape: PeriodShape,
             lookback_days: int = SEQUENCE_LOOKBACK_DAYS) -> pd.DataFrame:
    """Run a sequence family so that every row sees exactly as much of the calendar as a test row.

    A test row knows the test's own days up to its last date, nothing after it, then a gap of
    ``shape.gap`` unknown days before it, then the history. So the train dates are cut into
    test-length blocks ending on the last train date, and the rows of each block get the
    family's values computed from that block's days and the history before its gap only. Test
    rows get theirs from the test period and the history before the real gap. A forward-looking
    value that runs off the end of the data (``DaysUntilClosed`` near the test's end, say) is
    then NaN or 0 on training rows exactly as often, and at the same positions, as on test rows.
    """
    is_test = df["_test"].to_numpy()
    day = day_number(df["Date"])
    base = df[SEQUENCE_INPUTS]
    lookback = lookback_days + shape.gap
    # Test rows first: (rows whose values are kept, rows the family sees).
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    starts = block_starts(df, shape)
    if is_test.any():
        parts.append((is_test, day >= int(starts[is_test][0]) - lookback))
    for s in np.unique(starts[~is_test]):
        target = ~is_test & (starts == s)
        history = ~is_test & (day < s - shape.gap) & (day >= s - lookback)
        parts.append((target, target | history))
    new: dict[str, np.ndarray] = {}
    for target, visible in parts:
        # Integer positions: each column's values are scattered once per block, not masked in full.
        seen = np.flatnonzero(visible)
        rows, kept = np.flatnonzero(target), np.flatnonzero(target[seen])
        out = family(base.take(seen))
        for col in out.columns.difference(base.columns, sort=False):
            values = out[col].to_numpy()
            if col not in new:
                new[col] = np.zeros(len(df), dtype=values.dtype)
            new[col][rows] = values[kept]
    return with_columns(df, new)


def build_features(data: Any, valid_start: Any, *, families: Sequence[FamilySpec] = DEFAULT_FAMILIES,
                   censor: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All feature families over train + test. Returns (train_df, test_df).

    ``data`` is a ``competition.data.CompetitionData``. Train keeps every row (closed days too,
    marked by ``Closed``), in (Store, Date) order, with Sales, Customers, Open; test keeps
    ``Id`` and its Id order. Per-store history uses only data strictly before ``valid_start``
    for train rows and before the test start for test rows. ``families`` are the families
    beyond fast.ai's, built in their order (default: ``features.registry.DEFAULT_FAMILIES``;
    the ablation adds the candidates); fast.ai's are always built. A family that does not add
    the columns its spec lists raises ``ValueError``.

    The sequence families (fast.ai's After/Before/_fw/_bw, closures, holiday counts) go through
    ``censored``, so a train row sees as much future as a test row in the same place of the
    test period. ``censor=False`` computes them over the whole table instead (the old way, where
    validation rows see the days after them; kept to measure what that costs).
    """
    valid_start = pd.Timestamp(valid_start)
    test_start = pd.Timestamp(data.test["Date"].min())
    ext = data.external
    names = [f.name for f in families]
    if len(set(names)) != len(names):
        raise ValueError(f"feature families must be named once each, got {names}")

    df = combine(data.train, data.test)
    df = fam.add_store(df, data.store, ext.store_states if ext is not None else None)
    df = fam.state_holiday_bool(df)
    df = fam.date_parts(df)
    if ext is not None:
        df = fam.google_trend(df, ext.googletrend)
        df = fam.weather(df, ext.weather, ext.state_names)
    else:
        fam.warn_no_external(getattr(data, "data_dir", "the data directory"))
    df = fam.competition_open(df)
    df = fam.promo2(df)
    shape = period_shape(data.train["Date"], data.test["Date"])
    # fast.ai's durations read a year back: censored in one pass rather than block by block.
    df = fam.event_durations(df, block_start=block_starts(df, shape), gap=shape.gap,
                             lookback=SEQUENCE_LOOKBACK_DAYS) if censor else fam.event_durations(df)
    for spec in families:
        if censor and spec.sequence:
            df = censored(df, lambda d, fn=spec.build: fn(d, valid_start, test_start, shape), shape,
                          spec.lookback_days)
        else:
            df = spec.build(df, valid_start, test_start, shape)
        missing = [c for c in spec.columns if c not in df.columns]
        if missing:
            raise ValueError(f"feature family {spec.name!r} did not add the columns its FamilySpec lists: {missing}")
    return split(df)


def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Back to the train table ((Store, Date) order) and the test table (Id order).

    ``combine`` put the parts in that order and contiguous, so these are slices, not gathers.
    """
    is_test = df["_test"].to_numpy()
    n_tr = int((~is_test).sum())
    if is_test[:n_tr].any():
        raise ValueError("split: train and test rows are interleaved (a family reordered rows)")
    tr = df.iloc[:n_tr].drop(columns=["_test", "Id"])
    tr = tr.assign(Sales=tr["Sales"].to_numpy().astype(np.int32),
                   Customers=tr["Customers"].to_numpy().astype(np.int32),
                   Closed=(tr["Open"].to_numpy() == 0))
    te = df.iloc[n_tr:].drop(columns=["_test", "Sales", "Customers"]).reset_index(drop=True)
    te = te.assign(Id=te["Id"].to_numpy().astype(np.int32))
    return tr, te
