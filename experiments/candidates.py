"""Candidate feature families: measured by ``python -m experiments.ablation`` and not (yet) in the
default pipeline, because they did not pass on the pseudo-test windows (features/ABLATION.md).
``CANDIDATE_FAMILIES`` registers them like ``features.registry.DEFAULT_FAMILIES``, so
``build_features(families=DEFAULT_FAMILIES + CANDIDATE_FAMILIES)`` builds them and each can be
measured again when the rest of the pipeline changes. A family that passes moves, function and
spec, into ``features/families.py`` and ``features/registry.py``."""
from __future__ import annotations

import numpy as np
import pandas as pd
from dateutil.easter import easter

from features.calendar import MONTH_TURN_COLS, month_calendar, month_turn
from features.families import MONTH_ABBR, RUN_HORIZON, cutoff_parts, store_rows
from features.grid import StoreDayGrid, day_number, dist_next, dist_prev, with_columns
from features.pipeline import block_starts
from features.registry import FamilySpec


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


# Look-back spans (days) of history_spans, ending at the history cut: a quarter, a half year, a year.
HISTORY_SPANS = (91, 182, 365)


def history_span_columns(spans: tuple[int, ...] = HISTORY_SPANS) -> list[str]:
    """The columns history_spans adds, in order."""
    cols = ["HistSalesStd", "HistCustStd"]
    for s in spans:
        cols += [f"HistSales{s}Mean", f"HistSales{s}Median", f"HistSales{s}Std", f"HistCust{s}Mean",
                 f"HistSalesDow{s}Mean", f"HistSalesPromo{s}Mean", f"HistSalesTrend{s}"]
    return cols


def history_spans(df: pd.DataFrame, valid_start: pd.Timestamp, test_start: pd.Timestamp,
                  spans: tuple[int, ...] = HISTORY_SPANS) -> pd.DataFrame:
    """Recent-history statistics per store over several look-back spans (the winners' features).

    Same cutoffs as store_history(): train rows see open days with Sales > 0 before the
    validation start, test rows all of train. Each span ends at the history cut, the last such
    day (not at the cutoff: for the test that would put the gap before the test inside the
    span). Per span ``s``: mean, median and standard deviation of Sales, mean Customers, mean
    Sales per store x weekday and per store x promo, and the trend ``HistSalesTrend<s>``, the
    span's mean over the store's mean over all its history. ``HistSalesStd``/``HistCustStd``:
    over all history. NaN where a store has no day in the span.
    """
    r, n_store, dow, promo, sales, cust = store_rows(df)
    dates = df["Date"].to_numpy()
    out = {name: np.full(len(df), np.nan, dtype=np.float32) for name in history_span_columns(spans)}

    def mean_sd(keys: np.ndarray, values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        n = np.bincount(keys, minlength=size).astype(np.float64)
        s1 = np.bincount(keys, weights=values, minlength=size)
        s2 = np.bincount(keys, weights=values * values, minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / n
            sd = np.sqrt(np.maximum(s2 / n - mean * mean, 0.0) * n / (n - 1))
        return mean, sd

    for m, rows, _ in cutoff_parts(df, valid_start, test_start):
        if not m.any():
            continue
        all_mean, all_sd = mean_sd(r[m], sales[m], n_store)
        out["HistSalesStd"][rows] = all_sd[r[rows]]
        out["HistCustStd"][rows] = mean_sd(r[m], cust[m], n_store)[1][r[rows]]
        last = dates[m].max()
        for s in spans:
            w = m & (dates > last - np.timedelta64(s, "D"))
            mean, sd = mean_sd(r[w], sales[w], n_store)
            median = np.full(n_store, np.nan)
            med = pd.Series(sales[w]).groupby(r[w]).median()
            median[med.index.to_numpy()] = med.to_numpy()
            out[f"HistSales{s}Mean"][rows] = mean[r[rows]]
            out[f"HistSales{s}Median"][rows] = median[r[rows]]
            out[f"HistSales{s}Std"][rows] = sd[r[rows]]
            out[f"HistCust{s}Mean"][rows] = mean_sd(r[w], cust[w], n_store)[0][r[rows]]
            out[f"HistSalesDow{s}Mean"][rows] = mean_sd((r * 7 + dow)[w], sales[w], n_store * 7)[0][(r * 7 + dow)[rows]]
            out[f"HistSalesPromo{s}Mean"][rows] = mean_sd((r * 2 + promo)[w], sales[w], n_store * 2)[0][
                (r * 2 + promo)[rows]]
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"HistSalesTrend{s}"][rows] = (mean / all_mean)[r[rows]]
    return with_columns(df, out)


# Look-back spans (days) of lagged_level: a quarter and a year, each ending at the row's own cut.
LAG_SPANS = (91, 365)
# A span with fewer open days than this (the start of the data, a long closure) gives NaN.
LAG_MIN_DAYS = 28


def lagged_level_columns(spans: tuple[int, ...] = LAG_SPANS) -> list[str]:
    """The columns lagged_level adds, in order."""
    cols = ["LagHorizon"]
    for s in spans:
        cols += [f"LagSales{s}Mean", f"LagSalesDow{s}Mean", f"LagCust{s}Mean"]
    return cols


LAGGED_LEVEL_COLS: list[str] = lagged_level_columns()


def prefix(grid: np.ndarray) -> np.ndarray:
    """Column sums before each column: out[:, j] = grid[:, :j].sum(axis=1), so that any window
    [lo, hi) of a row sums as out[:, hi] - out[:, lo]."""
    out = np.zeros((grid.shape[0], grid.shape[1] + 1))
    np.cumsum(grid, axis=1, out=out[:, 1:])
    return out


def lagged_level(df: pd.DataFrame, block_start: np.ndarray, gap: int, valid_start: pd.Timestamp,
                 spans: tuple[int, ...] = LAG_SPANS, min_days: int = LAG_MIN_DAYS) -> pd.DataFrame:
    """The store's recent sales level as each row's forecast would have known it.

    ``store_history`` and ``history_spans`` give every train row one value per store (the
    statistics at the validation start), so inside the training rows they only name the store
    and a network cannot learn how a store's recent level carries into the weeks after it.
    Here every row gets its own cut, placed the way the test's is: ``block_start`` is the first
    day (as a day number, ``features.grid.day_number``) of the row's test-length block (the test
    start for test rows, its test-length block's start for train rows), and the row's history ends
    ``gap + 1`` days before it. So a train row sees the level as far back as a test row in the
    same place of the test period does (43..90 days with the real test's 42-day gap and 48
    days), and never its own block's or gap's sales. Like ``store_history``, a train row never
    sees a day on or after ``valid_start`` (a validation row's cut is moved back to the day
    before it), a test row sees every train day.

    Per span ``s`` (days ending at the cut), over open train days with Sales > 0: mean Sales
    (``LagSales<s>Mean``), mean Sales on the row's weekday (``LagSalesDow<s>Mean``) and mean
    Customers (``LagCust<s>Mean``); NaN with fewer than ``min_days`` such days (7 for the
    weekday mean). ``LagHorizon``: days from the cut to the row (``gap + 1`` .. ``gap + length``).
    """
    g = StoreDayGrid(df)
    sales = df["Sales"].to_numpy(dtype=np.float64, na_value=np.nan)
    cust = df["Customers"].to_numpy(dtype=np.float64, na_value=np.nan)
    is_test = df["_test"].to_numpy()
    ok = (~is_test) & (df["Open"].to_numpy() == 1) & (sales > 0)
    day = g.day_col + g.first_day
    cut_col = np.asarray(block_start, dtype=np.int64) - gap - 1 - g.first_day  # last history column
    # Train rows: at most the day before valid_start.
    vs_col = int(day_number(pd.Series([pd.Timestamp(valid_start)]))[0]) - 1 - g.first_day
    cut_col = np.where(is_test, cut_col, np.minimum(cut_col, vs_col))
    col_dow = g.weekday()
    row_dow = col_dow[g.day_col]

    count_grid = g.scatter(ok.astype(np.float64), 0.0)
    sales_grid = g.scatter(np.where(ok, sales, 0.0), 0.0)
    n_all, s_all = prefix(count_grid), prefix(sales_grid)
    c_all = prefix(g.scatter(np.where(ok, cust, 0.0), 0.0))
    dow_mask = col_dow[None, :] == np.arange(7)[:, None, None]  # (7, 1, n_day)
    n_dow = np.stack([prefix(count_grid * m) for m in dow_mask])
    s_dow = np.stack([prefix(sales_grid * m) for m in dow_mask])

    r = g.store_row
    hi = np.clip(cut_col + 1, 0, g.n_day)
    out: dict[str, np.ndarray] = {"LagHorizon": (day - (cut_col + g.first_day)).astype(np.float32)}
    for s in spans:
        lo = np.clip(cut_col + 1 - s, 0, g.n_day)
        n = n_all[r, hi] - n_all[r, lo]
        nd = n_dow[row_dow, r, hi] - n_dow[row_dow, r, lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"LagSales{s}Mean"] = np.where(n >= min_days, (s_all[r, hi] - s_all[r, lo]) / n, np.nan)
            out[f"LagSalesDow{s}Mean"] = np.where(nd >= max(1, min_days // 7),
                                                  (s_dow[row_dow, r, hi] - s_dow[row_dow, r, lo]) / nd, np.nan)
            out[f"LagCust{s}Mean"] = np.where(n >= min_days, (c_all[r, hi] - c_all[r, lo]) / n, np.nan)
    return with_columns(df, {k: v.astype(np.float32) for k, v in out.items()})


PAYDAY_COLS = ("DaysFromPayday", "DaysToPayday")


def bank_holidays(years: range) -> set[pd.Timestamp]:
    """Days German banks do not pay salaries on besides weekends: the nationwide holidays and
    the two bank closing days Dec 24 and Dec 31."""
    out: set[pd.Timestamp] = set()
    for y in years:
        e = pd.Timestamp(easter(y))
        out |= {e + pd.Timedelta(days=d) for d in (-2, 1, 39, 50)}  # Good Friday, Easter Monday, Ascension, Whit Monday
        out |= {pd.Timestamp(y, m, d) for m, d in ((1, 1), (5, 1), (10, 3), (12, 24), (12, 25), (12, 26), (12, 31))}
    return out


def payday(df: pd.DataFrame) -> pd.DataFrame:
    """Calendar days since / until the month's payday, its last bank working day (Monday to
    Friday, no bank holiday): salaries arrive then, a Friday when the month ends on a weekend.
    ``DaysFromPayday`` is 0 on payday and counts up to the next; ``DaysToPayday`` counts down to it.
    From the calendar alone. `month_turn`'s successor: that one counted Saturdays as shopping days
    and over-predicted month-end Saturdays (features/ABLATION.md, seventh and ninth rounds)."""
    # A month more on each side: the paydays before the first and after the last row's month.
    cal, idx = month_calendar(day_number(df["Date"]), pad_months=1)
    closed = bank_holidays(range(cal[0].year, cal[-1].year + 1))
    bank = np.asarray((cal.day_of_week < 5) & ~cal.isin(list(closed)))
    month = np.asarray(cal.year * 12 + cal.month)
    pos = np.arange(len(cal))
    # The last bank day of each month: the bank day whose next bank day lies in another month.
    bank_pos = pos[bank]
    is_pay = np.zeros(len(cal), bool)
    is_pay[bank_pos[np.r_[month[bank_pos[1:]] != month[bank_pos[:-1]], True]]] = True
    last = np.maximum.accumulate(np.where(is_pay, pos, -10**9))
    nxt = np.minimum.accumulate(np.where(is_pay, pos, 10**9)[::-1])[::-1]
    return with_columns(df, {"DaysFromPayday": (pos - last)[idx].astype(np.float32),
                             "DaysToPayday": (nxt - pos)[idx].astype(np.float32)})


SEASON_LAGS = (364, 728)  # a year and two back, the same weekday
SEASON_HALF_WINDOW = 14  # days each side of the year-ago day: four of each weekday
SEASON_MIN_DAYS = 10  # open days in those four weeks, else the next lag (or NaN)


def season_index(df: pd.DataFrame, valid_start: pd.Timestamp, test_start: pd.Timestamp) -> pd.DataFrame:
    """``SeasonIndex``: the store's mean sales in the four weeks around the same day a year earlier,
    over its mean sales before the cutoff; two years earlier where the store has too few open days
    a year back (the 180 stores without the second half of 2014). A store's own season (a
    holiday-region store's summer) as one number, which trees otherwise piece together from Store
    x Week splits. Only open days before the row's cutoff (the validation start for train rows, the
    test start for test rows) count, as in store_history(); the four weeks end 350 days before
    the row, before any window's cutoff."""
    g = StoreDayGrid(df)
    sales = df["Sales"].to_numpy(dtype=np.float64, na_value=np.nan)
    out = np.full(len(df), np.nan)
    for usable, rows, _ in cutoff_parts(df, valid_start, test_start):
        csum = prefix(g.scatter(np.where(usable, sales, 0.0), 0.0))
        ccnt = prefix(g.scatter(usable.astype(np.float64), 0.0))
        r, d = g.store_row[rows], g.day_col[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            level = csum[:, -1] / ccnt[:, -1]
            idx = np.full(len(r), np.nan)
            for lag in SEASON_LAGS:
                lo = d - lag - SEASON_HALF_WINDOW
                inside = lo >= 0  # the whole four weeks after the data's first day
                lo, hi = np.where(inside, lo, 0), np.where(inside, lo + 2 * SEASON_HALF_WINDOW, 0)
                n = ccnt[r, hi] - ccnt[r, lo]
                mean = (csum[r, hi] - csum[r, lo]) / n
                idx = np.where(np.isnan(idx) & inside & (n >= SEASON_MIN_DAYS), mean / level[r], idx)
        out[rows] = idx
    return df.assign(SeasonIndex=out.astype(np.float32))


SCHOOL_BREAK_COLS = ("SchoolBreakDay", "SchoolBreakLeft")


def school_break(df: pd.DataFrame) -> pd.DataFrame:
    """The place inside a school break, its weekends and holidays counted in. The data marks
    Saturdays and Sundays as no school holiday even inside the six-week summer break, so
    day_counters' ``SchoolHolidayRunDay`` / ``SchoolHolidayRunLeft`` start again every Monday.

    A weekend or state-holiday day belongs to a break when a school-holiday day lies between it
    and the working day without school holiday (or the data gap) on either side.
    ``SchoolBreakDay`` / ``SchoolBreakLeft``: days since the break began (1 on its first day) /
    until the day after it ends, 0 outside a break, capped at ``RUN_HORIZON``; NaN where a data
    gap comes first. Needs StateHoliday as bool (state_holiday_bool)."""
    g = StoreDayGrid(df)
    school = g.scatter(df["SchoolHoliday"].to_numpy().astype(bool), False)
    free = (g.weekday() >= 5)[None, :] | g.scatter(df["StateHoliday"].to_numpy().astype(bool), False)
    breaker = ~g.observed | (~school & ~free)
    # A school day nearer than the nearest breaker, looking back or looking ahead.
    in_break = ~breaker & ((dist_prev(school) < dist_prev(breaker)) | (dist_next(school) < dist_next(breaker)))
    off = g.observed & ~in_break
    return with_columns(df, {"SchoolBreakDay": g.gather(g.distance(off, False, RUN_HORIZON, False)),
                             "SchoolBreakLeft": g.gather(g.distance(off, True, RUN_HORIZON, False))})


CANDIDATE_FAMILIES: tuple[FamilySpec, ...] = (
    FamilySpec("promo2_month", lambda df, vs, ts, shape: promo2_month(df), cat_cols=("IsPromo2Month",)),
    FamilySpec("month_turn", lambda df, vs, ts, shape: month_turn(df), cont_cols=MONTH_TURN_COLS),
    FamilySpec("recent_ratio", lambda df, vs, ts, shape: recent_ratio(df, vs, ts), cont_cols=("HistSalesRecentRatio",)),
    FamilySpec("year_ago", lambda df, vs, ts, shape: year_ago(df, vs), cont_cols=("SalesYearAgoRatio",)),
    FamilySpec("history_spans", lambda df, vs, ts, shape: history_spans(df, vs, ts),
               cont_cols=tuple(history_span_columns()),
               log_cols=tuple(c for c in history_span_columns() if "Trend" not in c)),
    FamilySpec("lagged_level",
               lambda df, vs, ts, shape: lagged_level(df, block_starts(df, shape), shape.gap, vs),
               cont_cols=tuple(LAGGED_LEVEL_COLS), log_cols=tuple(c for c in LAGGED_LEVEL_COLS if c != "LagHorizon")),
    FamilySpec("payday", lambda df, vs, ts, shape: payday(df), cont_cols=PAYDAY_COLS, models=("lgbm",)),
    FamilySpec("season_index", lambda df, vs, ts, shape: season_index(df, vs, ts), cont_cols=("SeasonIndex",),
               models=("lgbm",)),
    FamilySpec("school_break", lambda df, vs, ts, shape: school_break(df), cont_cols=SCHOOL_BREAK_COLS,
               lookback_days=RUN_HORIZON + 1, models=("lgbm",)),
)
