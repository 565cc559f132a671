"""The feature tables of ../shared/rossmann: fast.ai definitions, row counts, no leakage."""
from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from experiments.candidates import CANDIDATE_FAMILIES
from features.cli import build
from features.columns import CAT_COLS, CONT_COLS
from features.pipeline import build_features
from features.registry import DEFAULT_FAMILIES

from .fastai_reference import reference

pytestmark = pytest.mark.realdata

# 1: first store; 13: one of the 180 stores without rows for 2014-07-01..2014-12-31;
# 622: blank Open in test; 2: Promo2 store; 1115: last store; 20: second gap store.
REF_STORES = [1, 2, 13, 20, 622, 1115]


def row(df: pd.DataFrame, store: int, date: str) -> pd.Series:
    hit = df[(df["Store"] == store) & (df["Date"] == pd.Timestamp(date))]
    assert len(hit) == 1, (store, date)
    return hit.iloc[0]


def test_fastai_row_count(real_build):
    """fast.ai's joined table keeps the train rows with Sales > 0: exactly 804,056."""
    tr = real_build.train
    assert int((tr["Sales"] > 0).sum()) == 804_056
    assert real_build.meta["n_train_sales_gt0"] == 804_056
    assert len(tr) == 970_379 and len(real_build.test) == 41_088  # every row kept
    assert tr["Closed"].sum() == (tr["Open"] == 0).sum()


def test_output_contract(real_build):
    tr, te = real_build.train, real_build.test
    for c in [c for c in CAT_COLS + CONT_COLS]:
        assert c in tr.columns and c in te.columns, c
    assert {"Sales", "Customers", "Open", "Closed", "Store", "Date"} <= set(tr.columns)
    assert "Id" in te.columns and "Sales" not in te.columns
    assert te["Id"].tolist() == list(range(1, len(te) + 1))
    assert not tr.duplicated(["Store", "Date"]).any()
    meta = real_build.meta
    assert meta["valid_start"] == "2015-05-03" and meta["test_start"] == "2015-08-01"


def test_hand_computed_store_1(real_build):
    """Store 1 (HE, competition since 2008-09, no Promo2) on 2015-06-19, the last train day."""
    r = row(real_build.train, 1, "2015-06-19")
    assert (r.State, r.StoreType, r.Assortment) == ("HE", "c", "a")
    assert (r.Year, r.Month, r.Week, r.Day, r.Dayofweek, r.Dayofyear) == (2015, 6, 25, 19, 4, 170)
    assert r.Elapsed == 1434672000  # seconds since the epoch, not micro/milliseconds
    assert r.CompetitionDaysOpen == (pd.Timestamp("2015-06-19") - pd.Timestamp("2008-09-15")).days
    assert r.CompetitionMonthsOpen == 24
    assert (r.Promo2SinceYear, r.Promo2Days, r.Promo2Weeks) == (1900, 0, 0)
    # Corpus Christi (Thu 2015-06-04) was the last state holiday in Hessen.
    assert (r.AfterStateHoliday, r.BeforeStateHoliday) == (15, 0)
    # The last train day ends its test-length block: like the test's last day it knows no later
    # school holiday (uncensored, it saw the test's first day, 2015-08-01: -43).
    assert r.BeforeSchoolHoliday == 0
    # Promo ran Mon 15th .. Fri 19th: 5 of the 7 rows up to today; Before/After are 0 today.
    assert (r.Promo_bw, r.AfterPromo, r.BeforePromo) == (5, 0, 0)
    assert r.trend == 69 and r.trend_DE == 71 and r.Max_TemperatureC == 15
    assert r.Events == "Rain"


def test_hand_computed_store_with_missing_half_year(real_build):
    """Store 13 has no rows for 2014-07-01..2014-12-31: windows count ROWS across the gap."""
    tr = real_build.train
    s13 = tr[tr["Store"] == 13]
    assert not ((s13["Date"] >= "2014-07-01") & (s13["Date"] <= "2014-12-31")).any()
    r = row(tr, 13, "2015-01-01")
    # Last promo row before: Mon 2014-06-30 -> 185 days, even though 184 days have no rows.
    assert r.AfterPromo == 185
    # 7 rows ending 2015-01-01 = 2014-06-25..06-30 + 2015-01-01; only 06-30 had Promo.
    assert r.Promo_bw == 1
    assert r.StateHoliday and r.AfterStateHoliday == 0 and r.BeforeStateHoliday == 0
    r = row(tr, 13, "2014-06-30")
    # Its block (2014-06-01..07-18) sees no later row of store 13, so the 7 rows from 06-30 are
    # 06-30 alone (uncensored: 06-30 and 2015-01-01..01-06, Promo on 06-30, 01-05, 01-06 -> 3).
    assert r.Promo_fw == 1
    assert (r.State, r.PromoInterval, r.Promo2SinceYear, r.Promo2SinceWeek) == ("BY", "Feb,May,Aug,Nov", 2009, 45)
    # Promo2 since Monday of ISO week 45 of 2009 = 2009-11-02.
    assert r.Promo2Since == pd.Timestamp("2009-11-02")
    assert r.Promo2Days == (pd.Timestamp("2014-06-30") - pd.Timestamp("2009-11-02")).days
    assert r.Promo2Weeks == 25
    assert r.CompetitionOpenSinceYear == 1900 and r.CompetitionDaysOpen == 0
    # The next closed day is unknown (the half-year gap comes first).
    assert np.isnan(r.DaysUntilClosed)


def test_hand_computed_trend_week_mapping(real_build, shared_rossmann):
    """fast.ai keys Google weeks by their first day (a Sunday, in the previous ISO week): ISO
    week 25 of 2015 (Mon 06-15..Sun 06-21) gets the Google week starting Sun 2015-06-21."""
    gt = pd.read_csv(shared_rossmann / "external" / "googletrend.csv")
    he = gt[(gt["file"] == "Rossmann_DE_HE") & (gt["week"] == "2015-06-21 - 2015-06-27")]
    de = gt[(gt["file"] == "Rossmann_DE") & (gt["week"] == "2015-06-21 - 2015-06-27")]
    r = row(real_build.train, 1, "2015-06-19")
    assert r.trend == he["trend"].iat[0] and r.trend_DE == de["trend"].iat[0]
    # Niedersachsen's series (Rossmann_DE_NI) is joined to the store state "HB,NI".
    ni = real_build.train[real_build.train["State"] == "HB,NI"]
    assert len(ni) and ni["trend"].notna().all()


def test_matches_fastai_reference(real_data, real_build):
    """Every fast.ai column equals a straight port of the notebook for a few stores, when the
    sequence families see the whole table as fast.ai's do (``censor=False``)."""
    ref = reference(real_data, REF_STORES)
    small = replace(real_data, train=real_data.train[real_data.train["Store"].isin(REF_STORES)],
                    test=real_data.test[real_data.test["Store"].isin(REF_STORES)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr, te = build_features(small, real_build.meta["valid_start"], censor=False)
    ours = pd.concat([tr, te], ignore_index=True)
    ours = ours[ours["Store"].isin(REF_STORES)]
    m = ref.merge(ours, on=["Store", "Date"], suffixes=("_ref", ""), validate="1:1")
    assert len(m) == len(ref) == len(ours)
    cols = ["Year", "Month", "Week", "Day", "Dayofweek", "Dayofyear", "Is_month_end", "Is_month_start",
            "Is_quarter_end", "Is_quarter_start", "Is_year_end", "Is_year_start", "Elapsed",
            "StateHoliday", "trend", "trend_DE", "Max_TemperatureC", "Mean_Humidity", "CloudCover",
            "Events", "State", "CompetitionOpenSinceYear", "CompetitionOpenSinceMonth",
            "CompetitionOpenSince", "CompetitionDaysOpen", "CompetitionMonthsOpen", "Promo2SinceYear",
            "Promo2SinceWeek", "Promo2Since", "Promo2Days", "Promo2Weeks"]
    ev = [f"{p}{c}" for c in ("SchoolHoliday", "StateHoliday", "Promo") for p in ("After", "Before")]
    ev += [f"{c}_{s}" for c in ("SchoolHoliday", "StateHoliday", "Promo") for s in ("bw", "fw")]
    for c in cols + ev:
        a, b = m[c + "_ref"], m[c]
        if a.dtype.kind in "fiub" or b.dtype.kind in "fiub":
            ok = np.isclose(pd.to_numeric(a).to_numpy(float), pd.to_numeric(b).to_numpy(float), equal_nan=True)
        elif a.dtype.kind == "M":
            ok = (a.to_numpy() == b.to_numpy())
        else:
            a, b = a.astype(object), b.astype(object)
            ok = (a == b) | (a.isna() & b.isna())
        assert bool(np.all(ok)), (c, m.loc[~np.asarray(ok), ["Store", "Date", c + "_ref", c]].head())


def test_no_leakage(real_data, real_build):
    """Changing every Sales/Customers value on or after the validation start changes no feature
    of any train row (validation rows included). Built with every candidate family, the ones
    the ablation rejected included, so those are shown leak-free too."""
    vs = pd.Timestamp(real_build.meta["valid_start"])
    tr = real_data.train
    late = (tr["Date"] >= vs).to_numpy()
    rng = np.random.default_rng(0)
    sales = tr["Sales"].to_numpy().copy()
    sales[late] = rng.integers(1, 50_000, late.sum())
    cust = tr["Customers"].to_numpy().copy()
    cust[late] = rng.integers(1, 5_000, late.sum())
    changed = replace(real_data, train=tr.assign(Sales=sales, Customers=cust))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a_tr, a_te = build_features(real_data, vs, families=DEFAULT_FAMILIES + CANDIDATE_FAMILIES)
        b_tr, b_te = build_features(changed, vs, families=DEFAULT_FAMILIES + CANDIDATE_FAMILIES)
    feats = [c for c in a_tr.columns if c not in ("Sales", "Customers")]
    assert list(a_tr.columns) == list(b_tr.columns)
    changed_tr = [c for c in feats if not same(a_tr[c], b_tr[c])]
    assert changed_tr == []
    assert (a_tr["Sales"] != b_tr["Sales"]).sum() > 40_000  # the change did happen
    # Test rows legitimately use everything before the test start, so only their per-store
    # history may change.
    changed_te = [c for c in a_te.columns if not same(a_te[c], b_te[c])]
    history_cols = {c for c in a_te.columns if c.startswith(("Hist", "Lag"))} | {"SalesYearAgoRatio", "SeasonIndex"}
    assert changed_te and set(changed_te) <= history_cols


def same(a: pd.Series, b: pd.Series) -> bool:
    """Fast exact equality (NaN == NaN): assert_frame_equal on 1M-row frames takes a minute."""
    if isinstance(a.dtype, pd.CategoricalDtype):
        return a.cat.categories.equals(b.cat.categories) and np.array_equal(a.cat.codes, b.cat.codes)
    x, y = a.to_numpy(), b.to_numpy()
    if x.dtype.kind == "f":
        return bool(np.array_equal(x, y, equal_nan=True))
    return bool(np.array_equal(x, y))


def test_history_uses_only_past(real_build):
    """HistSalesMean of a train row is the mean over open days with Sales > 0 before valid_start."""
    tr = real_build.train
    vs = pd.Timestamp(real_build.meta["valid_start"])
    s = tr[(tr["Store"] == 1) & (tr["Date"] < vs) & (tr["Open"] == 1) & (tr["Sales"] > 0)]
    r = row(tr, 1, "2015-06-01")
    assert r.HistSalesMean == pytest.approx(s["Sales"].mean(), rel=1e-6)
    assert r.HistSalesMedian == pytest.approx(s["Sales"].median())
    mon = s[s["DayOfWeek"] == 1]
    assert r.HistSalesDowMean == pytest.approx(mon["Sales"].mean(), rel=1e-6)
    all_s = tr[(tr["Store"] == 1) & (tr["Open"] == 1) & (tr["Sales"] > 0)]
    t = real_build.test[real_build.test["Store"] == 1].iloc[0]
    assert t.HistSalesMean == pytest.approx(all_s["Sales"].mean(), rel=1e-6)


def test_cached_rerun_is_instant(real_build, shared_rossmann):
    meta = build(shared_rossmann, real_build.build_dir)
    assert meta["cached"] is True and meta["input_hash"] == real_build.meta["input_hash"]
