"""Candidate feature families: measured by ``python -m features.ablation`` and not (yet) in the
default pipeline, because they did not lower the pseudo-test RMSPE by more than the seed spread
(features/ABLATION.md). ``build_features(families=[...])`` builds them on request, so each can be
measured again when the rest of the pipeline changes."""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.families import MONTH_ABBR, StoreDayGrid, cutoff_parts, window_count


def promo2_month(df: pd.DataFrame) -> pd.DataFrame:
    """``IsPromo2Month``: the store runs Promo2, it has started, and this month is in PromoInterval.

    Needs promo2() (Promo2Since) and date_parts() (Month).
    """
    interval = df["PromoInterval"].fillna("").astype("str")
    codes, uniq = pd.factorize(interval)
    table = np.zeros((len(uniq), 13), dtype=bool)
    for k, s in enumerate(uniq):
        for m in str(s).split(","):
            if m.strip() in MONTH_ABBR:
                table[k, MONTH_ABBR[m.strip()]] = True
    started = df["Date"].to_numpy() >= df["Promo2Since"].to_numpy()
    active = (df["Promo2"].to_numpy() == 1) & started
    return df.assign(IsPromo2Month=(active & table[codes, df["Month"].to_numpy()]).astype(np.int8))


def recent_ratio(df: pd.DataFrame, valid_start: pd.Timestamp, test_start: pd.Timestamp,
                 recent_days: int = 91) -> pd.DataFrame:
    """``HistSalesRecentRatio``: a store's mean sales over the last ``recent_days`` before the
    cutoff over its mean before the cutoff (its trend, carried into the horizon). Same cutoffs
    as store_history()."""
    store = df["Store"].to_numpy().astype(np.int64)
    r = store - int(store.min())
    n_store = int(r.max()) + 1
    sales = df["Sales"].to_numpy(dtype=np.float64, na_value=np.nan)
    dates = df["Date"].to_numpy()
    out = np.full(len(df), np.nan, dtype=np.float32)
    for m, rows, cut in cutoff_parts(df, valid_start, test_start):
        recent = m & (dates >= cut - np.timedelta64(recent_days, "D"))
        with np.errstate(invalid="ignore", divide="ignore"):
            all_mean = np.bincount(r[m], weights=sales[m], minlength=n_store) / np.bincount(r[m], minlength=n_store)
            rec_mean = (np.bincount(r[recent], weights=sales[recent], minlength=n_store)
                        / np.bincount(r[recent], minlength=n_store))
        out[rows] = (rec_mean / all_mean)[r[rows]]
    return df.assign(HistSalesRecentRatio=out)


def holiday_counts(df: pd.DataFrame) -> pd.DataFrame:
    """Holiday days in the coming and the past calendar week (days d+1..d+7 and d-7..d-1).

    Day-based companions of fast.ai's row-based ``_fw``/``_bw``; NaN when the week touches a
    data gap. Needs StateHoliday as bool (state_holiday_bool).
    """
    g = StoreDayGrid(df)
    new = {}
    for col in ("StateHoliday", "SchoolHoliday"):
        grid = g.scatter(df[col].to_numpy().astype(bool), False)
        new[col + "NextWeek"] = g.gather(window_count(grid, g.observed, 1, 8))
        new[col + "LastWeek"] = g.gather(window_count(grid, g.observed, -7, 0))
    return df.assign(**new)


def year_ago(df: pd.DataFrame, valid_start: pd.Timestamp) -> pd.DataFrame:
    """``SalesYearAgoRatio``: the store's sales 364 days earlier (same weekday) over its mean.

    Only values strictly before the validation start are used (364 > the 42-day horizon, so
    every row of the validation and test period has its year-ago day in the past). NaN when
    that day is missing, closed, or on/after the validation start for train rows.
    """
    g = StoreDayGrid(df)
    is_test = df["_test"].to_numpy()
    sales = df["Sales"].to_numpy(dtype=np.float64, na_value=np.nan)
    ok = (~is_test) & (df["Open"].to_numpy() == 1) & (sales > 0)
    cut = np.datetime64(pd.Timestamp(valid_start).to_datetime64())
    ok_train = ok & (df["Date"].to_numpy() < cut)
    grid_v = g.scatter(np.where(ok_train, sales, np.nan), np.nan)  # train/validation rows
    grid_t = g.scatter(np.where(ok, sales, np.nan), np.nan)  # test rows: everything before test
    lag = 364
    r, c = g.store_row, g.day_col - lag
    inside = c >= 0
    cc = np.where(inside, c, 0)
    val = np.where(inside, np.where(is_test, grid_t[r, cc], grid_v[r, cc]), np.nan)
    # Normalise by the store's mean over the same usable days, so the value is scale-free.
    mean_v = np.nanmean(np.where(np.isnan(grid_v).all(axis=1, keepdims=True), 1, grid_v), axis=1)
    mean_t = np.nanmean(np.where(np.isnan(grid_t).all(axis=1, keepdims=True), 1, grid_t), axis=1)
    denom = np.where(is_test, mean_t[r], mean_v[r])
    return df.assign(SalesYearAgoRatio=(val / denom).astype(np.float32))
