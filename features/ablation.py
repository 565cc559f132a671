"""Does each family beyond fast.ai earn its place? A quick LightGBM ablation.

``python -m features.ablation --data-dir D --build-dir B [--rounds N]`` builds the features with
the validation start 2015-05-09 (the last 42 train dates), fits LightGBM on log(Sales) of open
days with Sales > 0 before it, and reports the validation RMSPE of: fast.ai's columns alone,
fast.ai + each family, all families, and all minus each family. Run it under
``flock /tmp/heavy.lock`` on a shared machine: each fit takes a minute of both cores.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from features.columns import FASTAI_CAT_COLS, FASTAI_CONT_COLS

VALID_START = "2015-05-09"
FAMILIES: dict[str, tuple[list[str], list[str]]] = {
    "history": ([], ["HistSalesMean", "HistSalesMedian", "HistCustMean", "HistCustMedian",
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


def rmspe(y: np.ndarray, yhat: np.ndarray) -> float:
    return float(np.sqrt(np.mean(((y - yhat) / y) ** 2)))


def fit_score(tr: pd.DataFrame, va: pd.DataFrame, cats: list[str], conts: list[str],
              rounds: int, seed: int) -> float:
    import lightgbm as lgb

    from features.preprocess import TabularPreprocessor

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--build-dir", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", default=None, help="run only these variant names")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    from features.cli import build

    meta = build(args.data_dir, args.build_dir, VALID_START)
    df = pd.read_parquet(args.build_dir / "features" / "train.parquet")
    df = df[(df["Open"] == 1) & (df["Sales"] > 0)]
    vs = pd.Timestamp(meta["valid_start"])
    tr, va = df[df["Date"] < vs], df[df["Date"] >= vs]
    print(f"train {len(tr):,} rows, validation {len(va):,} rows from {vs.date()}", flush=True)

    base_c, base_n = list(FASTAI_CAT_COLS), list(FASTAI_CONT_COLS)
    all_c = base_c + [c for f in FAMILIES.values() for c in f[0]]
    all_n = base_n + [c for f in FAMILIES.values() for c in f[1]]
    variants: dict[str, tuple[list[str], list[str]]] = {"fastai": (base_c, base_n)}
    for name, (c, n) in FAMILIES.items():
        variants[f"fastai+{name}"] = (base_c + c, base_n + n)
    variants["all"] = (all_c, all_n)
    for name, (c, n) in FAMILIES.items():
        variants[f"all-{name}"] = ([x for x in all_c if x not in c], [x for x in all_n if x not in n])
    results = {}
    for name, (c, n) in variants.items():
        if args.only and name not in args.only:
            continue
        t0 = time.perf_counter()
        results[name] = fit_score(tr, va, c, n, args.rounds, args.seed)
        print(f"{name:28s} RMSPE {results[name]:.5f}  ({time.perf_counter() - t0:.0f}s)", flush=True)
        if args.out:
            args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
