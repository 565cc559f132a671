"""The classic Kaggle baseline: median Sales per store x day of week x promo.

Fit on a table's train part only; a combination never seen falls back to the store x day-of-week
median, then the store median, then the global median. It needs no tuning and sets the bar every
real model must clear.

API (``python -m models.baseline`` calls the same): :class:`MedianBaseline`, the recipe
:func:`fit_predict` and the stage :func:`train_and_predict`.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.seed import DEFAULT_SEED
from models.common import fit_frame, kept_stage, run_stage
from models.inputs import StageInputs

__all__ = ["MedianBaseline", "fit_predict", "train_and_predict"]

NAME = "baseline"
LEVELS = (["Store", "DayOfWeek", "Promo"], ["Store", "DayOfWeek"], ["Store"])
STAGE_INPUTS = StageInputs(("DayOfWeek", "Promo"), {"levels": LEVELS}, code=("models/baseline.py",))


class MedianBaseline:
    """Median of Sales over ``keys``, with coarser fallbacks for unseen combinations."""

    def __init__(self, levels: tuple[list[str], ...] = LEVELS) -> None:
        self.levels = levels

    def fit(self, df: pd.DataFrame) -> MedianBaseline:
        self.tables_ = [df.groupby(keys, observed=True)["Sales"].median().rename(f"m{i}")
                        for i, keys in enumerate(self.levels)]
        self.global_median_ = float(df["Sales"].median())
        return self

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        out = np.full(len(df), np.nan)
        for keys, table in zip(self.levels, self.tables_, strict=True):
            values = df[keys].merge(table, left_on=keys, right_index=True, how="left")[table.name].to_numpy()
            out = np.where(np.isnan(out), values, out)
        return np.where(np.isnan(out), self.global_median_, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Median baseline per store x day of week x promo.")
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="unused: the baseline is deterministic")
    args = parser.parse_args(argv)
    train_and_predict(args.build_dir)
    return 0


def train_and_predict(build_dir: str | Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """The baseline's stage: its recipe on every pseudo-test window, then on the competition;
    writes predictions, submission and scores (``models.common.run_stage``), or keeps the last
    run's when its inputs are unchanged (``models.common.kept_stage``). Returns the summary."""
    kept = kept_stage(build_dir, NAME, STAGE_INPUTS, log)
    return kept if kept is not None else run_stage(build_dir, NAME, fit_predict, log=log, inputs=STAGE_INPUTS)


def fit_predict(train: pd.DataFrame, test: pd.DataFrame, meta: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """The baseline's recipe for ``models.common.run_stage``: medians of every open train day."""
    fit = fit_frame(train)
    return MedianBaseline().fit(fit).predict(test), {"n_fit": len(fit)}


if __name__ == "__main__":
    from core.cli import run_cli

    run_cli(main)
