"""The candidate families of ``experiments/candidates.py`` on hand-made frames."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from competition.pseudo_test import PeriodShape
from experiments import candidates
from features import families as fam
from features.grid import day_number
from features.pipeline import block_starts
from tests.features.test_families import frame


def test_promo2_month_handles_sept_and_start():
    df = frame([1, 1, 1, 2], ["2014-09-03", "2014-10-01", "2013-09-03", "2014-09-03"],
               Promo2=np.array([1, 1, 1, 0], np.int8), PromoInterval=["Mar,Jun,Sept,Dec"] * 3 + [""],
               Promo2SinceYear=[2014.0] * 3 + [np.nan], Promo2SinceWeek=[1.0] * 3 + [np.nan])
    out = candidates.promo2_month(fam.promo2(fam.date_parts(df)))
    assert out["IsPromo2Month"].tolist() == [1, 0, 0, 0]  # 2013 is before Promo2Since


def test_history_spans_end_at_the_history_cut_and_respect_cutoffs():
    dates = pd.date_range("2014-01-01", "2015-01-31")
    n = len(dates)
    sales = np.where(dates < "2014-12-01", 100.0, 400.0)  # the last two months sell 4x
    sales[dates >= "2015-01-15"] = 1e6  # after the validation cutoff: never seen by train rows
    is_test = np.asarray(dates >= "2015-01-25")
    df = frame([1] * n, dates.strftime("%Y-%m-%d").tolist(), DayOfWeek=(dates.day_of_week + 1).astype(np.int8),
               Promo=np.zeros(n, np.int8), Open=np.ones(n, np.int8), Sales=np.where(is_test, np.nan, sales),
               Customers=np.where(is_test, np.nan, sales / 10), _test=is_test)
    out = candidates.history_spans(df, pd.Timestamp("2015-01-15"), pd.Timestamp("2015-01-25"))
    train_row, test_row = out[~out["_test"]].iloc[0], out[out["_test"]].iloc[0]
    # Train rows: the 91 days up to 01-14 are 45 days at 400 and 46 at 100.
    assert train_row["HistSales91Mean"] == pytest.approx((45 * 400 + 46 * 100) / 91)
    assert train_row["HistSales365Median"] == 100
    all_mean = (334 * 100 + 45 * 400) / 379
    assert train_row["HistSalesTrend91"] == pytest.approx(train_row["HistSales91Mean"] / all_mean)
    # Test rows: everything before the test start, the 1e6 days included.
    assert test_row["HistSales91Mean"] > 1e5 and test_row["HistSalesStd"] > 0
    assert set(candidates.history_span_columns()) <= set(out.columns)


def test_lagged_level_sees_only_the_days_before_its_own_gap():
    # Two stores, 2014-01-01..2014-12-31 train, a 10-day gap, then a 20-day test.
    dates = pd.date_range("2014-01-01", "2015-01-30")
    is_test = np.asarray(dates >= "2015-01-11")
    gap_days = np.asarray((dates > "2014-12-31") & ~is_test)
    dates, is_test = dates[~gap_days], is_test[~gap_days]
    n = len(dates)
    rng = np.random.default_rng(0)
    sales = rng.uniform(50, 150, size=(2, n))
    df = pd.concat([frame([s] * n, dates.strftime("%Y-%m-%d").tolist(), Open=np.ones(n, np.int8),
                          Sales=np.where(is_test, np.nan, sales[s - 1]),
                          Customers=np.where(is_test, np.nan, sales[s - 1] / 10), _test=is_test)
                    for s in (1, 2)], ignore_index=True)
    shape = PeriodShape(n_days=20, gap=10)
    starts = block_starts(df, shape)
    out = candidates.lagged_level(df, starts, shape.gap, pd.Timestamp("2015-01-01"), spans=(30,), min_days=5)
    day = day_number(df["Date"])
    # Test rows: the cut is the last train day; train rows: the day `gap + 1` before their block.
    assert (starts[df["_test"].to_numpy()] == day_number(pd.Series([pd.Timestamp("2015-01-11")]))[0]).all()
    horizon = out["LagHorizon"].to_numpy()
    assert horizon.min() == 11 and horizon.max() == 30 and (horizon == day - (starts - 11)).all()
    # Brute force for every row: the mean over the 30 days ending at its cut.
    for i in rng.choice(len(df), 60, replace=False):
        cut = starts[i] - 11
        same = (df["Store"] == df["Store"].iat[i]) & (day <= cut) & (day > cut - 30) & ~df["_test"]
        want = df.loc[same, "Sales"].mean() if same.sum() >= 5 else np.nan
        assert out["LagSales30Mean"].iat[i] == pytest.approx(want, rel=1e-5, nan_ok=True)
        dow = same & (df["Date"].dt.day_of_week == df["Date"].iat[i].day_of_week)
        want = df.loc[dow, "Sales"].mean() if dow.sum() >= 1 else np.nan
        assert out["LagSalesDow30Mean"].iat[i] == pytest.approx(want, rel=1e-5, nan_ok=True)
    # Nothing on or after a row's cut reaches it: change every sale after the first block's cut.
    first_cut = np.sort(np.unique(starts))[1] - 11
    changed = df.assign(Sales=np.where(day > first_cut, df["Sales"] * 1000, df["Sales"]))
    again = candidates.lagged_level(changed, starts, shape.gap, pd.Timestamp("2015-01-01"), spans=(30,), min_days=5)
    rows = starts <= first_cut + 11
    np.testing.assert_array_equal(out.loc[rows, "LagSales30Mean"], again.loc[rows, "LagSales30Mean"])
    assert np.isnan(out["LagSales30Mean"].iat[0])  # the first block has no history
    assert set(candidates.lagged_level_columns((30,))) <= set(out.columns)
    # With the validation start on 12-01, no train row sees a day after 11-30; test rows still do.
    early = candidates.lagged_level(df, starts, shape.gap, pd.Timestamp("2014-12-01"), spans=(30,), min_days=5)
    late_train = ~df["_test"].to_numpy() & (starts - 11 >= day_number(pd.Series([pd.Timestamp("2014-11-30")]))[0])
    assert late_train.any() and (early["LagHorizon"].to_numpy()[late_train] > horizon[late_train]).all()
    nov = df[(df["Store"] == 1) & (df["Date"] > "2014-10-31") & (df["Date"] <= "2014-11-30")]["Sales"].mean()
    assert early.loc[late_train & (df["Store"] == 1).to_numpy(), "LagSales30Mean"].to_numpy() == pytest.approx(nov)
    test_rows = df["_test"].to_numpy()
    np.testing.assert_array_equal(early.loc[test_rows, "LagSales30Mean"], out.loc[test_rows, "LagSales30Mean"])


def test_payday_is_the_months_last_bank_working_day():
    # 2013-08-31 is a Saturday: payday is Friday 08-30; 2014-12-31 is a bank closing day: 12-30;
    # 2018-03-30 is Good Friday: Thursday 03-29; 2015-06-30 is a Tuesday: itself.
    dates = ["2013-08-29", "2013-08-30", "2013-08-31", "2013-09-02", "2014-12-30", "2014-12-31",
             "2018-03-29", "2018-03-30", "2015-06-30", "2015-07-01"]
    out = candidates.payday(frame([1] * len(dates), dates))
    np.testing.assert_array_equal(out["DaysFromPayday"], [29, 0, 1, 3, 0, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(out["DaysToPayday"], [1, 0, 30, 28, 0, 30, 0, 31, 0, 30])
    assert out["DaysFromPayday"].dtype == np.float32
    # From the calendar alone: a row's values do not depend on which other rows are in the frame.
    alone = candidates.payday(frame([1], ["2013-08-31"]))
    assert alone["DaysFromPayday"].tolist() == [1] and alone["DaysToPayday"].tolist() == [30]


def test_season_index_is_the_year_ago_weeks_over_the_level_before_the_cutoff():
    # Store 1 sells 100 a day and 300 in July 2014; store 2 has no rows from 2014-07-01 to 12-31
    # (a data gap), so its July 2015 looks two years back, to July 2013 (200).
    dates = pd.date_range("2013-01-01", "2015-08-31")
    base = np.where((dates >= "2014-07-01") & (dates <= "2014-07-31"), 300.0, 100.0)
    base2 = np.where((dates >= "2013-07-01") & (dates <= "2013-07-31"), 200.0, 100.0)
    valid_start, test_start = pd.Timestamp("2015-06-01"), pd.Timestamp("2015-07-01")
    after = np.asarray(dates >= valid_start)
    base[after & np.asarray(dates < test_start)] = 1e6  # the window: train rows never see it
    keep2 = np.asarray((dates < "2014-07-01") | (dates > "2014-12-31"))
    is_test = np.asarray(dates >= test_start)
    stores = [1] * len(dates) + [2] * int(keep2.sum())
    all_dates = dates.append(dates[keep2])
    test_col = np.r_[is_test, is_test[keep2]]
    sales = np.r_[base, base2[keep2]]
    df = frame(stores, all_dates.strftime("%Y-%m-%d").tolist(), Open=np.ones(len(stores), np.int8),
               Sales=np.where(test_col, np.nan, sales), _test=test_col)
    out = candidates.season_index(df, valid_start, test_start)
    si = out["SeasonIndex"].to_numpy()
    assert si.dtype == np.float32
    row = {(s, str(d.date())): i for i, (s, d) in enumerate(zip(df["Store"], df["Date"]))}
    # 2015-07-28 (test) looks at 2014-07-15..08-11: 17 days at 300, 11 at 100 (364 days back,
    # 14 days each side); the level is every open day before the test start, the window's 1e6 too.
    level1 = sales[:len(dates)][~is_test].mean()
    assert si[row[1, "2015-07-28"]] == pytest.approx((17 * 300 + 11 * 100) / 28 / level1, rel=1e-5)
    # A train row's level stops at the validation start.
    level1_train = sales[:len(dates)][np.asarray(dates < valid_start)].mean()
    assert si[row[1, "2015-04-15"]] == pytest.approx(100 / level1_train, rel=1e-5)
    # Store 2: a year back is the gap, so two years back: 2013-07-15..08-11, 17 days at 200.
    level2 = base2[keep2 & ~is_test].mean()
    assert si[row[2, "2015-07-27"]] == pytest.approx((17 * 200 + 11 * 100) / 28 / level2, rel=1e-5)
    # Only whole four weeks count: the first is 2013-01-01..01-28, a year before 2014-01-14.
    assert np.isnan(si[row[1, "2014-01-13"]]) and si[row[1, "2014-01-14"]] == pytest.approx(100 / level1_train)


def test_school_break_counts_the_weekends_and_holidays_inside_a_break():
    # As in the data: school holidays on weekdays only. Store 1's summer break runs Monday
    # 2014-07-07 to Friday 08-15, with Thursday 07-24 a state holiday and no school day; one
    # school-holiday Wednesday (06-11) stands alone. Store 2 has the same days, but no rows after 07-31.
    dates = pd.date_range("2014-06-01", "2014-08-31")
    weekday = np.asarray(dates.day_of_week < 5)
    summer = np.asarray((dates >= "2014-07-07") & (dates <= "2014-08-15")) & weekday
    state = np.asarray(dates == "2014-07-24")
    school = (summer & ~state) | np.asarray(dates == "2014-06-11")
    keep2 = np.asarray(dates <= "2014-07-31")
    df = frame([1] * len(dates) + [2] * int(keep2.sum()),
               dates.append(dates[keep2]).strftime("%Y-%m-%d").tolist(),
               SchoolHoliday=np.r_[school, school[keep2]].astype(np.int8), StateHoliday=np.r_[state, state[keep2]])
    out = candidates.school_break(df)
    row = {(s, str(d.date())): i for i, (s, d) in enumerate(zip(df["Store"], df["Date"]))}

    def at(store: int, date: str) -> tuple[float, float]:
        i = row[store, date]
        return out["SchoolBreakDay"].to_numpy()[i], out["SchoolBreakLeft"].to_numpy()[i]

    # The break takes in the weekend before its first Monday and the one after its last Friday:
    # Saturday 07-05 to Sunday 08-17, 44 days; day_counters' run counters restart every Monday.
    assert at(1, "2014-07-04") == (0, 0) and at(1, "2014-08-18") == (0, 0)
    assert at(1, "2014-07-05") == (1, 44) and at(1, "2014-08-17") == (44, 1)
    assert at(1, "2014-07-12") == (8, 37)  # a Saturday inside
    assert at(1, "2014-07-24") == (20, 25)  # the state holiday inside
    assert at(1, "2014-06-11") == (1, 1) and at(1, "2014-06-28") == (0, 0)  # a lone day; a plain weekend
    # Store 2's break runs into its data gap: how long it has lasted is known, how long it lasts is not.
    day, left = at(2, "2014-07-31")
    assert day == 27 and np.isnan(left)
    day, left = at(2, "2014-07-05")
    assert day == 1 and np.isnan(left)
    assert at(2, "2014-07-04") == (0, 0)
