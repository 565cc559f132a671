"""A synthetic Rossmann-shaped dataset, so the whole pipeline runs on a machine with no Kaggle data.

It writes what ``kaggle competitions download rossmann-store-sales`` writes (a zip holding
``train.csv``, ``test.csv``, ``store.csv``, ``sample_submission.csv``, with Kaggle's columns, byte
layout and quirks) plus the fast.ai ``external/`` tables, and a ``SYNTHETIC_DATA.txt`` marker so
every later stage can say loudly that its numbers are not Rossmann's.

The sales process is multiplicative, like the real one: a per-store level, store type and
assortment effects, a weekly pattern, Sunday and holiday closures, Promo (two-week cycles) and
Promo2 (by ``PromoInterval``), state and school holidays that differ by state, Christmas and Easter
peaks, competitors opening nearby that lower sales, refurbishment gaps, weather and Google-trend
series, and log-normal noise. It is deterministic given the seed. ``solution.csv`` beside the zip
holds the test days' true Sales, so a submission's real test score can be measured here.

Quirks kept on purpose: ``StateHoliday`` mixes quoted ``"0"`` and a bare ``0``; test ``Open`` is
blank for one store on some days; some stores have no rows in the second half of 2014; the
store-state table uses CRLF line endings and Bremen/Niedersachsen share ``HB,NI``.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from core.io import write_text_atomic, write_with
from core.seed import DEFAULT_SEED

SOLUTION_NAME = "solution.csv"
TRAIN_START = pd.Timestamp("2013-01-01")
TRAIN_END = pd.Timestamp("2015-07-31")
TEST_END = pd.Timestamp("2015-09-17")

# (weather file name, state code as in store_states, share of stores). HB and NI share one code,
# as in the fast.ai tables; Brandenburg & co. have weather but no stores, as in the real data.
STATES = [
    ("NordrheinWestfalen", "NW", 0.26), ("Bayern", "BY", 0.16), ("SchleswigHolstein", "SH", 0.10),
    ("Hessen", "HE", 0.10), ("Sachsen", "SN", 0.07), ("BadenWuerttemberg", "BW", 0.07),
    ("Berlin", "BE", 0.08), ("SachsenAnhalt", "ST", 0.05), ("RheinlandPfalz", "RP", 0.04),
    ("Thueringen", "TH", 0.03), ("Hamburg", "HH", 0.03), ("Niedersachsen", "HB,NI", 0.01),
]
STATES_WITHOUT_STORES = [("Brandenburg", "BB"), ("Bremen", "HB"), ("MecklenburgVorpommern", "MV"), ("Saarland", "SL")]
TREND_STATES = ["BE", "BW", "BY", "HE", "HH", "NI", "NW", "RP", "SH", "SL", "SN", "ST", "TH"]

WEATHER_COLUMNS = [
    "Max_TemperatureC", "Mean_TemperatureC", "Min_TemperatureC", "Dew_PointC", "MeanDew_PointC", "Min_DewpointC",
    "Max_Humidity", "Mean_Humidity", "Min_Humidity", "Max_Sea_Level_PressurehPa", "Mean_Sea_Level_PressurehPa",
    "Min_Sea_Level_PressurehPa", "Max_VisibilityKm", "Mean_VisibilityKm", "Min_VisibilitykM", "Max_Wind_SpeedKm_h",
    "Mean_Wind_SpeedKm_h", "Max_Gust_SpeedKm_h", "Precipitationmm", "CloudCover", "Events", "WindDirDegrees",
]

EASTER = {2013: "2013-03-31", 2014: "2014-04-20", 2015: "2015-04-05"}


@dataclass
class SyntheticConfig:
    """Size and seed of the synthetic dataset. The default keeps `make submit` a matter of minutes."""

    n_stores: int = 60
    seed: int = DEFAULT_SEED
    test_store_share: float = 0.77  # Kaggle's test holds 856 of 1,115 stores


def _holidays(dates: pd.DatetimeIndex, state: str) -> np.ndarray:
    """StateHoliday code per date for one state: "a" public, "b" Easter, "c" Christmas, "0" none."""
    out = np.full(len(dates), "0", dtype=object)
    codes = state.split(",")
    md = dates.strftime("%m-%d")
    out[np.isin(md, ["01-01", "05-01", "10-03"])] = "a"
    out[np.isin(md, ["12-25", "12-26"])] = "c"
    if set(codes) & {"BW", "BY", "ST"}:
        out[md == "01-06"] = "a"
    if set(codes) & {"BW", "BY", "NW", "RP", "SL"}:
        out[md == "11-01"] = "a"
    if set(codes) & {"BB", "MV", "SN", "ST", "TH"}:
        out[md == "10-31"] = "a"
    for easter in EASTER.values():
        e = pd.Timestamp(easter)
        out[dates == e - pd.Timedelta(days=2)] = "b"  # Good Friday
        out[dates == e + pd.Timedelta(days=1)] = "b"  # Easter Monday
        out[dates == e + pd.Timedelta(days=39)] = "a"  # Ascension
        out[dates == e + pd.Timedelta(days=50)] = "a"  # Whit Monday
        if set(codes) & {"BW", "BY", "HE", "NW", "RP", "SL"}:
            out[dates == e + pd.Timedelta(days=60)] = "a"  # Corpus Christi
    return out


def _school_holidays(dates: pd.DatetimeIndex, state_idx: int) -> np.ndarray:
    """School holidays per date for one state: summer (six weeks, staggered by state), Easter,
    autumn and Christmas."""
    sh = np.zeros(len(dates), dtype=np.int8)
    for year in (2013, 2014, 2015):
        summer = pd.Timestamp(f"{year}-06-20") + pd.Timedelta(days=7 * (state_idx % 7))
        spans = [(summer, 42), (pd.Timestamp(EASTER[year]) - pd.Timedelta(days=7), 14),
                 (pd.Timestamp(f"{year}-10-10") + pd.Timedelta(days=3 * (state_idx % 5)), 10),
                 (pd.Timestamp(f"{year}-12-22"), 14)]
        for start, length in spans:
            sh[(dates >= start) & (dates < start + pd.Timedelta(days=length))] = 1
    return sh


def _stores(rng: np.random.Generator, n: int) -> pd.DataFrame:
    store_type = rng.choice(list("abcd"), size=n, p=[0.54, 0.02, 0.13, 0.31])
    assortment = np.where(store_type == "b", rng.choice(list("abc"), size=n, p=[0.3, 0.4, 0.3]),
                          rng.choice(["a", "c"], size=n, p=[0.53, 0.47]))
    dist = np.round(np.exp(rng.normal(7.8, 1.2, size=n)) / 10) * 10
    dist[rng.random(n) < 0.01] = np.nan
    has_since = rng.random(n) < 0.68
    year = np.where(has_since, rng.choice(np.arange(1990, 2016), size=n), np.nan)
    year[rng.random(n) < 0.01] = 1961  # a few very old competitors, as in Kaggle's data
    month = np.where(has_since, rng.integers(1, 13, size=n), np.nan)
    # Competitor openings after mid-2015 would fall in the test period: keep them inside train.
    month = np.where((year == 2015) & (month > 6), month - 6, month)
    promo2 = (rng.random(n) < 0.5).astype(np.int8)
    p2_year = np.where(promo2 == 1, rng.choice(np.arange(2009, 2016), size=n), np.nan)
    p2_week = np.where(promo2 == 1, rng.integers(1, 50, size=n), np.nan)
    p2_week = np.where((p2_year == 2015) & (p2_week > 26), p2_week - 26, p2_week)
    interval = np.where(promo2 == 1, rng.choice(["Jan,Apr,Jul,Oct", "Feb,May,Aug,Nov", "Mar,Jun,Sept,Dec"],
                                                size=n, p=[0.6, 0.25, 0.15]), "")
    return pd.DataFrame({"Store": np.arange(1, n + 1), "StoreType": store_type, "Assortment": assortment,
                         "CompetitionDistance": dist, "CompetitionOpenSinceMonth": month,
                         "CompetitionOpenSinceYear": year, "Promo2": promo2, "Promo2SinceWeek": p2_week,
                         "Promo2SinceYear": p2_year, "PromoInterval": interval})


def _weather(rng: np.random.Generator, dates: pd.DatetimeIndex) -> pd.DataFrame:
    frames = []
    names = [s[0] for s in STATES] + [s[0] for s in STATES_WITHOUT_STORES]
    doy = dates.day_of_year.to_numpy()
    for i, name in enumerate(names):
        n = len(dates)
        season = 9 + 10 * np.sin(2 * np.pi * (doy - 110) / 365.25)
        mean_t = np.round(season + rng.normal(0, 3, n) + (i % 4) * 0.5)
        rain = rng.random(n) < 0.45
        events = np.where(rain, np.where(mean_t < 1, "Rain-Snow", "Rain"), "")
        events = np.where(~rain & (rng.random(n) < 0.1), "Fog", events)
        hum = np.clip(np.round(75 + rng.normal(0, 8, n) + 10 * rain), 30, 100)
        wind = np.clip(np.round(rng.gamma(3, 4, n)), 2, 70)
        cloud = np.where(rng.random(n) < 0.05, np.nan, np.clip(np.round(4 + 3 * rain + rng.normal(0, 1.5, n)), 0, 8))
        frame = pd.DataFrame({
            "file": name, "Date": dates.strftime("%Y-%m-%d"),
            "Max_TemperatureC": mean_t + 5, "Mean_TemperatureC": mean_t, "Min_TemperatureC": mean_t - 5,
            "Dew_PointC": mean_t - 2, "MeanDew_PointC": mean_t - 4, "Min_DewpointC": mean_t - 7,
            "Max_Humidity": np.minimum(hum + 12, 100), "Mean_Humidity": hum, "Min_Humidity": np.maximum(hum - 25, 10),
            "Max_Sea_Level_PressurehPa": 1020 + np.round(rng.normal(0, 6, n)), "Mean_Sea_Level_PressurehPa": 1015.0,
            "Min_Sea_Level_PressurehPa": 1010.0, "Max_VisibilityKm": 31.0, "Mean_VisibilityKm": 12.0,
            "Min_VisibilitykM": 6.0, "Max_Wind_SpeedKm_h": wind + 10, "Mean_Wind_SpeedKm_h": wind,
            "Max_Gust_SpeedKm_h": np.where(rng.random(n) < 0.7, np.nan, wind + 25),
            "Precipitationmm": np.round(rain * rng.gamma(1.5, 2, n), 2), "CloudCover": cloud,
            "Events": events, "WindDirDegrees": rng.integers(0, 360, n)})
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    int_cols = [c for c in WEATHER_COLUMNS if c not in ("Max_Gust_SpeedKm_h", "CloudCover", "Events", "Precipitationmm",
                                                         "Max_VisibilityKm", "Mean_VisibilityKm", "Min_VisibilitykM")]
    out[int_cols] = out[int_cols].astype("int64")
    return out


def _googletrend(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Weekly Google-trend series (Sunday..Saturday weeks, as Google exports them) and, for the
    sales process, the Germany-wide value on each day."""
    sundays = pd.date_range("2012-12-02", "2015-09-27", freq="7D")
    base = 60 + 10 * np.sin(2 * np.pi * sundays.day_of_year.to_numpy() / 365.25) \
        + 15 * (sundays.month.to_numpy() == 12) + np.linspace(0, 8, len(sundays))
    rows = []
    week = [f"{s:%Y-%m-%d} - {s + pd.Timedelta(days=6):%Y-%m-%d}" for s in sundays]
    de = np.clip(np.round(base + rng.normal(0, 3, len(sundays))), 0, 100).astype(int)
    rows.append(pd.DataFrame({"file": "Rossmann_DE", "week": week, "trend": de}))
    for code in TREND_STATES:
        vals = np.clip(np.round(base + rng.normal(0, 8, len(sundays))), 0, 100).astype(int)
        rows.append(pd.DataFrame({"file": f"Rossmann_DE_{code}", "week": week, "trend": vals}))
    daily = pd.DataFrame({"Date": pd.date_range(sundays[0], sundays[-1] + pd.Timedelta(days=6))})
    daily["trend_DE"] = np.repeat(de, 7)[: len(daily)]
    return pd.concat(rows, ignore_index=True), daily


class _Grid(NamedTuple):
    """Every store x every date, store-major: the row layout of the full sales table."""

    dates: pd.DatetimeIndex
    store: np.ndarray  # per row
    date: np.ndarray
    dow: np.ndarray    # 1 = Monday, as Kaggle
    month: np.ndarray
    day: np.ndarray
    doy: np.ndarray

    @property
    def n_days(self) -> int:
        return len(self.dates)


def _grid(store: pd.DataFrame, dates: pd.DatetimeIndex) -> _Grid:
    n = len(store)
    return _Grid(dates, np.repeat(store["Store"].to_numpy(), len(dates)), np.tile(dates.to_numpy(), n),
                 np.tile(dates.day_of_week.to_numpy() + 1, n), np.tile(dates.month.to_numpy(), n),
                 np.tile(dates.day.to_numpy(), n), np.tile(dates.day_of_year.to_numpy(), n))


def _calendar(dates: pd.DatetimeIndex, state_code: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: StateHoliday (each store's state's public holidays), SchoolHoliday and Promo."""
    holiday_by_state = {code: _holidays(dates, code) for code in set(state_code)}
    school_by_state = {code: _school_holidays(dates, i) for i, (_, code, _) in enumerate(STATES)}
    state_holiday = np.concatenate([holiday_by_state[c] for c in state_code])
    school = np.concatenate([school_by_state[c] for c in state_code])
    # Promo runs Monday to Friday every other ISO week, the same for all stores, as in Kaggle.
    iso_week = dates.isocalendar().week.to_numpy().astype(int)
    promo_day = ((iso_week % 2 == 0) & (dates.day_of_week.to_numpy() < 5)).astype(np.int8)
    return state_holiday, school, np.tile(promo_day, len(state_code))


def _openings(rng: np.random.Generator, store: pd.DataFrame, g: _Grid, state_holiday: np.ndarray) -> np.ndarray:
    """Open per row: closed on Sundays (type b stores mostly open), public holidays,
    refurbishments and rare random days."""
    n, n_days = len(store), g.n_days
    sunday_open = np.repeat(store["StoreType"].to_numpy() == "b", n_days)
    open_ = np.ones(n * n_days, dtype=np.int8)
    open_[(g.dow == 7) & ~sunday_open] = 0
    open_[(state_holiday != "0") & (rng.random(n * n_days) < 0.97)] = 0
    open_[rng.random(n * n_days) < 0.002] = 0
    refurb = rng.random(n) < 0.08
    for s in np.flatnonzero(refurb):
        start = rng.integers(200, 800)  # inside train, well before the test period
        length = rng.integers(20, 150)
        open_[s * n_days + start: s * n_days + min(start + length, n_days)] = 0
    return open_


def _promo2_effect(store: pd.DataFrame, g: _Grid) -> np.ndarray:
    """Promo2 stores sell a little less, and a little more in their Promo2 months once started."""
    n, dates = len(store), g.dates
    p2_months = store["PromoInterval"].map({"": [], "Jan,Apr,Jul,Oct": [1, 4, 7, 10], "Feb,May,Aug,Nov": [2, 5, 8, 11],
                                            "Mar,Jun,Sept,Dec": [3, 6, 9, 12]}).to_numpy()
    p2_since = pd.to_datetime(pd.Series(store["Promo2SinceYear"].fillna(2100).astype(int).astype(str)) + "-01-01") \
        + pd.to_timedelta((store["Promo2SinceWeek"].fillna(1).to_numpy() - 1) * 7, unit="D")
    promo2_active = np.zeros(n * g.n_days, dtype=bool)
    for s in range(n):
        if p2_months[s]:
            sl = slice(s * g.n_days, (s + 1) * g.n_days)
            promo2_active[sl] = np.isin(dates.month, p2_months[s]) & (dates >= p2_since.iloc[s])
    in_promo2 = np.repeat(store["Promo2"].to_numpy() == 1, g.n_days)
    return np.where(promo2_active, 1.04, 1.0) * np.where(in_promo2, 0.95, 1.0)


def _calendar_effects(g: _Grid, school: np.ndarray, state_holiday: np.ndarray, open_: np.ndarray
                      ) -> list[np.ndarray]:
    """The multiplicative effects of the calendar: season, Christmas, Easter, paydays, school
    holidays, and the catch-up after a holiday closure."""
    season = 1 + 0.05 * np.sin(2 * np.pi * (g.doy - 80) / 365.25)
    christmas = np.where((g.month == 12) & (g.day >= 14) & (g.day <= 23), 1.35, 1.0) \
        * np.where((g.month == 12) & (g.day > 26), 1.15, 1.0)
    easter_eff = np.ones(len(g.date))
    for easter in EASTER.values():
        e = pd.Timestamp(easter)
        pre = np.isin(g.date, pd.date_range(e - pd.Timedelta(days=6), e - pd.Timedelta(days=3)).to_numpy())
        easter_eff[pre] = 1.2
    payday = np.where(g.day <= 3, 1.06, np.where(g.day >= 29, 1.03, 1.0))
    school_eff = np.where(school == 1, 0.97, 1.0)
    # Days just after a holiday closure are busier: customers catch up.
    after_closed = np.zeros(len(g.date))
    closed_holiday = (state_holiday != "0") & (open_ == 0)
    after_closed[1:][closed_holiday[:-1]] = 0.15
    return [season, christmas, easter_eff, payday, school_eff, 1 + after_closed]


def _outside_effects(store: pd.DataFrame, g: _Grid, state_code: np.ndarray, weather: pd.DataFrame,
                     trend_daily: pd.DataFrame) -> list[np.ndarray]:
    """The multiplicative effects from outside the store: a competitor opening nearby, the
    Google trend, rain."""
    comp_since = pd.to_datetime(
        store["CompetitionOpenSinceYear"].fillna(1900).astype(int).astype(str) + "-"
        + store["CompetitionOpenSinceMonth"].fillna(1).astype(int).astype(str).str.zfill(2) + "-15")
    comp_since_grid = np.repeat(comp_since.to_numpy(), g.n_days)
    comp_eff = np.where(g.date >= comp_since_grid,
                        np.repeat(1 - 0.12 * np.exp(-store["CompetitionDistance"].fillna(1e5).to_numpy() / 3000),
                                  g.n_days),
                        1.0)
    trend_map = trend_daily.set_index("Date")["trend_DE"]
    trend_eff = np.tile(trend_map.reindex(g.dates).to_numpy() / 65.0, len(store)) ** 0.3
    w = weather.assign(Date=pd.to_datetime(weather["Date"])).set_index(["file", "Date"])
    state_file = {code: name for name, code, _ in STATES}
    rain = np.concatenate([(w.loc[state_file[c]].reindex(g.dates)["Events"].str.contains("Rain")).to_numpy()
                           for c in state_code])
    return [comp_eff, trend_eff, np.where(rain, 0.97, 1.0)]


def _sales_and_customers(rng: np.random.Generator, store: pd.DataFrame, g: _Grid, promo: np.ndarray,
                         open_: np.ndarray, effects: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The multiplicative sales process: each store's level, its type and assortment, the weekday,
    its promo uplift, Promo2, ``effects`` (the calendar's and the outside world's, multiplied in
    order), a growth trend and noise; customers from a basket size per store."""
    n, n_days = len(store), g.n_days
    level = np.exp(rng.normal(np.log(6500), 0.35, n))
    type_eff = store["StoreType"].map({"a": 1.0, "b": 1.7, "c": 1.05, "d": 0.95}).to_numpy()
    assort_eff = store["Assortment"].map({"a": 1.0, "b": 0.8, "c": 1.12}).to_numpy()
    base = np.repeat(level * type_eff * assort_eff, n_days)
    dow_eff = np.array([1.25, 1.05, 1.0, 0.98, 1.03, 0.9, 0.6])[g.dow - 1]
    promo_eff = np.where(promo == 1, np.repeat(rng.uniform(1.15, 1.45, n), n_days), 1.0)
    growth = np.repeat(rng.normal(0.0, 0.06, n), n_days) * np.tile(np.linspace(0, 1, n_days), n)
    noise = np.exp(rng.normal(0, 0.07, n * n_days))
    sales = base * dow_eff * promo_eff * _promo2_effect(store, g)
    for effect in effects:
        sales = sales * effect
    sales = sales * np.exp(growth) * noise
    sales = np.where(open_ == 1, np.round(sales), 0).astype(np.int64)
    basket = np.repeat(rng.normal(9.5, 1.5, n).clip(5, 16), n_days)
    customers = np.where(open_ == 1, np.round(sales / basket * np.exp(rng.normal(0, 0.05, n * n_days))), 0).astype(int)
    sales[(open_ == 1) & (rng.random(n * n_days) < 0.0002)] = 0  # Kaggle has a few open days with zero sales
    return sales, customers


def _train_test(rng: np.random.Generator, full: pd.DataFrame, store: pd.DataFrame, cfg: SyntheticConfig
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(train, test, solution)`` cut from the full table with Kaggle's quirks: a half-year gap
    for some stores, a subset of stores in the test, a blank Open; the solution holds the test's
    real Sales by Id."""
    n = len(store)
    is_train = full["Date"] <= TRAIN_END
    train = full[is_train]
    # Quirk: some stores have no rows in the second half of 2014, as 180 of Kaggle's stores.
    gap_stores = store["Store"].to_numpy()[rng.random(n) < 0.16]
    gap = train["Store"].isin(gap_stores) & (train["Date"] >= "2014-07-01") & (train["Date"] <= "2014-12-31")
    train = train[~gap].sort_values(["Date", "Store"], ascending=[False, True])

    test_stores = np.sort(rng.choice(store["Store"].to_numpy(), size=max(1, round(cfg.test_store_share * n)),
                                     replace=False))
    test = full[~is_train & full["Store"].isin(test_stores)].sort_values(["Date", "Store"], ascending=[False, True])
    # The answers Kaggle keeps to itself: what the test days really sold, to score submissions with.
    solution = pd.DataFrame({"Id": np.arange(1, len(test) + 1), "Sales": test["Sales"].to_numpy()})
    test = test.drop(columns=["Sales", "Customers"]).reset_index(drop=True)
    test.insert(0, "Id", np.arange(1, len(test) + 1))
    test["Open"] = test["Open"].astype("float64")
    # Quirk: Open is blank for one store on some weekdays (Kaggle: store 622).
    blank_store = 622 if 622 in test_stores else int(test_stores[len(test_stores) // 2])
    blank = (test["Store"] == blank_store) & (test["DayOfWeek"] < 7) & (test["Date"] >= "2015-09-05")
    test.loc[blank, "Open"] = np.nan
    return train, test, solution


def generate(cfg: SyntheticConfig) -> dict[str, pd.DataFrame]:
    """Build every table in memory (``train``, ``test``, ``store``, ``sample_submission``,
    ``store_states``, ``state_names``, ``weather``, ``googletrend``, ``solution``).

    The steps draw from one generator in a fixed order, so a seed gives the same bytes."""
    rng = np.random.default_rng(cfg.seed)
    n = cfg.n_stores
    store = _stores(rng, n)
    state_idx = rng.choice(len(STATES), size=n, p=np.array([s[2] for s in STATES]) / sum(s[2] for s in STATES))
    state_code = np.array([STATES[i][1] for i in state_idx])
    dates = pd.date_range(TRAIN_START, TEST_END)
    weather = _weather(rng, dates)
    googletrend, trend_daily = _googletrend(rng)

    g = _grid(store, dates)
    state_holiday, school, promo = _calendar(dates, state_code)
    open_ = _openings(rng, store, g, state_holiday)
    effects = _calendar_effects(g, school, state_holiday, open_) \
        + _outside_effects(store, g, state_code, weather, trend_daily)
    sales, customers = _sales_and_customers(rng, store, g, promo, open_, effects)
    full = pd.DataFrame({"Store": g.store, "DayOfWeek": g.dow, "Date": g.date, "Sales": sales,
                         "Customers": customers, "Open": open_, "Promo": promo, "StateHoliday": state_holiday,
                         "SchoolHoliday": school})
    train, test, solution = _train_test(rng, full, store, cfg)

    store_states = pd.DataFrame({"Store": store["Store"], "State": state_code})
    state_names = pd.DataFrame(
        [(name, code) for name, code, _ in STATES] + STATES_WITHOUT_STORES, columns=["StateName", "State"]
    ).sort_values("StateName")
    return {"train": train, "test": test, "store": store,
            "sample_submission": pd.DataFrame({"Id": test["Id"], "Sales": 0}),
            "store_states": store_states, "state_names": state_names, "weather": weather,
            "googletrend": googletrend, "solution": solution}


def _kaggle_csv(df: pd.DataFrame, quoted: list[str], bare_zero_state_holiday: np.ndarray | None = None) -> bytes:
    """Kaggle's byte layout: a quoted header, and quoted values in the ``quoted`` columns."""
    out = df.copy()
    if "Date" in out:
        out["Date"] = pd.to_datetime(out["Date"]).dt.strftime("%Y-%m-%d")
    for col in quoted:
        out[col] = '"' + out[col].astype(str) + '"'
    if bare_zero_state_holiday is not None:
        # Kaggle's train.csv writes StateHoliday as "0" on most rows but as a bare 0 on some.
        out.loc[bare_zero_state_holiday, "StateHoliday"] = "0"
    # Joined by hand: csv.QUOTE_NONE cannot write PromoInterval's commas, and QUOTE_NONNUMERIC would
    # quote columns that Kaggle leaves bare.
    cols = [out[c].astype(str) for c in df.columns]
    line = cols[0]
    for col in cols[1:]:
        line = line + "," + col
    buf = io.StringIO()
    buf.write(",".join(f'"{c}"' for c in df.columns) + "\n")
    buf.write("\n".join(line.tolist()) + "\n")
    return buf.getvalue().encode()


def write_dataset(data_dir: str | Path, cfg: SyntheticConfig) -> Path:
    """Write the synthetic dataset into ``data_dir`` (zip + external/ + marker); returns the zip path."""
    data_dir = Path(data_dir)
    tables = generate(cfg)
    train = tables["train"]
    bare = (train["StateHoliday"] == "0").to_numpy() & (train["Date"] < "2013-06-01").to_numpy()
    test = tables["test"].copy()
    test["Open"] = test["Open"].map(lambda v: "" if np.isnan(v) else str(int(v)))
    store = tables["store"].copy()
    for col in ["CompetitionDistance", "CompetitionOpenSinceMonth", "CompetitionOpenSinceYear", "Promo2SinceWeek",
                "Promo2SinceYear"]:
        store[col] = store[col].map(lambda v: "" if np.isnan(v) else str(int(v)))
    files = {
        "train.csv": _kaggle_csv(train, ["StateHoliday", "SchoolHoliday"], bare),
        "test.csv": _kaggle_csv(test, ["StateHoliday", "SchoolHoliday"]),
        "store.csv": _kaggle_csv(store, ["StoreType", "Assortment", "PromoInterval"]),
        "sample_submission.csv": _kaggle_csv(tables["sample_submission"], []),
    }

    def _zip(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, payload in files.items():
                info = zipfile.ZipInfo(name, date_time=(2015, 9, 1, 0, 0, 0))  # fixed: byte-identical reruns
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, payload)

    zpath = data_dir / "rossmann-store-sales.zip"
    write_with(zpath, _zip)
    ext = data_dir / "external"
    write_text_atomic(ext / "store_states.csv", tables["store_states"].to_csv(index=False, lineterminator="\r\n"))
    write_text_atomic(ext / "state_names.csv", tables["state_names"].to_csv(index=False))
    write_text_atomic(ext / "weather.csv", tables["weather"].to_csv(index=False))
    write_text_atomic(ext / "googletrend.csv", tables["googletrend"].to_csv(index=False))
    # Beside the data, never in the zip: the pipeline must not see it; `python -m submissions.score`
    # scores a submission against it.
    write_text_atomic(data_dir / SOLUTION_NAME, tables["solution"].to_csv(index=False))
    write_text_atomic(data_dir / "SYNTHETIC_DATA.txt",
                      f"This folder holds SYNTHETIC Rossmann-shaped data (seed={cfg.seed}, stores={cfg.n_stores}),\n"
                      "generated by `make data` (competition.synthetic). Its scores say nothing about the real\n"
                      "competition. Put Kaggle's rossmann-store-sales.zip here (and delete this file) "
                      "to use real data.\n")
    return zpath
