"""A straight, slow port of fast.ai's ``rossman_data_clean`` notebook, for a few stores.

It keeps the notebook's per-row loops and merges (with the pandas-3 fixes the notebook needs:
``.dt.isocalendar().week``, ``pd.concat`` for ``append``, seconds from datetime64[s]). The tests
compare the vectorised pipeline against it column by column.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd


def add_datepart(df: pd.DataFrame, fldname: str = "Date") -> pd.DataFrame:
    df = df.copy()
    fld = df[fldname]
    for n in ("Year", "Month", "Day", "Dayofweek", "Dayofyear", "Is_month_end", "Is_month_start",
              "Is_quarter_end", "Is_quarter_start", "Is_year_end", "Is_year_start"):
        attr = {"Dayofweek": "day_of_week", "Dayofyear": "day_of_year"}.get(n, n.lower())
        df[n] = getattr(fld.dt, attr)
    df["Week"] = fld.dt.isocalendar().week.astype(int)
    df["Elapsed"] = fld.astype("datetime64[s]").astype(np.int64)
    return df


def join_df(left: pd.DataFrame, right: pd.DataFrame, left_on, right_on=None, suffix="_y"):
    if right_on is None:
        right_on = left_on
    return left.merge(right, how="left", left_on=left_on, right_on=right_on, suffixes=("", suffix))


def get_elapsed(df: pd.DataFrame, fld: str, pre: str) -> pd.DataFrame:
    """The notebook's loop, verbatim in spirit: reset per store, days since the last event."""
    day1 = np.timedelta64(1, "D")
    last_date = np.datetime64("NaT")
    last_store = 0
    res = []
    for s, v, d in zip(df.Store.values, df[fld].values, df.Date.values):
        if s != last_store:
            last_date = np.datetime64("NaT")
            last_store = s
        if v:
            last_date = d
        res.append((d - last_date).astype("timedelta64[D]") / day1)
    df = df.copy()
    df[pre + fld] = res
    return df


def reference(data, stores: list[int]) -> pd.DataFrame:
    """fast.ai's joined table (all train + test rows of ``stores``), keyed by Store and Date."""
    ext = data.external
    train = data.train[data.train.Store.isin(stores)].copy()
    test = data.test[data.test.Store.isin(stores)].copy()
    store = data.store.copy()
    train["StateHoliday"] = train.StateHoliday != "0"
    test["StateHoliday"] = test.StateHoliday != "0"

    weather = join_df(ext.weather, ext.state_names, "file", "StateName")
    googletrend = ext.googletrend.copy()
    googletrend["Date"] = pd.to_datetime(googletrend.week.str.split(" - ", expand=True)[0])
    googletrend["State"] = googletrend.file.str.split("_", expand=True)[2]
    googletrend.loc[googletrend.State == "NI", "State"] = "HB,NI"
    googletrend = add_datepart(googletrend)
    trend_de = googletrend[googletrend.file == "Rossmann_DE"]
    train = add_datepart(train)
    test = add_datepart(test)

    store = join_df(store, ext.store_states, "Store")
    joined = pd.concat([train.assign(_test=False), test.assign(_test=True)], ignore_index=True)
    joined = join_df(joined, store, "Store")
    joined = join_df(joined, googletrend[["State", "Year", "Week", "trend"]], ["State", "Year", "Week"])
    joined = joined.merge(trend_de[["Year", "Week", "trend"]], "left", ["Year", "Week"], suffixes=("", "_DE"))
    joined = join_df(joined, weather.drop(columns=["file", "StateName"]), ["State", "Date"])

    joined["CompetitionOpenSinceYear"] = joined.CompetitionOpenSinceYear.fillna(1900).astype(np.int32)
    joined["CompetitionOpenSinceMonth"] = joined.CompetitionOpenSinceMonth.fillna(1).astype(np.int32)
    joined["Promo2SinceYear"] = joined.Promo2SinceYear.fillna(1900).astype(np.int32)
    joined["Promo2SinceWeek"] = joined.Promo2SinceWeek.fillna(1).astype(np.int32)
    joined["CompetitionOpenSince"] = pd.to_datetime(dict(year=joined.CompetitionOpenSinceYear,
                                                         month=joined.CompetitionOpenSinceMonth, day=15))
    joined["CompetitionDaysOpen"] = joined.Date.subtract(joined.CompetitionOpenSince).dt.days
    joined.loc[joined.CompetitionDaysOpen < 0, "CompetitionDaysOpen"] = 0
    joined.loc[joined.CompetitionOpenSinceYear < 1990, "CompetitionDaysOpen"] = 0
    joined["CompetitionMonthsOpen"] = joined["CompetitionDaysOpen"] // 30
    joined.loc[joined.CompetitionMonthsOpen > 24, "CompetitionMonthsOpen"] = 24

    def monday(y: int, w: int) -> dt.date:  # isoweek.Week(y, w).monday()
        jan4 = dt.date(y, 1, 4)
        return jan4 - dt.timedelta(days=jan4.weekday()) + dt.timedelta(weeks=w - 1)

    joined["Promo2Since"] = pd.to_datetime(joined.apply(
        lambda x: monday(x.Promo2SinceYear, x.Promo2SinceWeek), axis=1))
    joined["Promo2Days"] = joined.Date.subtract(joined["Promo2Since"]).dt.days
    joined.loc[joined.Promo2Days < 0, "Promo2Days"] = 0
    joined.loc[joined.Promo2SinceYear < 1990, "Promo2Days"] = 0
    joined["Promo2Weeks"] = joined["Promo2Days"] // 7
    joined.loc[joined.Promo2Weeks < 0, "Promo2Weeks"] = 0
    joined.loc[joined.Promo2Weeks > 25, "Promo2Weeks"] = 25

    columns = ["Date", "Store", "Promo", "StateHoliday", "SchoolHoliday"]
    df = pd.concat([train[columns], test[columns]])
    for fld in ("SchoolHoliday", "StateHoliday", "Promo"):
        df = df.sort_values(["Store", "Date"])
        df = get_elapsed(df, fld, "After")
        df = df.sort_values(["Store", "Date"], ascending=[True, False])
        df = get_elapsed(df, fld, "Before")
    df = df.set_index("Date")
    ev = ["SchoolHoliday", "StateHoliday", "Promo"]
    for o in ("Before", "After"):
        for p in ev:
            df[o + p] = df[o + p].fillna(0).astype(int)
    bwd = df[["Store"] + ev].sort_index().groupby("Store")[ev].rolling(7, min_periods=1).sum()
    fwd = df[["Store"] + ev].sort_index(ascending=False).groupby("Store")[ev].rolling(7, min_periods=1).sum()
    bwd = bwd.reset_index()
    fwd = fwd.reset_index()
    df = df.reset_index()
    df = df.merge(bwd, "left", ["Date", "Store"], suffixes=["", "_bw"])
    df = df.merge(fwd, "left", ["Date", "Store"], suffixes=["", "_fw"])
    df = df.drop(columns=ev)
    joined = join_df(joined, df, ["Store", "Date"])
    return joined
