"""Feature families: one pure ``df -> df`` function each.

Every function takes the combined train + test frame (one row per store and date, the columns
of ARCHITECTURE.md's train/test tables plus ``_test``) and returns a new frame with its columns
added; the input is never modified (pandas 3 copy-on-write makes ``assign`` cheap).

Speed comes from working on the small tables (dates, stores) and gathering with integer
indexing, from the dense store x day grid of ``features.grid``, and from cumulative sums over rows
sorted by (Store, Date) with the store boundaries subtracted out.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import pandas as pd

from features.grid import StoreDayGrid, WindowSums, day_number

_DAY_S = np.int64(86_400)  # seconds per day (Elapsed)
# Refurbishment: a run of at least this many consecutive closed calendar days. On the real data
# 1- and 2-day runs are Sundays and holidays (~160k of them); runs of >= 3 days are rare (~110)
# and are the multi-week shop closures whose neighbourhood has unusual sales.
REFURB_MIN_RUN = 3
# Horizon (days) of the since/until-closure features: beyond it the exact distance carries no signal.
CLOSURE_HORIZON = 60
MONTH_ABBR = {"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6, "Jul": 7, "Aug": 8,
               "Sep": 9, "Sept": 9, "Oct": 10, "Nov": 11, "Dec": 12}


# ----------------------------------------------------------------------------------------------
# fast.ai families
# ----------------------------------------------------------------------------------------------
def add_store(df: pd.DataFrame, store: pd.DataFrame, store_states: pd.DataFrame | None = None
              ) -> pd.DataFrame:
    """Join store.csv (and store_states -> ``State``) onto every row (fast.ai's ``join_df``).

    String columns come back as ``category`` (codes gathered per row): 1M-row string gathers
    are far slower, and parquet stores categories as dictionaries anyway.
    """
    st = store.copy()
    if store_states is not None:
        ss = store_states.rename(columns=lambda c: str(c).strip())
        ss = ss.assign(State=ss["State"].astype("str").str.strip())  # CRLF file: no stray '\r'
        st = st.merge(ss[["Store", "State"]].drop_duplicates("Store"), how="left", on="Store")
    st = st.set_index("Store")
    pos = st.index.get_indexer(df["Store"].to_numpy())
    if (pos < 0).any():
        missing = np.unique(df["Store"].to_numpy()[pos < 0])[:10].tolist()
        raise ValueError(f"stores missing from store.csv: {missing}")
    new: dict[str, object] = {}
    for c in st.columns:
        if c in df.columns:
            continue
        col = st[c]
        if col.dtype.kind in "biuf":
            new[c] = col.to_numpy()[pos]
        else:
            codes, cats = pd.factorize(col.astype("str").where(col.notna()), sort=True)
            new[c] = pd.Categorical.from_codes(codes[pos], categories=cats)
    return df.assign(**new)


def state_holiday_bool(df: pd.DataFrame) -> pd.DataFrame:
    """fast.ai: ``StateHoliday = StateHoliday != '0'`` (the a/b/c type is dropped)."""
    sh = df["StateHoliday"]
    if sh.dtype == bool:
        return df
    if isinstance(sh.dtype, pd.CategoricalDtype):  # compare the few categories, not 1M strings
        is_hol = np.asarray(sh.cat.categories.astype("str") != "0")
        codes = sh.cat.codes.to_numpy()
        return df.assign(StateHoliday=np.where(codes >= 0, is_hol[codes], False))
    return df.assign(StateHoliday=(sh.astype("str") != "0").to_numpy())


def date_parts(df: pd.DataFrame) -> pd.DataFrame:
    """fast.ai's ``add_datepart(df, 'Date', drop=False)``: Year .. Is_year_start, Elapsed.

    Computed once per distinct date and gathered. Elapsed is seconds since the epoch computed
    from whole days, so it does not depend on the datetime unit (pandas 3 stores datetime64[us],
    where fast.ai's ``astype(int64) // 10**9`` would give milliseconds).
    """
    day = day_number(df["Date"])
    d0 = int(day.min())
    cal = pd.DatetimeIndex(np.arange(d0, int(day.max()) + 1).astype("datetime64[D]"))
    iso = cal.isocalendar()
    table = {
        "Year": cal.year.to_numpy().astype(np.int32),
        "Month": cal.month.to_numpy().astype(np.int32),
        "Week": iso["week"].to_numpy().astype(np.int32),
        "Day": cal.day.to_numpy().astype(np.int32),
        "Dayofweek": cal.day_of_week.to_numpy().astype(np.int32),
        "Dayofyear": cal.day_of_year.to_numpy().astype(np.int32),
        "Is_month_end": np.asarray(cal.is_month_end),
        "Is_month_start": np.asarray(cal.is_month_start),
        "Is_quarter_end": np.asarray(cal.is_quarter_end),
        "Is_quarter_start": np.asarray(cal.is_quarter_start),
        "Is_year_end": np.asarray(cal.is_year_end),
        "Is_year_start": np.asarray(cal.is_year_start),
    }
    idx = day - d0
    new = {k: v[idx] for k, v in table.items()}
    new["Elapsed"] = day * _DAY_S
    return df.assign(**new)


def _state_day_index(df: pd.DataFrame) -> tuple[np.ndarray, list[str], np.ndarray, int]:
    """Per row: state code (-1 if none), the state labels, day offset, first day number."""
    state = df["State"]
    if isinstance(state.dtype, pd.CategoricalDtype):
        codes, labels = state.cat.codes.to_numpy(), [str(x) for x in state.cat.categories]
    else:
        codes, uniq = pd.factorize(state)
        labels = [str(x) for x in uniq]
    day = day_number(df["Date"])
    d0 = int(day.min())
    return codes.astype(np.int64), labels, day - d0, d0


def google_trend(df: pd.DataFrame, googletrend: pd.DataFrame) -> pd.DataFrame:
    """``trend`` by (State, Year, Week) and Germany-wide ``trend_DE`` by (Year, Week), as fast.ai.

    fast.ai keys each Google week by the Year and ISO Week of its first day (a Sunday, which
    belongs to the previous ISO week), and maps ``Rossmann_DE_NI`` to the store state ``HB,NI``.
    Needs ``State`` (add_store). Looked up in a dense (state x day) table, then gathered.
    """
    gt = googletrend
    start = pd.to_datetime(gt["week"].astype("str").str.split(" - ", n=1).str[0])
    iso = pd.DatetimeIndex(start).isocalendar()
    state = gt["file"].astype("str").str.split("_").str[2]
    state = state.where(state != "NI", "HB,NI")
    t = pd.DataFrame({"State": state.to_numpy(dtype=object),
                      "Year": start.dt.year.to_numpy().astype(np.int64),
                      "Week": iso["week"].to_numpy().astype(np.int64),
                      "trend": gt["trend"].to_numpy(dtype=np.float64)})
    is_de = (gt["file"].astype("str") == "Rossmann_DE").to_numpy()
    per_state = t[~is_de & t["State"].notna().to_numpy()].drop_duplicates(["State", "Year", "Week"])
    de = t[is_de].drop_duplicates(["Year", "Week"])

    codes, labels, off, d0 = _state_day_index(df)
    n_day = int(off.max()) + 1
    cal = pd.DatetimeIndex((d0 + np.arange(n_day)).astype("datetime64[D]"))
    cal_year = cal.year.to_numpy().astype(np.int64)
    cal_week = cal.isocalendar()["week"].to_numpy().astype(np.int64)
    cal_df = pd.DataFrame({"Year": cal_year, "Week": cal_week})
    trend_de = cal_df.merge(de[["Year", "Week", "trend"]], how="left", on=["Year", "Week"])["trend"]
    grid = pd.DataFrame({"State": np.repeat(np.array(labels + ["\0none"], dtype=object), n_day),
                         "Year": np.tile(cal_year, len(labels) + 1),
                         "Week": np.tile(cal_week, len(labels) + 1)})
    tr = grid.merge(per_state, how="left", on=["State", "Year", "Week"])["trend"].to_numpy()
    tr = tr.reshape(len(labels) + 1, n_day)  # last row: stores without a state -> NaN
    return df.assign(trend=tr[codes, off].astype(np.float32),
                     trend_DE=trend_de.to_numpy(dtype=np.float32)[off])


def weather(df: pd.DataFrame, weather_table: pd.DataFrame, state_names: pd.DataFrame
            ) -> pd.DataFrame:
    """Weather by (State, Date); the weather ``file`` is a state name, mapped via state_names.

    Numbers come back as float32, ``Events`` as category. Gathered from a dense (state x day)
    table rather than a 1M-row merge.
    """
    names = pd.DataFrame({"file": state_names["StateName"].astype("str").str.strip().to_numpy(dtype=object),
                          "State": state_names["State"].astype("str").str.strip().to_numpy(dtype=object)})
    w = weather_table.assign(file=weather_table["file"].astype("str").to_numpy(dtype=object))
    w = w.merge(names, how="inner", on="file").drop(columns=["file"])
    codes, labels, off, d0 = _state_day_index(df)
    n_day = int(off.max()) + 1
    lab_index = pd.Index(labels + ["\0none"])
    w_state = lab_index.get_indexer(w["State"].to_numpy())
    w_off = day_number(pd.to_datetime(w["Date"])) - d0
    keep = (w_state >= 0) & (w_off >= 0) & (w_off < n_day)
    ws, wo = w_state[keep], w_off[keep]
    new: dict[str, object] = {}
    for c in w.columns:
        if c in ("State", "Date") or c in df.columns:
            continue
        col = w[c]
        if col.dtype.kind in "biuf":
            table = np.full((len(lab_index), n_day), np.nan, dtype=np.float32)
            table[ws, wo] = col.to_numpy(dtype=np.float32)[keep]
            new[c] = table[codes, off]
        else:
            cc, cats = pd.factorize(col.astype("str").where(col.notna()), sort=True)
            table = np.full((len(lab_index), n_day), -1, dtype=np.int64)
            table[ws, wo] = cc[keep]
            new[c] = pd.Categorical.from_codes(table[codes, off], categories=cats)
    return df.assign(**new)


def competition_open(df: pd.DataFrame) -> pd.DataFrame:
    """CompetitionOpenSince (15th of the month), CompetitionDaysOpen, CompetitionMonthsOpen.

    Missing year -> 1900 and month -> 1 (fast.ai); days are 0 when negative or the year < 1990;
    months = days // 30 capped at 24.
    """
    year = df["CompetitionOpenSinceYear"].fillna(1900).to_numpy().astype(np.int32)
    month = df["CompetitionOpenSinceMonth"].fillna(1).to_numpy().astype(np.int32)
    since = ((year.astype(np.int64) - 1970) * 12 + month - 1).astype("datetime64[M]")
    since_day = since.astype("datetime64[D]").astype(np.int64) + 14
    days = day_number(df["Date"]) - since_day
    days[(days < 0) | (year < 1990)] = 0
    return df.assign(CompetitionOpenSinceYear=year, CompetitionOpenSinceMonth=month,
                     CompetitionOpenSince=since_day.astype("datetime64[D]").astype("datetime64[us]"),
                     CompetitionDaysOpen=days.astype(np.int32),
                     CompetitionMonthsOpen=np.minimum(days // 30, 24).astype(np.int32))


def promo2(df: pd.DataFrame) -> pd.DataFrame:
    """Promo2Since (Monday of the ISO week), Promo2Days, Promo2Weeks (0..25).

    Same arithmetic as isoweek's ``Week(year, week).monday()`` (fast.ai): the Monday of the week
    holding January 4th, plus (week - 1) weeks.
    """
    year = df["Promo2SinceYear"].fillna(1900).to_numpy().astype(np.int32)
    week = df["Promo2SinceWeek"].fillna(1).to_numpy().astype(np.int32)
    jan4 = (np.asarray(year, dtype=np.int64) - 1970).astype("datetime64[Y]").astype(
        "datetime64[D]").astype(np.int64) + 3
    weekday = (jan4 + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    since_day = jan4 - weekday + 7 * (week.astype(np.int64) - 1)
    days = day_number(df["Date"]) - since_day
    days[(days < 0) | (year < 1990)] = 0
    return df.assign(Promo2SinceYear=year, Promo2SinceWeek=week,
                     Promo2Since=since_day.astype("datetime64[D]").astype("datetime64[us]"),
                     Promo2Days=days.astype(np.int32),
                     Promo2Weeks=np.clip(days // 7, 0, 25).astype(np.int32))


EVENT_COLS = ("SchoolHoliday", "StateHoliday", "Promo")


def event_durations(df: pd.DataFrame, cols: tuple[str, ...] = EVENT_COLS, block_start: np.ndarray | None = None,
                    gap: int = 0, lookback: int = 0) -> pd.DataFrame:
    """fast.ai's durations and rolling counts, per store over train + test in date order.

    - ``After<X>``: days since the last row with X (0 on the day, 0 if none before).
    - ``Before<X>``: fast.ai's ``get_elapsed`` on the descending sort, i.e. (date - next X date),
      which is <= 0 (0 on the day, 0 if none after). The sign is fast.ai's, kept on purpose.
    - ``<X>_bw`` / ``<X>_fw``: the number of X rows among the 7 ROWS ending / starting at this
      row, current row included, within the store (fast.ai's ``rolling(7, min_periods=1)``;
      rows, not days, so gaps in the data stretch the window).

    With ``block_start`` (each row's block as a day number, ``pipeline.block_starts``) a row sees
    what a test row in its place sees, the rule of ``pipeline.censored`` computed in one pass: its
    block's rows, and before them its store's rows dated in ``[start - gap - lookback,
    start - gap)``; nothing after its block. Without it the whole table is one block.
    """
    store = df["Store"].to_numpy().astype(np.int64)
    day = day_number(df["Date"])
    blocks = np.zeros(len(df), np.int64) if block_start is None else np.asarray(block_start, dtype=np.int64)
    # By store, then date: a store's rows of one block are a contiguous segment, and its history is
    # a contiguous run of the same store's earlier rows.
    order = np.lexsort((day, store))
    store, day, blocks = store[order], day[order], blocks[order]
    n = len(store)
    i = np.arange(n)
    d = day - (day.min() if n else 0)
    big = np.int64(1) << 21  # > any day offset, so segments never overlap in key space
    starts = np.r_[True, (store[1:] != store[:-1]) | (blocks[1:] != blocks[:-1])] if n else np.zeros(0, bool)
    seg = np.cumsum(starts) - 1
    seg_first = np.maximum.accumulate(np.where(starts, i, 0))
    seg_end = np.minimum.accumulate(np.where(np.r_[starts[1:], True], i, n)[::-1])[::-1] + 1
    key = seg * big + d
    if block_start is None:
        hist_lo = hist_hi = seg_first
    else:
        store_day = store * big + d
        first = seg_first
        start_d = blocks[first] - (day.min() if n else 0)
        hist_lo = np.searchsorted(store_day, store[first] * big + start_d - gap - lookback, side="left")
        hist_hi = np.searchsorted(store_day, store[first] * big + start_d - gap, side="left")
    store_seg = np.cumsum(np.r_[True, store[1:] != store[:-1]]) - 1 if n else np.zeros(0, np.int64)

    new: dict[str, np.ndarray] = {}
    for col in cols:
        ev = df[col].to_numpy().astype(bool)[order]
        # The last event at or before each row in its segment, else the last one of its history.
        last = np.maximum.accumulate(np.where(ev, key, seg * big - 1))
        last_day = np.where(last >= seg * big, last - seg * big, -1)
        store_last = np.maximum.accumulate(np.where(ev, store_seg * big + d, store_seg * big - 1))
        prior = store_last[np.maximum(hist_hi - 1, 0)] - store_seg * big
        in_history = (hist_hi > hist_lo) & (prior >= d[np.minimum(hist_lo, n - 1)])
        last_day = np.where(last_day >= 0, last_day, np.where(in_history, prior, -1))
        after = np.where(last_day >= 0, d - last_day, 0)
        none_after = (seg + 1) * big
        nxt = np.minimum.accumulate(np.where(ev, key, none_after)[::-1])[::-1]
        before = np.where(nxt == none_after, 0, key - nxt)
        cs = np.concatenate([[0], np.cumsum(ev, dtype=np.int64)])
        # The 7 rows ending here: the segment's, then as many of the history's last rows as needed.
        bw = cs[i + 1] - cs[np.maximum(i - 6, seg_first)]
        short = np.clip(7 - (i - seg_first + 1), 0, None)
        bw = bw + cs[hist_hi] - cs[np.maximum(hist_hi - short, hist_lo)]
        fw = cs[np.minimum(i + 7, seg_end)] - cs[i]
        new["After" + col] = after.astype(np.int32)
        new["Before" + col] = before.astype(np.int32)
        new[col + "_bw"] = bw.astype(np.int32)
        new[col + "_fw"] = fw.astype(np.int32)
    inv = np.empty_like(order)
    inv[order] = i
    return df.assign(**{k: v[inv] for k, v in new.items()})


# ----------------------------------------------------------------------------------------------
# beyond fast.ai
# ----------------------------------------------------------------------------------------------
def cutoff_parts(df: pd.DataFrame, valid_start: pd.Timestamp, test_start: pd.Timestamp
                  ) -> Iterator[tuple[np.ndarray, np.ndarray, np.datetime64]]:
    """Yield (usable-history mask, target-row mask) per cutoff: the validation start for every
    train row, the test start for test rows. Usable = open train days with Sales > 0 before it."""
    is_test = df["_test"].to_numpy()
    dates = df["Date"].to_numpy()
    sales = df["Sales"].to_numpy(dtype=np.float64, na_value=np.nan)
    usable = (~is_test) & (df["Open"].to_numpy() == 1) & (sales > 0)
    for cutoff, rows in ((valid_start, ~is_test), (test_start, is_test)):
        if rows.any():
            cut = np.datetime64(pd.Timestamp(cutoff).to_datetime64())
            yield usable & (dates < cut), rows, cut


class StoreRows(NamedTuple):
    """The per-row arrays the per-store history families group by and average."""
    store_row: np.ndarray  # Store - the smallest Store, a dense index
    n_store: int
    dow: np.ndarray  # 0 = Monday
    promo: np.ndarray
    sales: np.ndarray  # NaN on test rows
    customers: np.ndarray


def store_rows(df: pd.DataFrame) -> StoreRows:
    store = df["Store"].to_numpy().astype(np.int64)
    r = store - int(store.min())
    return StoreRows(r, int(r.max()) + 1, df["DayOfWeek"].to_numpy().astype(np.int64) - 1,
                     df["Promo"].to_numpy().astype(np.int64),
                     df["Sales"].to_numpy(dtype=np.float64, na_value=np.nan),
                     df["Customers"].to_numpy(dtype=np.float64, na_value=np.nan))


HISTORY_COLS = tuple(
    [f"Hist{s}{p}{m}" for p in ("", "Dow", "Promo") for s in ("Sales", "Cust")
     for m in ("Mean", "Median")] + ["HistSalesPerCust"])


def store_history(df: pd.DataFrame, valid_start: pd.Timestamp, test_start: pd.Timestamp) -> pd.DataFrame:
    """Per-store sales history (the winners' features), leak-free.

    Statistics come from open training days with Sales > 0 strictly before a cutoff: the
    validation start for every train row (training and validation part alike), the test start
    for test rows. Nothing on or after the validation start can reach a train row.

    Columns: mean and median Sales and Customers per store, per store x DayOfWeek and per
    store x Promo (``Hist{Sales,Cust}{,Dow,Promo}{Mean,Median}``); ``HistSalesPerCust``.
    """
    r, n_store, dow, promo, sales, cust = store_rows(df)
    # Flat group index per row for each grouping: store, store x weekday, store x promo.
    groupings = (("", r, n_store), ("Dow", r * 7 + dow, n_store * 7), ("Promo", r * 2 + promo, n_store * 2))

    out = {name: np.full(len(df), np.nan, dtype=np.float32) for name in HISTORY_COLS}
    for m, rows, _ in cutoff_parts(df, valid_start, test_start):
        hs = pd.DataFrame({"Sales": sales[m], "Customers": cust[m]})
        for prefix, idx, size in groupings:
            g = hs.groupby(idx[m], sort=False)[["Sales", "Customers"]].agg(["mean", "median"])
            for col, short in (("Sales", "Sales"), ("Customers", "Cust")):
                for stat, sname in (("mean", "Mean"), ("median", "Median")):
                    table = np.full(size, np.nan)
                    table[g.index.to_numpy()] = g[(col, stat)].to_numpy()
                    out[f"Hist{short}{prefix}{sname}"][rows] = table[idx[rows]]
        tot_s = np.bincount(r[m], weights=sales[m], minlength=n_store)
        tot_c = np.bincount(r[m], weights=cust[m], minlength=n_store)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["HistSalesPerCust"][rows] = (tot_s / tot_c)[r[rows]]
    return df.assign(**out)


def closures(df: pd.DataFrame, horizon: int = CLOSURE_HORIZON) -> pd.DataFrame:
    """Days since / until closures, from ``Open`` (known in the test set too).

    - ``DaysSinceClosed`` / ``DaysUntilClosed``: calendar days since the previous / until the
      next closed day (strictly before / after this day), capped at 14.
    - ``DaysSinceRefurb`` / ``DaysUntilRefurb``: calendar days since the end / until the start
      of a run of >= REFURB_MIN_RUN consecutive closed days (a refurbishment), capped at
      ``horizon``.
    NaN where a data gap comes first, since the answer is then unknown (see StoreDayGrid.distance).
    """
    g = StoreDayGrid(df)
    closed = g.scatter((df["Open"].to_numpy() == 0), False)
    # Run lengths of consecutive closed days along each grid row.
    n = g.n_day
    col = np.arange(n)
    start_idx = np.maximum.accumulate(np.where(~closed, col, -1), axis=1) + 1  # run start
    end_idx = np.minimum.accumulate(np.where(~closed, col, n)[:, ::-1], axis=1)[:, ::-1]  # run end excl
    refurb = closed & ((end_idx - start_idx) >= REFURB_MIN_RUN)
    return df.assign(
        DaysSinceClosed=g.gather(g.distance(closed, False, 14, True)),
        DaysUntilClosed=g.gather(g.distance(closed, True, 14, True)),
        DaysSinceRefurb=g.gather(g.distance(refurb, False, horizon, True)),
        DaysUntilRefurb=g.gather(g.distance(refurb, True, horizon, True)),
    )


# Cap of the day counters: beyond a month the exact distance to a holiday or promo carries no signal.
COUNTER_HORIZON = 30
# Cap of the position inside a run of school holidays. Meant for the six-week summer break; the data
# marks weekends as no school holiday, so day_counters' runs last a school week
# (experiments.candidates.school_break bridges the weekends).
RUN_HORIZON = 60
# The farthest day holiday_counts reads: next week's last day, d+7.
WEEK_REACH = 7
COUNTER_EVENTS = ("StateHoliday", "SchoolHoliday", "Promo")


def day_counters(df: pd.DataFrame, horizon: int = COUNTER_HORIZON) -> pd.DataFrame:
    """Calendar days to the next / from the last state holiday, school holiday and promo day, and
    the position inside a run of consecutive school-holiday days.

    - ``DaysTo<X>`` / ``DaysFrom<X>``: 0 on such a day, capped at ``horizon``, NaN when a data gap
      comes first (the answer is unknown). Day-based, unlike fast.ai's row-based After/Before,
      and censored by the pipeline like the test's.
    - ``SchoolHolidayRunDay`` / ``SchoolHolidayRunLeft``: days since the run of consecutive
      school-holiday days started / until it ends (0 outside a run), capped at ``RUN_HORIZON``.
      The data marks weekends as no school holiday at nearly every store, so a run mostly ends
      on a Friday and the counters stay at 1..5 (features/ABLATION.md, eleventh round).
    Needs StateHoliday as bool (state_holiday_bool).
    """
    g = StoreDayGrid(df)
    new = {}
    for col in COUNTER_EVENTS:
        ev = g.scatter(df[col].to_numpy().astype(bool), False)
        new[f"DaysTo{col}"] = g.gather(g.distance(ev, True, horizon, False))
        new[f"DaysFrom{col}"] = g.gather(g.distance(ev, False, horizon, False))
    off = g.scatter(~df["SchoolHoliday"].to_numpy().astype(bool), False)
    new["SchoolHolidayRunDay"] = g.gather(g.distance(off, False, RUN_HORIZON, False))
    new["SchoolHolidayRunLeft"] = g.gather(g.distance(off, True, RUN_HORIZON, False))
    return df.assign(**new)


def holiday_counts(df: pd.DataFrame) -> pd.DataFrame:
    """Holiday days in the coming and the past 7 days (d+1..d+7 and d-7..d-1) and in this
    calendar week (Monday..Sunday): ``<X>NextWeek``, ``<X>LastWeek``, ``<X>ThisWeek``.

    Day-based companions of fast.ai's row-based ``_fw``/``_bw``; NaN when the week touches a
    data gap. Needs StateHoliday as bool (state_holiday_bool).
    """
    g = StoreDayGrid(df)
    new = {}
    weekday = g.weekday()
    sums = WindowSums(g.observed, WEEK_REACH + 1)
    for col in ("StateHoliday", "SchoolHoliday"):
        cum = sums.of(g.scatter(df[col].to_numpy().astype(bool), False))
        new[col + "NextWeek"] = g.gather(sums.count(cum, 1, 8))
        new[col + "LastWeek"] = g.gather(sums.count(cum, -7, 0))
        # This calendar week (Monday..Sunday): the 7-day window starting on its Monday.
        week = np.full((g.n_store, g.n_day), np.nan, dtype=np.float32)
        for k in range(7):
            cols = np.flatnonzero(weekday == k)
            week[:, cols] = sums.count(cum, -k, 7 - k, cols)
        new[col + "ThisWeek"] = g.gather(week)
    return df.assign(**new)


def competition_recent(df: pd.DataFrame, horizon: int = 365) -> pd.DataFrame:
    """``CompetitionOpenedDays``: days since a competitor opened, for stores whose competitor
    opened inside the data (its sales before and after the opening are both seen), capped at
    ``horizon``; -1 before the opening, NaN for the other stores. Needs competition_open()."""
    since = df["CompetitionOpenSince"].to_numpy()
    inside = (since > df["Date"].min().to_datetime64()) & (df["CompetitionOpenSinceYear"].to_numpy() >= 1990)
    days = (df["Date"].to_numpy() - since).astype("timedelta64[D]").astype(np.int64)
    out = np.where(days < 0, -1, np.minimum(days, horizon)).astype(np.float32)
    return df.assign(CompetitionOpenedDays=np.where(inside, out, np.nan).astype(np.float32))


def warn_no_external(data_dir: object) -> None:
    """Said once per build: the external tables are optional."""
    warnings.warn(f"no external tables under {data_dir}: building without State, weather and "
                  "Google-trend columns", UserWarning, stacklevel=3)
