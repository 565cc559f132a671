"""The column lists every model uses (a model filters them to the columns present, since the
external tables, and so State / weather / trend, are optional)."""
from __future__ import annotations

from features.registry import DEFAULT_FAMILIES, MODELS, family_columns

# fast.ai lesson 3 (Rossmann) categorical inputs, in its order.
FASTAI_CAT_COLS: list[str] = [
    "Store", "DayOfWeek", "Year", "Month", "Day", "StateHoliday", "CompetitionMonthsOpen",
    "Promo2Weeks", "StoreType", "Assortment", "PromoInterval", "CompetitionOpenSinceYear",
    "Promo2SinceYear", "State", "Week", "Events", "Promo_fw", "Promo_bw", "StateHoliday_fw",
    "StateHoliday_bw", "SchoolHoliday_fw", "SchoolHoliday_bw",
]
# fast.ai lesson 3 (Rossmann) continuous inputs.
FASTAI_CONT_COLS: list[str] = [
    "CompetitionDistance", "Max_TemperatureC", "Mean_TemperatureC", "Min_TemperatureC",
    "Max_Humidity", "Mean_Humidity", "Min_Humidity", "Max_Wind_SpeedKm_h", "Mean_Wind_SpeedKm_h",
    "CloudCover", "trend", "trend_DE", "AfterPromo", "BeforePromo", "Promo", "SchoolHoliday",
]

# Beyond fast.ai: the families of features.registry.DEFAULT_FAMILIES, the ones that passed on the
# pseudo-test windows (features/ABLATION.md). fast.ai's row-based After/Before State/SchoolHoliday
# stay out as inputs (the day counters replace them, censored like the test's).
NEW_CAT_COLS, NEW_CONT_COLS = family_columns(DEFAULT_FAMILIES)
CAT_COLS: list[str] = FASTAI_CAT_COLS + NEW_CAT_COLS
# The categorical columns whose values are ordered numbers: calendar parts, counts of months or
# weeks, years, fast.ai's day counters. The MLP embeds them like any category; LightGBM takes them
# as numbers, so that a split is a threshold ("within 2 days of a promo") instead of a subset of
# values learnt one value at a time, which overfitted badly (docs/RESULTS.md, "LightGBM: ordered
# categories as numbers"). The others (Store, State, StoreType, ...) have no order.
ORDINAL_CAT_COLS: list[str] = [
    "DayOfWeek", "Year", "Month", "Day", "CompetitionMonthsOpen", "Promo2Weeks",
    "CompetitionOpenSinceYear", "Promo2SinceYear", "Week", "Promo_fw", "Promo_bw",
    "StateHoliday_fw", "StateHoliday_bw", "SchoolHoliday_fw", "SchoolHoliday_bw",
]
CONT_COLS: list[str] = FASTAI_CONT_COLS + NEW_CONT_COLS
# Columns that are not inputs: identifiers and targets.
ID_COLS: list[str] = ["Store", "Date"]
TARGET_COLS: list[str] = ["Sales", "Customers"]


def model_columns(model: str) -> tuple[list[str], list[str]]:
    """``(categorical, continuous)`` inputs of ``model`` ("lgbm" or "mlp"): fast.ai's columns and
    the default families' that it takes (a model filters them to the columns present)."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; known: {list(MODELS)}")
    cats, conts = family_columns(DEFAULT_FAMILIES, model)
    return FASTAI_CAT_COLS + cats, FASTAI_CONT_COLS + conts
