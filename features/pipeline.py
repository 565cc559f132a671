"""Compose the feature families over train and test together (fast.ai's ``rossman_data_clean``)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features import families as fam

_TRAIN_COLS = ["Store", "DayOfWeek", "Date", "Sales", "Customers", "Open", "Promo",
               "StateHoliday", "SchoolHoliday"]
_TEST_COLS = ["Id", "Store", "DayOfWeek", "Date", "Open", "Promo", "StateHoliday",
              "SchoolHoliday"]


def combine(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Train and test in one frame sorted by (Store, Date), with a ``_test`` marker.

    Sales/Customers are float with NaN on test rows; Id is NaN on train rows. One row per
    (Store, Date) is required: the sequence features are defined per store in date order.
    """
    tr = train[_TRAIN_COLS]
    te = test[_TEST_COLS]
    n_tr, n_te = len(tr), len(te)
    df = pd.DataFrame({
        "Store": np.concatenate([tr["Store"].to_numpy(), te["Store"].to_numpy()]).astype(np.int32),
        "DayOfWeek": np.concatenate([tr["DayOfWeek"].to_numpy(), te["DayOfWeek"].to_numpy()]).astype(np.int8),
        "Date": np.concatenate([tr["Date"].to_numpy().astype("datetime64[us]"),
                                te["Date"].to_numpy().astype("datetime64[us]")]),
        "Sales": np.concatenate([tr["Sales"].to_numpy(np.float64), np.full(n_te, np.nan)]),
        "Customers": np.concatenate([tr["Customers"].to_numpy(np.float64), np.full(n_te, np.nan)]),
        "Open": np.concatenate([tr["Open"].to_numpy(), te["Open"].to_numpy()]).astype(np.int8),
        "Promo": np.concatenate([tr["Promo"].to_numpy(), te["Promo"].to_numpy()]).astype(np.int8),
        "StateHoliday": np.concatenate([tr["StateHoliday"].astype("str").to_numpy(object),
                                        te["StateHoliday"].astype("str").to_numpy(object)]),
        "SchoolHoliday": np.concatenate([tr["SchoolHoliday"].to_numpy(),
                                         te["SchoolHoliday"].to_numpy()]).astype(np.int8),
        "Id": np.concatenate([np.full(n_tr, -1), te["Id"].to_numpy()]).astype(np.int64),
        "_test": np.r_[np.zeros(n_tr, bool), np.ones(n_te, bool)],
    })
    day = fam.day_number(df["Date"])
    key = df["Store"].to_numpy().astype(np.int64) * 100_000 + day
    order = np.argsort(key, kind="stable")
    k = key[order]
    if len(k) > 1 and not bool(np.all(k[1:] != k[:-1])):
        dup = order[np.flatnonzero(k[1:] == k[:-1])[0]]
        raise ValueError(f"duplicate (Store, Date) in train + test: store "
                         f"{df['Store'].iat[dup]}, {df['Date'].iat[dup].date()}")
    return df.take(order).reset_index(drop=True)


def build_features(data: Any, valid_start: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All feature families over train + test. Returns (train_df, test_df).

    ``data`` is a ``competition.data.CompetitionData``. Train keeps every row (closed days too,
    marked by ``Closed``), in (Store, Date) order with Sales, Customers, Open; test keeps ``Id`` and its original order.
    Per-store history uses only data strictly before ``valid_start`` for train rows and before
    the test start for test rows.
    """
    valid_start = pd.Timestamp(valid_start)
    test_start = pd.Timestamp(data.test["Date"].min())
    ext = data.external

    df = combine(data.train, data.test)
    df = fam.add_store(df, data.store, ext.store_states if ext is not None else None)
    df = fam.state_holiday_bool(df)
    df = fam.date_parts(df)
    if ext is not None:
        df = fam.google_trend(df, ext.googletrend)
        df = fam.weather(df, ext.weather, ext.state_names)
    else:
        fam.warn_no_external(getattr(data, "data_dir", "the data directory"))
    df = fam.competition(df)
    df = fam.promo2(df)
    df = fam.events(df)
    df = fam.promo2_month(df)
    df = fam.history(df, valid_start, test_start)
    df = fam.closures(df)
    df = fam.holiday_counts(df)
    return split(df)


def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Back to a train table (in (Store, Date) order) and a test table (in Id order).

    One positional take per table: gathering ~100 columns of 1M rows is the most expensive
    step of the build, so the train rows keep the pipeline's order (a sequential copy) rather
    than being re-sorted.
    """
    is_test = df["_test"].to_numpy()
    train_pos = np.flatnonzero(~is_test)
    test_pos = np.flatnonzero(is_test)
    test_pos = test_pos[np.argsort(df["Id"].to_numpy()[test_pos], kind="stable")]
    tr = df.drop(columns=["_test", "Id"]).take(train_pos).reset_index(drop=True)
    tr = tr.assign(Sales=tr["Sales"].to_numpy().astype(np.int32),
                   Customers=tr["Customers"].to_numpy().astype(np.int32),
                   Closed=(tr["Open"].to_numpy() == 0))
    te = df.drop(columns=["_test", "Sales", "Customers"]).take(test_pos).reset_index(drop=True)
    te = te.assign(Id=te["Id"].to_numpy().astype(np.int32))
    return tr, te
