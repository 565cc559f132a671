"""The column lists every model uses (a model filters them to the columns present, since the
external tables, and so State / weather / trend, are optional)."""
from __future__ import annotations

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

# Beyond fast.ai: only the families that lowered the mean pseudo-test RMSPE by more than the
# seed spread in `python -m models.ablation` (features/ABLATION.md). The candidates of
# features/candidates.py did not; fast.ai's row-based After/Before State/SchoolHoliday stay out as
# inputs (the day counters replace them, censored like the test's).
NEW_CAT_COLS: list[str] = []
NEW_CONT_COLS: list[str] = [
    # per-store history, strictly before the cutoff (validation start / test start)
    "HistSalesMean", "HistSalesMedian", "HistCustMean", "HistCustMedian",
    "HistSalesDowMean", "HistSalesDowMedian", "HistCustDowMean", "HistCustDowMedian",
    "HistSalesPromoMean", "HistSalesPromoMedian", "HistCustPromoMean", "HistCustPromoMedian",
    "HistSalesPerCust",
    # closures and refurbishments (from Open, which the test set gives)
    "DaysSinceClosed", "DaysUntilClosed", "DaysSinceRefurb", "DaysUntilRefurb",
    # day counters: calendar days to / from holidays and promos, the place in a school-holiday run
    "DaysToStateHoliday", "DaysFromStateHoliday", "DaysToSchoolHoliday", "DaysFromSchoolHoliday",
    "DaysToPromo", "DaysFromPromo", "SchoolHolidayRunDay", "SchoolHolidayRunLeft",
    # holiday days in the coming, the past and this calendar week
    "StateHolidayNextWeek", "StateHolidayLastWeek", "StateHolidayThisWeek",
    "SchoolHolidayNextWeek", "SchoolHolidayLastWeek", "SchoolHolidayThisWeek",
    # days since a competitor opened, where it opened inside the data
    "CompetitionOpenedDays",
]
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
