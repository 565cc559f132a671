"""Does each feature family earn its place? LightGBM on the pseudo-test windows, over seeds.

``python -m experiments.ablation --data-dir D --build-dir B [--folds 9] [--seasons 2] [--seeds 0 1]
[--rounds 300]`` builds every family (the candidates of ``experiments.candidates`` too) for each
pseudo-test window (``competition.pseudo_test.plan``: recent and same-season windows, shaped like
the real test, censored like it) once, caches the tables in ``B/ablation/w<k>/``, and then fits
LightGBM with each variant's columns on every window and seed: the default columns (``base``),
base plus each candidate family, base minus each default family. Each variant is judged against
``base`` by the rule every change must pass (``competition.pseudo_test.paired_difference``).
Results go to ``B/ablation/results.{json,md}``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from competition.data import load_competition
from competition.metric import rmspe
from competition.pseudo_test import SEASON, Window, paired_difference, plan, pseudo_test
from competition.split import validation_split
from core.cli import run_cli
from core.errors import DataError
from core.io import write_json_atomic, write_text_atomic, write_with
from experiments.candidates import CANDIDATE_FAMILIES
from features.columns import CAT_COLS, CONT_COLS
from features.pipeline import build_features
from features.registry import DEFAULT_FAMILIES
from models.common import fit_frame
from models.lgbm import DEFAULT_PARAMS, LGBMSalesRegressor, lgb_frame, make_preprocessor, tree_columns

# The columns each family adds (categorical, continuous): the registry's families (default and
# candidate), and fast.ai's two from the external tables, which can be dropped like any family.
FAMILIES: dict[str, tuple[list[str], list[str]]] = {
    **{f.name: (list(f.cat_cols), list(f.cont_cols)) for f in DEFAULT_FAMILIES + CANDIDATE_FAMILIES},
    "weather": ([], ["Max_TemperatureC", "Mean_TemperatureC", "Min_TemperatureC", "Max_Humidity",
                     "Mean_Humidity", "Min_Humidity", "Max_Wind_SpeedKm_h", "Mean_Wind_SpeedKm_h", "CloudCover"]),
    "google_trend": ([], ["trend", "trend_DE"]),
}
# The ablation's LightGBM: the production parameters at twice the learning rate and half the
# rounds, so that a variant costs half a production fit; it ranks families, it does not submit.
ABLATION_LEARNING_RATE = 0.1
# The default families: those whose columns are all in features.columns (what `make submit` fits).
DEFAULT_BASE = [f for f, (fc, fn) in FAMILIES.items() if set(fc + fn) <= set(CAT_COLS + CONT_COLS)]
ABLATION_ROUNDS = 300


def window_tables(data_dir: Path, out_dir: Path, folds: int, seasons: int) -> list[tuple[Path, Window]]:
    """Every family's columns for each pseudo-test window, cached under ``out_dir/w<k>/``."""
    data = load_competition(data_dir)
    wins, _ = plan(data.train["Date"], data.test["Date"], folds, seasons)
    dirs = []
    for w in tqdm(wins, desc="ablation: window features", unit="window"):
        wdir = out_dir / w.name
        dirs.append((wdir, w))
        if (wdir / "labels.parquet").exists():
            continue
        pt = pseudo_test(data, w)
        vs = validation_split(pt.data.train["Date"], pt.data.test["Date"]).valid_start
        train, test = build_features(pt.data, vs, families=DEFAULT_FAMILIES + CANDIDATE_FAMILIES)
        write_with(wdir / "train.parquet", lambda p, t=train: t.to_parquet(p, index=False))
        write_with(wdir / "test.parquet", lambda p, t=test: t.to_parquet(p, index=False))
        write_with(wdir / "labels.parquet", lambda p, t=pt.labels: t.to_parquet(p, index=False))
    return dirs


def variants(base_families: list[str]) -> dict[str, tuple[list[str], list[str]]]:
    """``base`` (features.columns), base minus each of ``base_families``, base plus each other family."""
    def without(fams: list[str]) -> tuple[list[str], list[str]]:
        drop = {c for f in fams for part in FAMILIES[f] for c in part}
        return [c for c in CAT_COLS if c not in drop], [c for c in CONT_COLS if c not in drop]

    out = {"base": without([])}
    for f in base_families:
        out[f"base - {f}"] = without([f])
    cats, conts = out["base"]
    for f, (fc, fn) in FAMILIES.items():
        if f not in base_families:
            out[f"base + {f}"] = (cats + [c for c in fc if c not in cats], conts + [c for c in fn if c not in conts])
    return out


def proposal(spec: str, base_families: list[str]) -> tuple[str, tuple[list[str], list[str]]]:
    """A combined variant such as ``+day_counters,-weather``: base plus and minus whole families."""
    cats, conts = variants(base_families)["base"]
    for item in spec.split(","):
        sign, fam = item.strip()[:1], item.strip()[1:]
        if sign not in "+-" or fam not in FAMILIES:
            raise DataError(f"--proposal item {item!r} is not +FAMILY or -FAMILY", column="--proposal",
                            fix=f"families: {', '.join(FAMILIES)}")
        fc, fn = FAMILIES[fam]
        if sign == "+":
            cats, conts = cats + [c for c in fc if c not in cats], conts + [c for c in fn if c not in conts]
        else:
            cats, conts = [c for c in cats if c not in fc], [c for c in conts if c not in fn]
    return f"base {spec}", (cats, conts)


def score(train: pd.DataFrame, test: pd.DataFrame, labels: pd.DataFrame, cats: list[str], conts: list[str],
          seed: int, rounds: int, threads: int, learning_rate: float = ABLATION_LEARNING_RATE) -> float:
    """One window, one seed: fit on every open train day, RMSPE on the window's open days."""
    fit_df = fit_frame(train)
    cats, conts = tree_columns([c for c in cats if c in fit_df.columns], [c for c in conts if c in fit_df.columns])
    pre = make_preprocessor(cats, conts, fit_df)
    params = {**DEFAULT_PARAMS, "learning_rate": learning_rate}
    model = LGBMSalesRegressor(params, seed=seed, num_boost_round=rounds,
                               num_threads=threads)
    model.fit(lgb_frame(pre, fit_df, cats), fit_df["Sales"])
    keep = (test["Open"].to_numpy() == 1) & (labels["Sales"].to_numpy() > 0)
    pred = model.predict(lgb_frame(pre, test[keep], cats))
    return rmspe(labels["Sales"].to_numpy(np.float64)[keep], pred)


def summarize(results: dict[str, dict[str, dict[str, float]]], season: list[str]) -> list[dict[str, Any]]:
    """Per variant: mean over windows for each seed, then mean and sd over seeds, and against ``base``
    (same seeds and windows) the paired difference and the rule's verdict (``paired_difference``)."""
    rows = []
    base = results.get("base", {})
    for name, by_seed in results.items():
        per_seed = {s: float(np.mean(list(w.values()))) for s, w in by_seed.items()}
        v = np.array(list(per_seed.values()))
        row: dict[str, Any] = {"variant": name, "mean": float(v.mean()),
                               "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n_seeds": len(v),
                               **{k: float(np.mean([w[k] for w in by_seed.values() if k in w]))
                                  for k in sorted({k for w in by_seed.values() for k in w})}}
        common = [s for s in by_seed if s in base and set(by_seed[s]) == set(base[s])]
        if name != "base" and common:
            row["vs_base"] = paired_difference({s: by_seed[s] for s in common}, {s: base[s] for s in common},
                                               [w for w in season if w in base[common[0]]])
        rows.append(row)
    return rows


def to_markdown(rows: list[dict[str, Any]], command: str) -> str:
    wcols = sorted({k for r in rows for k in r if k.startswith("w")}, key=lambda w: int(w[1:]))
    lines = [f"`{command}`", "", "| variant | " + " | ".join(wcols) + " | mean ± seed sd | vs base (paired) "
             "| seed spread | window spread | same season | verdict |", "|---|" + "---:|" * (len(wcols) + 6) + "---|"]
    for r in rows:
        v = r.get("vs_base")
        tail = " | | | | |" if v is None else (
            f" | {v['mean']:+.4f} | {v['seed_sd']:.4f} | {v['window_se']:.4f} | "
            + ("-" if v["season_mean"] is None else f"{v['season_mean']:+.4f}")
            + f" | {'passes' if v['passes'] else 'does not pass'} |")
        lines.append(f"| {r['variant']} | " + " | ".join(f"{r[w]:.4f}" for w in wcols)
                     + f" | {r['mean']:.4f} ± {r['sd']:.4f}" + tail)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.ablation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    # Decisions are made on windows across the year, as `make backtest`'s.
    parser.add_argument("--folds", type=int, default=9, help="recent pseudo-test windows")
    parser.add_argument("--seasons", type=int, default=2, help="same-season windows (the test's dates years back)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--rounds", type=int, default=ABLATION_ROUNDS)
    parser.add_argument("--learning-rate", type=float, default=ABLATION_LEARNING_RATE,
                        help="LightGBM's learning rate (0.05 with --rounds 600: the production fit)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--base", nargs="+", default=DEFAULT_BASE,
                        help="the default families, each removed in turn (default: those of features.columns)")
    parser.add_argument("--only", nargs="*", default=None, help="run only these variants")
    parser.add_argument("--proposal", action="append", default=[],
                        help="a combined variant to score too (repeatable), e.g. --proposal=+day_counters,-weather")
    args = parser.parse_args(argv)
    out_dir = args.build_dir / "ablation"
    path = out_dir / "results.json"
    # Resumed scores must come from the same fit: settings.json says which one they came from.
    settings = {"rounds": args.rounds, "learning_rate": args.learning_rate, "folds": args.folds,
                "seasons": args.seasons}
    settings_path = out_dir / "settings.json"
    if path.exists() and settings_path.exists() and json.loads(settings_path.read_text()) != settings:
        raise DataError(f"the scores in {path} come from other settings ({settings_path.read_text().strip()}), "
                        f"not {json.dumps(settings)}", file=settings_path,
                        fix="pass the same --rounds/--learning-rate/--folds/--seasons, or another --build-dir")
    write_json_atomic(settings_path, settings)
    dirs = window_tables(args.data_dir, out_dir, args.folds, args.seasons)
    tables = [(d.name, pd.read_parquet(d / "train.parquet"), pd.read_parquet(d / "test.parquet"),
               pd.read_parquet(d / "labels.parquet")) for d, _ in dirs]
    season = [w.name for _, w in dirs if w.kind == SEASON]
    command = ("python -m experiments.ablation --data-dir {} --folds {} --seasons {} --seeds {} --rounds {} "
               "--learning-rate {}".format(args.data_dir, args.folds, args.seasons, " ".join(map(str, args.seeds)),
                                           args.rounds, args.learning_rate))
    results: dict[str, dict[str, dict[str, float]]] = json.loads(path.read_text()) if path.exists() else {}
    todo = {k: v for k, v in variants(args.base).items() if not args.only or k in args.only}
    todo.update(proposal(spec, args.base) for spec in args.proposal)
    # Seeds outermost: after the first pass every variant has a number.
    for seed in args.seeds:
        for name, (cats, conts) in todo.items():
            done = results.get(name, {}).get(str(seed), {})
            for wname, train, test, labels in tables:
                if wname in done:
                    continue
                t0 = time.perf_counter()
                s = score(train, test, labels, cats, conts, seed, args.rounds, args.threads, args.learning_rate)
                results.setdefault(name, {}).setdefault(str(seed), {})[wname] = s
                write_json_atomic(path, results)
                print(f"seed {seed} {wname} {name:28s} RMSPE {s:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    rows = summarize(results, season)
    write_text_atomic(out_dir / "results.md", to_markdown(rows, command))
    print(to_markdown(rows, command))
    return 0


if __name__ == "__main__":
    run_cli(main)
