"""Each feature family on tiny hand-made frames."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from features import families as fam
from features.calendar import carnival, month_turn
from features.pipeline import combine


def frame(store: list[int], dates: list[str], **cols) -> pd.DataFrame:
    df = pd.DataFrame({"Store": np.asarray(store, dtype=np.int32),
                       "Date": pd.to_datetime(dates).astype("datetime64[us]")})
    for k, v in cols.items():
        df[k] = v
    return df


def test_date_parts_elapsed_is_seconds_for_any_unit():
    dates = ["1970-01-02", "2015-01-01", "2013-12-30", "2015-03-31"]
    for unit in ("us", "ns", "s"):
        df = frame([1] * 4, dates)
        df["Date"] = df["Date"].astype(f"datetime64[{unit}]")
        out = fam.date_parts(df)
        assert out["Elapsed"].tolist() == [86_400, 1_420_070_400, 1_388_361_600, 1_427_760_000]
    assert out["Week"].tolist() == [1, 1, 1, 14]  # ISO weeks: 2013-12-30 is week 1 of 2014
    assert out["Year"].tolist() == [1970, 2015, 2013, 2015]  # calendar year, as fast.ai
    assert out["Dayofweek"].tolist() == [4, 3, 0, 1]
    assert out["Is_quarter_end"].tolist() == [False, False, False, True]
    assert out["Is_year_start"].tolist() == [False, True, False, False]
    assert "Elapsed" not in df.columns  # pure: the input is untouched


def test_competition_definitions():
    df = frame([1, 1, 2, 3, 4], ["2015-01-14", "2015-01-16", "2015-01-16", "2015-01-16", "2015-01-16"],
               CompetitionOpenSinceYear=[2015.0, 2015.0, np.nan, 1961.0, 2010.0],
               CompetitionOpenSinceMonth=[1.0, 1.0, np.nan, 3.0, 1.0])
    out = fam.competition_open(df)
    assert out["CompetitionOpenSince"].tolist()[0] == pd.Timestamp("2015-01-15")
    # before opening -> 0; day after the 15th -> 1; missing -> 1900 -> 0; year < 1990 -> 0
    assert out["CompetitionDaysOpen"].tolist() == [0, 1, 0, 0, 1827]
    assert out["CompetitionOpenSinceYear"].tolist() == [2015, 2015, 1900, 1961, 2010]
    assert out["CompetitionOpenSinceMonth"].tolist() == [1, 1, 1, 3, 1]
    assert out["CompetitionMonthsOpen"].tolist() == [0, 0, 0, 0, 24]  # 1827 // 30 = 60 -> cap 24


@pytest.mark.parametrize("year,week,monday", [(2010, 13, "2010-03-29"), (2009, 45, "2009-11-02"),
                                              (2015, 1, "2014-12-29"), (2013, 1, "2012-12-31"),
                                              (2012, 53, "2012-12-31")])
def test_promo2_since_is_monday_of_iso_week(year, week, monday):
    df = frame([1], ["2015-06-01"], Promo2SinceYear=[float(year)], Promo2SinceWeek=[float(week)])
    assert fam.promo2(df)["Promo2Since"].iat[0] == pd.Timestamp(monday)


def test_promo2_days_and_weeks():
    df = frame([1, 1, 2, 3], ["2010-03-28", "2010-04-12", "2015-01-01", "2015-01-01"],
               Promo2SinceYear=[2010.0, 2010.0, np.nan, 2010.0], Promo2SinceWeek=[13.0, 13.0, np.nan, 13.0])
    out = fam.promo2(df)
    assert out["Promo2Days"].tolist() == [0, 14, 0, 1739]
    assert out["Promo2Weeks"].tolist() == [0, 2, 0, 25]
    assert out["Promo2SinceYear"].tolist() == [2010, 2010, 1900, 2010]


def _events_frame() -> pd.DataFrame:
    # Store 1: 9 rows with a gap (no rows 01-06..01-09); store 2: 3 rows.
    d1 = ["2015-01-01", "2015-01-02", "2015-01-03", "2015-01-04", "2015-01-05",
          "2015-01-10", "2015-01-11", "2015-01-12", "2015-01-13"]
    d2 = ["2015-01-01", "2015-01-02", "2015-01-03"]
    promo = [0, 1, 1, 0, 0, 0, 1, 0, 0] + [1, 0, 0]
    return frame([1] * 9 + [2] * 3, d1 + d2, Promo=np.array(promo, np.int8),
                 SchoolHoliday=np.zeros(12, np.int8), StateHoliday=np.zeros(12, bool))


def test_events_after_before():
    out = fam.event_durations(_events_frame())
    s1 = out[out["Store"] == 1]
    # days since the last promo row (0 on it, 0 before the first one)
    assert s1["AfterPromo"].tolist() == [0, 0, 0, 1, 2, 7, 0, 1, 2]
    # fast.ai's Before is (date - next promo date) <= 0; 0 where none follows
    assert s1["BeforePromo"].tolist() == [-1, 0, 0, -7, -6, -1, 0, 0, 0]
    s2 = out[out["Store"] == 2]  # store 1's promos do not leak into store 2
    assert s2["AfterPromo"].tolist() == [0, 1, 2] and s2["BeforePromo"].tolist() == [0, 0, 0]


def test_events_rolling_counts_rows_not_days():
    out = fam.event_durations(_events_frame())
    s1 = out[out["Store"] == 1]
    # 7 ROWS ending here, current included: on 01-13 they are 01-03, 01-04, 01-05, 01-10..01-13
    # (the gap is skipped), holding the promos of 01-03 and 01-11
    assert s1["Promo_bw"].tolist() == [0, 1, 2, 2, 2, 2, 3, 3, 2]
    # 7 ROWS starting here: from 01-04 they are 01-04, 01-05, 01-10..01-13 (6 rows left)
    assert s1["Promo_fw"].tolist() == [3, 3, 2, 1, 1, 1, 1, 0, 0]
    assert out[out["Store"] == 2]["Promo_bw"].tolist() == [1, 1, 1]


def test_events_do_not_depend_on_row_order():
    df = _events_frame()
    shuffled = df.sample(frac=1.0, random_state=0)
    a = fam.event_durations(df).sort_values(["Store", "Date"]).reset_index(drop=True)
    b = fam.event_durations(shuffled).sort_values(["Store", "Date"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_state_holiday_bool():
    df = frame([1] * 4, ["2015-01-01", "2015-01-02", "2015-01-03", "2015-01-04"],
               StateHoliday=pd.array(["0", "a", "b", "c"], dtype="str"))
    assert fam.state_holiday_bool(df)["StateHoliday"].tolist() == [False, True, True, True]
    df["StateHoliday"] = pd.Categorical(["0", "a", "0", "c"])
    assert fam.state_holiday_bool(df)["StateHoliday"].tolist() == [False, True, False, True]


def test_google_trend_week_keys_and_germany():
    gt = pd.DataFrame({"file": ["Rossmann_DE_NI", "Rossmann_DE_NI", "Rossmann_DE", "Rossmann_DE", "Rossmann_DE_BE"],
                       "week": ["2015-06-14 - 2015-06-20", "2015-06-21 - 2015-06-27",
                                "2015-06-14 - 2015-06-20", "2015-06-21 - 2015-06-27", "2015-06-21 - 2015-06-27"],
                       "trend": [10, 20, 30, 40, 50]})
    df = frame([1, 2, 3], ["2015-06-19", "2015-06-19", "2015-06-19"],
               State=pd.Categorical(["HB,NI", "BE", None]))
    df = fam.date_parts(df)
    out = fam.google_trend(df, gt)
    # 2015-06-19 is in ISO week 25; the Google week starting Sunday 06-21 is keyed to week 25.
    assert out["trend"].tolist()[:2] == [20, 50] and np.isnan(out["trend"].iat[2])
    assert out["trend_DE"].tolist() == [40, 40, 40]


def test_weather_join_through_state_names():
    names = pd.DataFrame({"StateName": ["Niedersachsen", "Bremen"], "State": ["HB,NI", "HB"]})
    w = pd.DataFrame({"file": ["Niedersachsen", "Bremen", "Niedersachsen"],
                      "Date": pd.to_datetime(["2015-01-01", "2015-01-01", "2015-01-02"]),
                      "Max_TemperatureC": [5, 7, 6], "Events": ["Rain", None, "Snow"]})
    df = frame([1, 1, 2], ["2015-01-01", "2015-01-02", "2015-01-03"], State=pd.Categorical(["HB,NI", "HB,NI", "HB"]))
    out = fam.weather(df, w, names)
    assert out["Max_TemperatureC"].tolist()[:2] == [5, 6] and np.isnan(out["Max_TemperatureC"].iat[2])
    assert out["Events"].astype(object).tolist()[:2] == ["Rain", "Snow"]


def test_store_join_and_states():
    store = pd.DataFrame({"Store": np.array([1, 2], np.int32), "StoreType": ["a", "c"],
                          "CompetitionDistance": [100.0, np.nan], "PromoInterval": ["", "Jan,Apr,Jul,Oct"]})
    ss = pd.DataFrame({"Store": [1, 2], "State": ["HE\r", "HB,NI"]})
    df = frame([2, 1, 2], ["2015-01-01", "2015-01-01", "2015-01-02"])
    out = fam.add_store(df, store, ss)
    assert out["StoreType"].astype(str).tolist() == ["c", "a", "c"]
    assert out["State"].astype(str).tolist() == ["HB,NI", "HE", "HB,NI"]
    assert np.isnan(out["CompetitionDistance"].iat[0])


def test_closures_refurbishment_and_gaps():
    dates = pd.date_range("2015-01-01", "2015-01-20").strftime("%Y-%m-%d").tolist()
    open_ = np.ones(20, np.int8)
    open_[[4]] = 0          # 01-05: a single closed day
    open_[9:13] = 0         # 01-10..01-13: a 4-day refurbishment
    df = frame([1] * 20, dates, Open=open_)
    df = df[df["Date"] != "2015-01-18"]  # a missing day
    out = fam.closures(df).set_index("Date")
    assert out.loc["2015-01-09", "DaysUntilRefurb"] == 1
    assert out.loc["2015-01-14", "DaysSinceRefurb"] == 1
    # before the first day of data the answer is unknown, not "long ago"
    assert np.isnan(out.loc["2015-01-03", "DaysSinceRefurb"])
    assert out.loc["2015-01-17", "DaysSinceRefurb"] == 4
    assert np.isnan(out.loc["2015-01-20", "DaysSinceRefurb"])  # the missing 01-18 comes between
    assert out.loc["2015-01-04", "DaysUntilClosed"] == 1
    assert out.loc["2015-01-06", "DaysSinceClosed"] == 1
    # the next closed day after 01-14 is unknown: 01-18 is missing before any closure
    assert np.isnan(out.loc["2015-01-14", "DaysUntilClosed"])


def test_holiday_counts_next_and_last_week():
    dates = pd.date_range("2015-01-01", "2015-01-20").strftime("%Y-%m-%d").tolist()
    sh = np.zeros(20, bool)
    sh[[7, 9]] = True  # 01-08 and 01-10
    df = frame([1] * 20, dates, StateHoliday=sh, SchoolHoliday=np.zeros(20, np.int8))
    out = fam.holiday_counts(df).set_index("Date")
    assert out.loc["2015-01-03", "StateHolidayNextWeek"] == 2  # 01-04..01-10
    assert out.loc["2015-01-08", "StateHolidayNextWeek"] == 1  # itself excluded
    assert out.loc["2015-01-12", "StateHolidayLastWeek"] == 2
    assert np.isnan(out.loc["2015-01-15", "StateHolidayNextWeek"])  # runs past the data


def test_history_respects_cutoffs():
    dates = ["2015-01-05", "2015-01-06", "2015-01-12", "2015-01-13", "2015-01-19"]
    df = frame([1] * 5, dates, DayOfWeek=np.array([1, 2, 1, 2, 1], np.int8),
               Promo=np.array([1, 0, 1, 0, 0], np.int8), Open=np.ones(5, np.int8),
               Sales=[100.0, 200.0, 300.0, 1e6, np.nan], Customers=[10.0, 20.0, 30.0, 1e5, np.nan],
               _test=np.array([False, False, False, False, True]))
    out = fam.store_history(df, pd.Timestamp("2015-01-13"), pd.Timestamp("2015-01-19"))
    train_rows = out[~out["_test"]]
    assert (train_rows["HistSalesMean"] == 200).all()  # 100, 200, 300: nothing from 01-13 on
    assert (train_rows["HistSalesDowMean"].tolist() == [200, 200, 200, 200])  # Mon: 100, 300; Tue: 200
    assert train_rows["HistSalesPromoMean"].tolist() == [200, 200, 200, 200]  # promo: 100, 300; none: 200
    test_row = out[out["_test"]].iloc[0]
    assert test_row["HistSalesMean"] == pytest.approx((100 + 200 + 300 + 1e6) / 4)
    assert train_rows["HistSalesPerCust"].iat[0] == pytest.approx(10.0)


def test_holiday_counts_this_calendar_week():
    dates = pd.date_range("2015-01-05", "2015-01-25").strftime("%Y-%m-%d").tolist()  # Mon 01-05 .. Sun 01-25
    sh = np.zeros(21, bool)
    sh[[2, 4, 8]] = True  # Wed 01-07, Fri 01-09, Tue 01-13
    df = frame([1] * 21, dates, StateHoliday=sh, SchoolHoliday=np.zeros(21, np.int8))
    out = fam.holiday_counts(df).set_index("Date")
    assert out.loc["2015-01-05":"2015-01-11", "StateHolidayThisWeek"].tolist() == [2] * 7
    assert out.loc["2015-01-12":"2015-01-18", "StateHolidayThisWeek"].tolist() == [1] * 7
    assert out.loc["2015-01-19":"2015-01-25", "StateHolidayThisWeek"].tolist() == [0] * 7
    short = fam.holiday_counts(df[df["Date"] <= "2015-01-21"]).set_index("Date")
    assert short.loc["2015-01-19":, "StateHolidayThisWeek"].isna().all()  # the week runs past the data


def test_day_counters_are_days_capped_and_unknown_across_gaps():
    dates = pd.date_range("2015-01-01", "2015-01-31").strftime("%Y-%m-%d").tolist()
    sh = np.zeros(31, bool)
    sh[[10]] = True  # 01-11
    school = np.zeros(31, np.int8)
    school[14:20] = 1  # 01-15..01-20
    df = frame([1] * 31, dates, StateHoliday=sh, SchoolHoliday=school, Promo=np.zeros(31, np.int8))
    df = df[df["Date"] != "2015-01-25"]  # a missing day
    out = fam.day_counters(df, horizon=7).set_index("Date")
    assert out.loc["2015-01-08", "DaysToStateHoliday"] == 3 and out.loc["2015-01-11", "DaysToStateHoliday"] == 0
    assert out.loc["2015-01-13", "DaysFromStateHoliday"] == 2
    assert out.loc["2015-01-01", "DaysToStateHoliday"] == 7  # capped at the horizon
    assert np.isnan(out.loc["2015-01-02", "DaysFromStateHoliday"])  # before the data: unknown
    assert out.loc["2015-01-15", "SchoolHolidayRunDay"] == 1 and out.loc["2015-01-18", "SchoolHolidayRunDay"] == 4
    assert out.loc["2015-01-18", "SchoolHolidayRunLeft"] == 3 and out.loc["2015-01-22", "SchoolHolidayRunDay"] == 0
    assert np.isnan(out.loc["2015-01-22", "DaysToPromo"])  # the missing 01-25 comes first


def test_competition_recent_only_for_openings_inside_the_data():
    df = frame([1, 1, 1, 2], ["2014-01-01", "2014-06-14", "2014-06-30", "2014-06-30"],
               CompetitionOpenSinceYear=[2014.0, 2014.0, 2014.0, 2010.0],
               CompetitionOpenSinceMonth=[6.0, 6.0, 6.0, 1.0])
    out = fam.competition_recent(fam.competition_open(df))
    assert out["CompetitionOpenedDays"].iloc[:3].tolist() == [-1, -1, 15]  # opens on 06-15
    assert np.isnan(out["CompetitionOpenedDays"].iat[3])  # opened before the data starts


def test_combine_rejects_overlapping_train_and_test():
    tr = frame([1, 1], ["2015-01-01", "2015-01-02"], DayOfWeek=np.int8(4), Sales=[1, 2], Customers=[1, 1],
               Open=np.int8(1), Promo=np.int8(0), StateHoliday="0", SchoolHoliday=np.int8(0))
    te = frame([1], ["2015-01-02"], Id=[1], DayOfWeek=np.int8(5), Open=np.int8(1), Promo=np.int8(0),
               StateHoliday="0", SchoolHoliday=np.int8(0))
    with pytest.raises(DataError, match="more than one row"):
        combine(tr, te)
    ok = combine(tr, te.assign(Date=pd.Timestamp("2015-01-03")))
    assert ok["_test"].tolist() == [False, False, True] and ok["Id"].tolist() == [-1, -1, 1]


def test_month_turn_counts_days_and_shopping_days_to_the_month_ends() -> None:
    """From the calendar alone: whole months, even for the first and the last one in the table."""
    df = pd.DataFrame({"Date": pd.date_range("2015-05-25", "2015-07-03")})
    out = month_turn(df).set_index("Date")
    row = out.loc["2015-05-30"]  # Saturday, the month's last shopping day (31 May is a Sunday)
    assert (row["DaysToMonthEnd"], row["ShopDaysToMonthEnd"], row["ShopDaysFromMonthStart"]) == (1, 0, 25)
    assert out.loc["2015-06-01", "ShopDaysFromMonthStart"] == 0 and out.loc["2015-06-30", "DaysToMonthEnd"] == 0
    # The last month is counted to its true end, not to the table's last date.
    assert out.loc["2015-07-03", "DaysToMonthEnd"] == 28 and out.loc["2015-07-03", "ShopDaysToMonthEnd"] == 24
    # The first month from its true start: 25 May 2015 had 20 shopping days before it.
    assert out.loc["2015-05-25", "ShopDaysFromMonthStart"] == 20


def test_carnival_days_follow_easter():
    # Rosenmontag: 2013-02-11, 2014-03-03, 2015-02-16 (Easter Sunday - 48 days); Weiberfastnacht is
    # the Thursday before (-4), Shrove Tuesday the day after (+1); Ash Wednesday is no longer carnival.
    df = pd.DataFrame({"Store": 1, "Date": pd.to_datetime(["2013-02-07", "2013-02-11", "2014-03-03", "2014-03-04",
                                                           "2014-03-05", "2015-02-16", "2015-08-01"])})
    out = carnival(df)
    np.testing.assert_array_equal(out["CarnivalDay"], [-4, 0, 0, 1, np.nan, 0, np.nan])
    assert out["CarnivalDay"].dtype == np.float32 and list(out.columns) == ["Store", "Date", "CarnivalDay"]
