"""The classic Kaggle baseline: median Sales per store x day of week x promo.

Fit on the training part only; a combination never seen falls back to the store x day-of-week
median, then the store median, then the global median. It needs no tuning and sets the bar every
real model must clear.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from models.common import full_frame, load_feature_tables, training_frames, write_outputs

LEVELS = (["Store", "DayOfWeek", "Promo"], ["Store", "DayOfWeek"], ["Store"])


class MedianBaseline:
    """Median of Sales over ``keys``, with coarser fallbacks for unseen combinations."""

    def __init__(self, levels: tuple[list[str], ...] = LEVELS) -> None:
        self.levels = levels

    def fit(self, df: pd.DataFrame) -> "MedianBaseline":
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
    parser.add_argument("--seed", type=int, default=42, help="unused: the baseline is deterministic")
    args = parser.parse_args(argv)
    train, test, meta = load_feature_tables(args.build_dir)
    fit, valid = training_frames(train, meta)
    valid_pred = MedianBaseline().fit(fit).predict(valid)
    test_pred = MedianBaseline().fit(full_frame(train, meta)).predict(test)
    score = write_outputs(args.build_dir, "baseline", valid, valid_pred, test, test_pred)
    print(f"baseline: validation RMSPE {score:.4f} ({meta['valid_start']}..{meta.get('valid_end')})")
    return 0


if __name__ == "__main__":
    from competition.cli import run_cli

    run_cli(main)
