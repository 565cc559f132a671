"""Pseudo-test windows: train/test/labels triples cut from the train data, shaped like the real task.

A pseudo-test score is only worth what its rows resemble the test. The real test is N consecutive
dates (48 on Kaggle) for a subset of stores, it starts ``gap`` days after the last train date (0 on
Kaggle's full data, 42 on a train that ends six weeks early), its ``Open``/``Promo``/holiday columns
are known but nothing after its last date is, and there are no Sales or Customers. A pseudo-test
window rebuilds exactly that from the train data:

- the window is N consecutive train dates; its rows are the real test's stores on those dates,
  with ``test.csv``'s columns and fresh Ids (the labels are kept apart, in ``labels``);
- the window's train part ends ``gap`` days before the window starts;
- nothing dated after the window's end exists in any table (weather and Google trend included).

The triple is a :class:`~competition.data.CompetitionData`, so ``features.build_features`` runs on
it unchanged and a window's features are computed exactly as the test's are.

Two kinds of window:
- **recent** (``windows``): window 1 ends on the last train date; window k+1 ends the day before
  window k starts. They say how the models do on the weeks just before the test.
- **same-season** (``season_windows``): the test's own dates 52 weeks back (same weekdays; 104
  weeks for the second year), with the train cut the same gap before. They say how the models do
  in the test's season (the summer holidays, say), which the recent windows may not have. Such a
  window sees up to a year less history than the test does, and a store without rows in it
  (180 stores have none in 2014-07..12) is left out of it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.errors import DataError

TEST_COLUMNS = ["Id", "Store", "DayOfWeek", "Date", "Open", "Promo", "StateHoliday", "SchoolHoliday"]
RECENT, SEASON = "recent", "season"
# A year back on the same weekdays: 52 weeks.
SEASON_DAYS = 364
# The end of a window is where the test is hardest (forward-looking inputs run out), so every
# window's last LAST_DAYS dates are also scored on their own.
LAST_DAYS = 7
LABEL_COLUMNS = ["Id", "Store", "Date", "Open", "Sales", "Customers"]


@dataclass(frozen=True)
class PeriodShape:
    """What a pseudo-test window must copy from the real test: its length and its gap after train."""

    n_days: int  # distinct test dates
    gap: int  # calendar days between the last train date and the first test date, exclusive

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Window:
    """One pseudo-test window: train on dates <= ``train_end``, predict ``start``..``end``."""

    index: int  # 1 = the recent window that ends on the last train date; season windows follow
    train_end: pd.Timestamp
    start: pd.Timestamp
    end: pd.Timestamp
    kind: str = RECENT
    years_back: int = 0  # season windows: the test's dates this many times 52 weeks back

    @property
    def n_days(self) -> int:
        return int((self.end - self.start).days) + 1

    @property
    def name(self) -> str:
        return f"w{self.index}"

    @property
    def label(self) -> str:
        """``recent 1``, ``season -1y``: what the window is, for tables."""
        return f"season -{self.years_back}y" if self.kind == SEASON else f"recent {self.index}"

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "train_end": str(self.train_end.date()), "start": str(self.start.date()),
                "end": str(self.end.date()), "n_days": self.n_days, "kind": self.kind,
                "years_back": self.years_back, "label": self.label}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Window:
        return cls(int(d["index"]), pd.Timestamp(d["train_end"]), pd.Timestamp(d["start"]), pd.Timestamp(d["end"]),
                   str(d.get("kind", RECENT)), int(d.get("years_back", 0)))


@dataclass
class PseudoTest:
    """A window's ``data`` (a CompetitionData with train, test, store, ...) and its ``labels``
    (``Id``, ``Store``, ``Date``, ``Open``, ``Sales``, ``Customers``, in the test's Id order)."""

    window: Window
    data: Any
    labels: pd.DataFrame
    missing_stores: list[int] = dataclasses.field(default_factory=list)  # test stores without rows in it


def last_days(dates: Any) -> np.ndarray:
    """True for the rows among the last LAST_DAYS dates of ``dates`` (one window's dates)."""
    d = np.asarray(dates).astype("datetime64[D]")
    return d > d.max() - np.timedelta64(LAST_DAYS, "D")


def period_block(last: pd.Timestamp, n_days: int, k: int = 1) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(start, end)`` of the k-th test-length block counted back from ``last`` (k = 1 ends on
    it): ``n_days`` calendar days. The one block layout: the pseudo-test windows (``windows``),
    the inner validation stretch (``competition.split.validation_split``) and the blocks the
    sequence features are censored in (``features.pipeline.block_starts``) are these blocks."""
    end = pd.Timestamp(last) - pd.Timedelta(days=(k - 1) * n_days)
    return end - pd.Timedelta(days=n_days - 1), end


def block_start_days(days: np.ndarray, last_day: int, n_days: int) -> np.ndarray:
    """For day numbers ``days`` up to ``last_day``, the first day of each one's test-length block
    (``period_block``, by arithmetic); the caller floors it at the first train day."""
    k = (last_day - np.asarray(days)) // n_days
    return last_day - k * n_days - n_days + 1


def period_shape(train_dates: pd.Series, test_dates: pd.Series) -> PeriodShape:
    """The real test's number of distinct dates and its gap after the train period."""
    train_end = pd.Timestamp(pd.Series(train_dates).max())
    test_start = pd.Timestamp(pd.Series(test_dates).min())
    return PeriodShape(n_days=int(pd.Series(test_dates).nunique()), gap=int((test_start - train_end).days) - 1)


def windows(train_dates: pd.Series, shape: PeriodShape, folds: int, *, min_train_days: int | None = None,
            where: str = "train.csv") -> list[Window]:
    """``folds`` consecutive windows of ``shape.n_days`` dates, the first ending on the last train date.

    Each window's train part must keep at least ``min_train_days`` calendar days (default: one
    window's length), or the window could not be learned from; asking for more windows than the
    train can give raises a DataError that says how many fit.
    """
    if folds < 1:
        raise DataError(f"need at least one pseudo-test window, got FOLDS={folds}", column="FOLDS",
                        fix="set FOLDS to 1 or more (make submit FOLDS=3)")
    dates = pd.Series(train_dates)
    first, last = pd.Timestamp(dates.min()), pd.Timestamp(dates.max())
    n, gap = shape.n_days, shape.gap
    need = n if min_train_days is None else min_train_days
    out = []
    for k in range(1, folds + 1):
        start, end = period_block(last, n, k)
        train_end = start - pd.Timedelta(days=gap + 1)
        if (train_end - first).days + 1 < need:
            raise DataError(
                f"the train period {first.date()}..{last.date()} holds {len(out)} pseudo-test window(s) of "
                f"{n} days with a {gap}-day gap and >= {need} training days each; {folds} were asked for",
                file=where, column="Date",
                fix=f"use FOLDS={len(out)} or fewer" if out else
                "a test period this long needs a longer train period (or a shorter test.csv)")
        out.append(Window(k, train_end, start, end))
    return out


def season_windows(train_dates: pd.Series, test_dates: pd.Series, shape: PeriodShape, years: int, *,
                   first_index: int, min_train_days: int | None = None) -> tuple[list[Window], list[str]]:
    """The test's dates ``1..years`` times 52 weeks back, each with its train ending ``shape.gap``
    days before it: ``(windows, notes)``, where ``notes`` says why a year back has no window
    (its dates lie before the train data, or it would leave fewer than ``min_train_days``,
    default one window's length, to learn from). Indices start at ``first_index``."""
    if years < 0:
        raise DataError(f"need 0 or more same-season windows, got SEASONS={years}", column="SEASONS",
                        fix="set SEASONS to 0, 1 or 2 (make submit SEASONS=1)")
    dates = pd.Series(train_dates)
    first, last = pd.Timestamp(dates.min()), pd.Timestamp(dates.max())
    test = pd.Series(test_dates)
    test_start, test_end = pd.Timestamp(test.min()), pd.Timestamp(test.max())
    need = shape.n_days if min_train_days is None else min_train_days
    out: list[Window] = []
    notes: list[str] = []
    for y in range(1, years + 1):
        back = pd.Timedelta(days=SEASON_DAYS * y)
        start, end = test_start - back, test_end - back
        train_end = start - pd.Timedelta(days=shape.gap + 1)
        held = (train_end - first).days + 1
        if end > last:
            notes.append(f"no same-season window {y} year(s) back ({start.date()}..{end.date()}): it ends after "
                         f"the last train date {last.date()}")
            continue
        if held < need:
            notes.append(f"no same-season window {y} year(s) back ({start.date()}..{end.date()}): its train "
                         f"would hold {max(held, 0)} days, fewer than {need}")
            continue
        out.append(Window(first_index + len(out), train_end, start, end, SEASON, y))
    return out, notes


def plan(train_dates: pd.Series, test_dates: pd.Series, folds: int, seasons: int, *,
         where: str = "train.csv", gap: int | None = None) -> tuple[list[Window], list[str]]:
    """Every window a build scores: ``folds`` recent windows (an error if they do not fit, with how
    many do), then up to ``seasons`` same-season ones (``notes`` says which years back have none).

    ``gap`` (default: the test's own) sets the days between each window's train and its start:
    0 cuts the windows as a test right after the train is cut (Kaggle's full train, the held-back
    weeks after ``../shared``'s), whatever gap this data's ``test.csv`` has."""
    shape = period_shape(train_dates, test_dates)
    if gap is not None:
        if gap < 0:
            raise DataError(f"a window's gap after its train must be 0 days or more, got {gap}", column="WINDOW_GAP",
                            fix="set WINDOW_GAP to 0 or more, or leave it empty for the test's own gap")
        shape = dataclasses.replace(shape, gap=gap)
    recent = windows(train_dates, shape, folds, where=where)
    season, notes = season_windows(train_dates, test_dates, shape, seasons, first_index=len(recent) + 1)
    return recent + season, notes


@dataclass(frozen=True)
class Estimate:
    """The expected test RMSPE from the window scores, and an interval as wide as the windows
    disagree (``low``..``high``)."""

    value: float
    low: float
    high: float
    weights: dict[str, float]  # window name -> its weight in ``value``

    def to_dict(self) -> dict[str, Any]:
        return {"estimate": self.value, "estimate_low": self.low, "estimate_high": self.high,
                "estimate_weights": self.weights}


def window_weights(wins: list[Window]) -> dict[str, float]:
    """Each window's weight in the estimate: the recent windows and the same-season windows count
    half each (all of it to one kind when the other has no window), equally within a kind. Of nine
    schemes, half the most recent window and half the same season a year back lay closest to four
    real tests cut from ../shared (``make realtests``, docs/RESULTS.md)."""
    kinds = {k: [w for w in wins if w.kind == k] for k in (RECENT, SEASON)}
    present = [k for k, ws in kinds.items() if ws]
    return {w.name: 1.0 / len(present) / len(kinds[w.kind]) for k in present for w in kinds[k]}


def estimate(scores: dict[str, float], windows: list[Window]) -> Estimate:
    """The expected test RMSPE: the weighted mean of the window scores (``window_weights``), with
    an interval of one weighted standard deviation of the window scores on either side."""
    weights = window_weights([w for w in windows if w.name in scores])
    v = np.array([scores[n] for n in weights])
    wt = np.array(list(weights.values()))
    mean = float(np.sum(wt * v))
    sd = float(np.sqrt(np.sum(wt * (v - mean) ** 2)))
    return Estimate(mean, mean - sd, mean + sd, weights)


def paired_difference(change: dict[str, dict[str, float]], base: dict[str, dict[str, float]],
                      season: list[str]) -> dict[str, Any]:
    """A change against the default, window by window: the rule every change must pass.

    ``change`` and ``base`` hold each seed's score per window (``{seed: {window name: rmspe}}``,
    the same seeds and windows); ``season`` names the same-season windows. A change passes if
    1. it is better on the mean: the paired difference D (change - default), averaged over the
       windows and the seeds, is below zero;
    2. by more than the noise: -D exceeds both the seed spread (the standard deviation over seeds
       of the per-seed mean difference) and the window spread (the standard error over windows of
       the per-window mean difference);
    3. and it is not worse where the test is: the mean difference over the same-season windows is
       not above zero.
    """
    seeds = [s for s in base if s in change]
    windows_ = list(base[seeds[0]])
    d = {w: float(np.mean([change[s][w] - base[s][w] for s in seeds])) for w in windows_}
    dv = np.array(list(d.values()))
    mean = float(dv.mean())
    per_seed = [float(np.mean([change[s][w] - base[s][w] for w in windows_])) for s in seeds]
    seed_sd = float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else float("nan")
    window_se = float(dv.std(ddof=1) / np.sqrt(len(dv))) if len(dv) > 1 else float("nan")
    season_d = float(np.mean([d[w] for w in season])) if season else None
    noise = max(seed_sd, window_se)
    passes = bool(mean < 0 and np.isfinite(noise) and -mean > noise and (season_d is None or season_d <= 0))
    return {"per_window": d, "mean": mean, "per_seed": per_seed, "seed_sd": seed_sd, "window_se": window_se,
            "season_mean": season_d, "better_windows": int((dv < 0).sum()), "n_windows": len(dv), "passes": passes}


def pseudo_test(data: Any, window: Window, stores: np.ndarray | None = None) -> PseudoTest:
    """Cut ``window`` out of ``data`` (a CompetitionData): see the module docstring. Its rows are
    those of the real test's stores (or of ``stores``)."""
    train = data.train
    dates = train["Date"]
    test_stores = np.unique(data.test["Store"].to_numpy() if stores is None else np.asarray(stores))
    in_window = ((dates >= window.start) & (dates <= window.end)).to_numpy()
    rows = train[in_window & train["Store"].isin(test_stores).to_numpy()]
    rows = rows.sort_values(["Date", "Store"], kind="stable").reset_index(drop=True)
    ids = np.arange(1, len(rows) + 1, dtype=np.int32)
    test = rows.assign(Id=ids)[TEST_COLUMNS].reset_index(drop=True)
    labels = rows.assign(Id=ids)[LABEL_COLUMNS].reset_index(drop=True)
    ext = data.external
    if ext is not None:
        week_start = pd.to_datetime(ext.googletrend["week"].astype("str").str.split(" - ", n=1).str[0])
        ext = dataclasses.replace(ext, weather=ext.weather[ext.weather["Date"] <= window.end].reset_index(drop=True),
                                  googletrend=ext.googletrend[(week_start <= window.end).to_numpy()]
                                  .reset_index(drop=True))
    cut = dataclasses.replace(
        data, train=train[(dates <= window.train_end).to_numpy()].reset_index(drop=True), test=test,
        sample_submission=pd.DataFrame({"Id": ids, "Sales": np.zeros(len(ids))}), external=ext)
    missing = np.setdiff1d(test_stores, labels["Store"].to_numpy()).tolist()
    return PseudoTest(window, cut, labels, [int(m) for m in missing])
