"""The feature families beyond fast.ai's, one entry each: the column lists, the pipeline's order,
the censoring and the MLP's log scale all come from here.

A new family is a ``df -> df`` function in ``features/families.py`` and one ``FamilySpec``. It
starts as a candidate (``experiments/candidates.py`` registers its own specs, which
``build_features(families=...)`` and ``python -m experiments.ablation`` take) and moves into
``DEFAULT_FAMILIES`` once it passes on the pseudo-test windows (``features/ABLATION.md``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from competition.pseudo_test import PeriodShape
from features import families as fam
from features.calendar import carnival

# Every family is called as ``build(df, valid_start, test_start, shape)``.
Family = Callable[[pd.DataFrame, pd.Timestamp, pd.Timestamp, PeriodShape], pd.DataFrame]
MODELS = ("lgbm", "mlp")


@dataclass(frozen=True)
class FamilySpec:
    """One feature family: how it is built, what it adds, who takes it."""

    name: str
    build: Family
    cont_cols: tuple[str, ...] = ()
    cat_cols: tuple[str, ...] = ()
    # A sequence family reads a store's neighbouring days: it runs block by block through
    # ``features.pipeline.censored``, seeing this many days of history before each block's gap
    # (its longest horizon plus one: no row can look further back). None: a row-wise family.
    lookback_days: int | None = None
    # Columns whose values span orders of magnitude across stores: the MLP takes their logs.
    log_cols: tuple[str, ...] = ()
    # The models whose inputs the columns are.
    models: tuple[str, ...] = MODELS

    def __post_init__(self) -> None:
        unknown = set(self.models) - set(MODELS)
        if unknown:
            raise ValueError(f"family {self.name!r}: unknown models {sorted(unknown)}; known: {list(MODELS)}")
        if not set(self.log_cols) <= set(self.cont_cols):
            raise ValueError(f"family {self.name!r}: log_cols must be among its cont_cols")
        if self.log_cols and "mlp" not in self.models:
            # Log columns only set the MLP's input scale (MLP_LOG_COLS takes the MLP's families):
            # on a family the MLP does not take they would silently do nothing.
            raise ValueError(f"family {self.name!r}: log_cols are the MLP's inputs' scale, but the family is for "
                             f"{list(self.models)} only; drop log_cols or add 'mlp' to models")

    @property
    def columns(self) -> tuple[str, ...]:
        return self.cat_cols + self.cont_cols

    @property
    def sequence(self) -> bool:
        return self.lookback_days is not None


DEFAULT_FAMILIES: tuple[FamilySpec, ...] = (
    # per-store history, strictly before the cutoff (validation start / test start)
    FamilySpec("store_history", lambda df, vs, ts, shape: fam.store_history(df, vs, ts),
               cont_cols=fam.HISTORY_COLS,
               log_cols=tuple(c for c in fam.HISTORY_COLS if c != "HistSalesPerCust")),
    # closures and refurbishments (from Open, which the test set gives)
    FamilySpec("closures", lambda df, vs, ts, shape: fam.closures(df),
               cont_cols=("DaysSinceClosed", "DaysUntilClosed", "DaysSinceRefurb", "DaysUntilRefurb"),
               lookback_days=fam.CLOSURE_HORIZON + 1),
    # calendar days to / from holidays and promos, the place in a school-holiday run
    FamilySpec("day_counters", lambda df, vs, ts, shape: fam.day_counters(df),
               cont_cols=tuple(f"Days{d}{e}" for e in fam.COUNTER_EVENTS for d in ("To", "From"))
               + ("SchoolHolidayRunDay", "SchoolHolidayRunLeft"),
               lookback_days=fam.RUN_HORIZON + 1),
    # holiday days in the coming, the past and this calendar week
    FamilySpec("holiday_counts", lambda df, vs, ts, shape: fam.holiday_counts(df),
               cont_cols=tuple(f"{e}{w}" for e in ("StateHoliday", "SchoolHoliday")
                               for w in ("NextWeek", "LastWeek", "ThisWeek")),
               lookback_days=fam.WEEK_REACH + 1),
    # days since a competitor opened, where it opened inside the data
    FamilySpec("competition_recent", lambda df, vs, ts, shape: fam.competition_recent(df),
               cont_cols=("CompetitionOpenedDays",)),
    # the carnival days, which the data marks as no holiday (LightGBM only: features/ABLATION.md)
    FamilySpec("carnival", lambda df, vs, ts, shape: carnival(df), cont_cols=("CarnivalDay",), models=("lgbm",)),
)


def family_columns(families: Iterable[FamilySpec], model: str | None = None) -> tuple[list[str], list[str]]:
    """``(categorical, continuous)`` columns of ``families`` (those ``model`` takes, if given), in order."""
    chosen = [f for f in families if model is None or model in f.models]
    return [c for f in chosen for c in f.cat_cols], [c for f in chosen for c in f.cont_cols]
