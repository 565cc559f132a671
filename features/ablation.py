"""Does each family beyond fast.ai earn its place? A quick LightGBM ablation.

``python -m features.ablation --data-dir D [--base FAMILY ...] [--seeds 0 1 2] [--rounds N]``
builds every candidate family with the validation start 2015-05-09 (the last 42 train dates),
fits LightGBM on log(Sales) of open days with Sales > 0 before it, and reports the validation
RMSPE (mean over seeds) of: fast.ai's columns alone, fast.ai + the ``--base`` families, base minus
each, and base plus each other candidate. Single-seed differences below ~0.005 are noise here
(the metric is dominated by a few low-sales days), hence the seeds. Run it under
``flock /tmp/heavy.lock`` on a shared machine: each fit takes ~45 s of both cores.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from competition.data import load_competition
from competition.metric import rmspe
from features.columns import FASTAI_CAT_COLS, FASTAI_CONT_COLS
from features.pipeline import EXTRA_FAMILIES, build_features
from features.preprocess import TabularPreprocessor

VALID_START = "2015-05-09"
FAMILIES: dict[str, tuple[list[str], list[str]]] = {
    "store_history": ([], ["HistSalesMean", "HistSalesMedian", "HistCustMean", "HistCustMedian",
                     "HistSalesDowMean", "HistSalesDowMedian", "HistCustDowMean", "HistCustDowMedian",
                     "HistSalesPromoMean", "HistSalesPromoMedian", "HistCustPromoMean",
                     "HistCustPromoMedian", "HistSalesPerCust"]),
    "recent_ratio": ([], ["HistSalesRecentRatio"]),
    "year_ago": ([], ["SalesYearAgoRatio"]),
    "closures": ([], ["DaysSinceClosed", "DaysUntilClosed", "DaysSinceRefurb", "DaysUntilRefurb"]),
    "holiday_counts": ([], ["StateHolidayNextWeek", "StateHolidayLastWeek", "SchoolHolidayNextWeek",
                            "SchoolHolidayLastWeek"]),
    "promo2_month": (["IsPromo2Month"], []),
    "durations": ([], ["AfterStateHoliday", "BeforeStateHoliday", "AfterSchoolHoliday",
                       "BeforeSchoolHoliday"]),
}


def fit_score(tr: pd.DataFrame, va: pd.DataFrame, cats: list[str], conts: list[str],
              rounds: int, seed: int) -> float:
    cats = [c for c in cats if c in tr.columns]
    conts = [c for c in conts if c in tr.columns]
    pp = TabularPreprocessor(cats, conts).fit(tr)
    params = {"objective": "regression", "learning_rate": 0.1, "num_leaves": 63,
              "min_data_in_leaf": 50, "feature_fraction": 0.8, "bagging_fraction": 0.8,
              "bagging_freq": 1, "num_threads": 2, "seed": seed, "verbose": -1,
              "max_cat_to_onehot": 8, "cat_smooth": 10}
    ds = lgb.Dataset(pp.transform_frame(tr), np.log(tr["Sales"].to_numpy(float)),
                     categorical_feature=cats, free_raw_data=True)
    booster = lgb.train(params, ds, num_boost_round=rounds)
    pred = np.exp(booster.predict(pp.transform_frame(va)))
    return rmspe(va["Sales"].to_numpy(float), pred)


def variants_for(base: list[str]) -> dict[str, tuple[list[str], list[str]]]:
    """fast.ai alone, fast.ai + ``base`` families, base minus each, base plus each other family."""
    def cols(fams: list[str]) -> tuple[list[str], list[str]]:
        c = list(FASTAI_CAT_COLS) + [x for f in fams for x in FAMILIES[f][0]]
        n = list(FASTAI_CONT_COLS) + [x for f in fams for x in FAMILIES[f][1]]
        return c, n

    out = {"fastai": cols([]), "base": cols(base)}
    for f in base:
        out[f"base-{f}"] = cols([x for x in base if x != f])
    for f in FAMILIES:
        if f not in base:
            out[f"base+{f}"] = cols(base + [f])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--base", nargs="+", default=["store_history", "closures"],
                        help="families of the base set (default: the kept ones)")
    parser.add_argument("--only", nargs="*", default=None, help="run only these variant names")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    # Every candidate family, the rejected ones included, built in memory (not the CLI's cache).
    vs = pd.Timestamp(VALID_START)
    df, _ = build_features(load_competition(args.data_dir), vs, families=list(EXTRA_FAMILIES))
    df = df[(df["Open"] == 1) & (df["Sales"] > 0)]
    tr, va = df[df["Date"] < vs], df[df["Date"] >= vs]
    print(f"train {len(tr):,} rows, validation {len(va):,} rows from {vs.date()}", flush=True)

    variants = variants_for(args.base)
    results: dict[str, dict[str, float]] = {}
    # Seeds in the outer loop: after the first pass every variant has a number.
    for seed in args.seeds:
        for name, (c, n) in variants.items():
            if args.only and name not in args.only:
                continue
            t0 = time.perf_counter()
            score = fit_score(tr, va, c, n, args.rounds, seed)
            results.setdefault(name, {})[str(seed)] = score
            print(f"seed {seed} {name:28s} RMSPE {score:.5f}  ({time.perf_counter() - t0:.0f}s)", flush=True)
            if args.out:
                args.out.write_text(json.dumps(results, indent=2))
    print("\nvariant                      mean RMSPE   sd      n")
    for name, by_seed in results.items():
        v = np.array(list(by_seed.values()))
        print(f"{name:28s} {v.mean():.5f}   {v.std():.5f}  {len(v)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
