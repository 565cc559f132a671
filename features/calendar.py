"""Days from the calendar alone, so a test row knows them as well as a train row: carnival (a
default family, LightGBM only), and where a day lies in its month (the report's month-turn segment,
and a candidate family in ``experiments/candidates.py``)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from dateutil.easter import easter

from features.grid import day_number, with_columns

# Carnival: Weiberfastnacht (the Thursday) to Shrove Tuesday, fixed by Easter (Rosenmontag is
# Easter Sunday - 48 days). No holiday in the data, yet in the Rhineland many shops close early on
# those days: on ../shared 51 of the 56 store-days of the winter window that sold under a third of
# their usual fall on them (docs/RESULTS.md, issue 24's fourth and fifth rounds).
CARNIVAL_FROM, CARNIVAL_TO = -4, 1  # days from Rosenmontag
ROSENMONTAG_BEFORE_EASTER = 48


def carnival(df: pd.DataFrame) -> pd.DataFrame:
    """``CarnivalDay``: the day's offset from Rosenmontag, from Weiberfastnacht (-4) to Shrove
    Tuesday (1); NaN on every other day. The same for every state: the model pairs it with State."""
    dates = df["Date"]
    years = dates.dt.year
    rosenmontag = {int(y): pd.Timestamp(easter(int(y))) - pd.Timedelta(days=ROSENMONTAG_BEFORE_EASTER)
                   for y in years.unique()}
    offset = (dates - years.map(rosenmontag)).dt.days
    return df.assign(CarnivalDay=offset.where(offset.between(CARNIVAL_FROM, CARNIVAL_TO)).astype(np.float32))


def month_calendar(day: np.ndarray, pad_months: int = 0) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Every date of the whole months that ``day`` (day numbers, ``features.grid.day_number``)
    touches, ``pad_months`` more on each side, and each row's position in that calendar."""
    lo = pd.Timestamp(np.datetime64(int(day.min()), "D")).to_period("M").start_time - pd.DateOffset(months=pad_months)
    hi = pd.Timestamp(np.datetime64(int(day.max()), "D")).to_period("M").end_time + pd.DateOffset(months=pad_months)
    cal = pd.date_range(lo.normalize(), hi.normalize(), freq="D")
    return cal, day - int(day_number(pd.Series(cal[:1]))[0])


MONTH_TURN_COLS = ("DaysToMonthEnd", "ShopDaysToMonthEnd", "ShopDaysFromMonthStart")


def month_turn(df: pd.DataFrame) -> pd.DataFrame:
    """Where the day lies in its month, counted from its ends: German salaries come on the last
    working day of the month, and open days sell above their store's level around the turn of
    the month (features/ABLATION.md, "Seventh round").

    - ``DaysToMonthEnd``: calendar days left in the month after this one (0 on the last day);
    - ``ShopDaysToMonthEnd`` / ``ShopDaysFromMonthStart``: Monday-to-Saturday days after this one
      until the month ends / before it since the month began (0 on the month's last / first
      shopping day).
    From the calendar alone, so a test row knows them as well as a train row.
    """
    day = day_number(df["Date"])
    # Whole months, so that the first and the last month are counted from their true ends.
    cal, idx = month_calendar(day)
    month = np.asarray(cal.year * 12 + cal.month)
    shop = np.asarray(cal.day_of_week < 6).astype(np.int64)
    # Shopping days up to and including each day, and the same count at each month's start and end.
    upto = np.cumsum(shop)
    first = np.r_[True, month[1:] != month[:-1]]
    last = np.r_[month[1:] != month[:-1], True]
    start_count = np.maximum.accumulate(np.where(first, upto - shop, 0))
    end_count = np.minimum.accumulate(np.where(last, upto, np.iinfo(np.int64).max)[::-1])[::-1]
    table = {"DaysToMonthEnd": np.asarray(cal.days_in_month - cal.day),
             "ShopDaysToMonthEnd": end_count - upto,
             "ShopDaysFromMonthStart": upto - shop - start_count}
    return with_columns(df, {k: v[idx].astype(np.float32) for k, v in table.items()})
