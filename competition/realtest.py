"""Real tests cut from the train data, with their answers: what a window scheme is checked on.

A pseudo-test window says what a model *would* score; whether that number tracks the real test is
a question only a real test answers. Train data holds as many real tests as one likes: cut the
train at a date ``T``, call the next ``days`` days of every store present the test, keep their
Sales as ``solution.csv``, and the pipeline runs on it exactly as on the competition (it cannot
tell the difference), while the answers say how far each reported score lay from the real one.

``write_cut`` writes such a competition folder: ``train.csv`` (up to ``T``), ``test.csv`` and
``sample_submission.csv`` (fresh Ids), ``store.csv``, ``external/`` (nothing dated after the
test's end) and, beside them, ``solution.csv`` (``Id,Sales``), which only
``python -m submissions.score`` reads.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from competition.data import CompetitionData
from competition.pseudo_test import Window, pseudo_test
from competition.synthetic import SOLUTION_NAME
from core.errors import DataError
from core.io import write_text_atomic

TRAIN_COLUMNS = ["Store", "DayOfWeek", "Date", "Sales", "Customers", "Open", "Promo", "StateHoliday",
                 "SchoolHoliday"]
# The held-back weeks of ../shared and Kaggle's own test: six weeks right after the train.
DEFAULT_DAYS = 42


@dataclass(frozen=True)
class Cut:
    """A real test: train up to ``train_end``, test the ``days`` days after ``gap`` more."""

    train_end: pd.Timestamp
    days: int = DEFAULT_DAYS
    gap: int = 0

    @property
    def start(self) -> pd.Timestamp:
        return self.train_end + pd.Timedelta(days=self.gap + 1)

    @property
    def end(self) -> pd.Timestamp:
        return self.start + pd.Timedelta(days=self.days - 1)

    @property
    def name(self) -> str:
        return f"train-to-{self.train_end.date()}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "train_end": str(self.train_end.date()), "start": str(self.start.date()),
                "end": str(self.end.date()), "days": self.days, "gap": self.gap}


def cut(data: CompetitionData, spec: Cut) -> tuple[CompetitionData, pd.DataFrame]:
    """``(competition data, solution)`` of the real test ``spec`` cut from ``data``'s train: the
    test holds every store with rows in its days (a store absent then is absent from it)."""
    dates = data.train["Date"]
    if spec.end > dates.max() or spec.train_end < dates.min():
        raise DataError(f"the test {spec.start.date()}..{spec.end.date()} after a train ending {spec.train_end.date()} "
                        f"does not fit in the train dates {dates.min().date()}..{dates.max().date()}",
                        column="Date", fix="pick a train end inside the train period, at least `days` before its end")
    window = Window(0, spec.train_end, spec.start, spec.end)
    stores = np.unique(data.train.loc[((dates >= spec.start) & (dates <= spec.end)).to_numpy(), "Store"].to_numpy())
    pt = pseudo_test(data, window, stores=stores)
    return pt.data, pt.labels[["Id", "Sales"]].copy()


def _csv(df: pd.DataFrame) -> str:
    out = df.copy()
    if "Date" in out.columns:
        out["Date"] = pd.to_datetime(out["Date"]).dt.strftime("%Y-%m-%d")
    return out.to_csv(index=False)


def write_cut(out_dir: Path, data: CompetitionData, solution: pd.DataFrame) -> Path:
    """Write a cut (``cut``'s output) as a competition folder the pipeline reads like Kaggle's."""
    out_dir = Path(out_dir)
    write_text_atomic(out_dir / "train.csv", _csv(data.train[TRAIN_COLUMNS]))
    write_text_atomic(out_dir / "test.csv", _csv(data.test))
    write_text_atomic(out_dir / "store.csv", _csv(data.store))
    write_text_atomic(out_dir / "sample_submission.csv", _csv(data.sample_submission))
    if data.external is not None:
        ext = data.external
        for name, table in (("store_states", ext.store_states), ("state_names", ext.state_names),
                            ("weather", ext.weather), ("googletrend", ext.googletrend)):
            write_text_atomic(out_dir / "external" / f"{name}.csv", _csv(table))
    write_text_atomic(out_dir / SOLUTION_NAME, _csv(solution))
    return out_dir
