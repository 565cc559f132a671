"""``python -m ensembling.realtests`` (``make realtests``): does the reported score track the real test?

The check of the pseudo-test windows. Real tests are cut from the train data with their answers
(``competition.realtest``; by default six weeks right after four train ends in different seasons),
the whole pipeline runs on each as if it were the competition, with the union of every candidate
scheme's windows (``REALTEST_FOLDS`` recent and ``REALTEST_SEASONS`` same-season windows), and then,
for each candidate window scheme, what it would have reported is set beside the real test's score:
- a model's report is the scheme's weighted mean of its window scores (the models' fits do not
  depend on the scheme);
- the ensemble's is decided, fitted and scored causally on the scheme's windows only, as
  ``make submit`` with just those windows would, and its test prediction is scored too.

The result, ``BUILD_DIR/realtests/results.{md,json}``, gives per scheme and model the reported and
the real RMSPE of every cut, the mean absolute error of the report, its mean bias and how often the
real score fell inside the reported interval. ``make submit`` uses the scheme with the lowest error
(``competition.pseudo_test.window_weights``, ``FOLDS``/``SEASONS``); docs/RESULTS.md keeps the table.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from competition.data import load_competition
from competition.metric import rmspe
from competition.pseudo_test import RECENT, SEASON, Window
from competition.realtest import Cut, cut, write_cut
from competition.synthetic import SOLUTION_NAME
from core.errors import DataError
from core.io import write_json_atomic, write_text_atomic
from ensembling.ensemble import REFERENCE_MODELS, apply_ensemble, fit_ensemble
from ensembling.inputs import load_predictions, load_segments, load_windows, model_names
from ensembling.outputs import read_scores

REPO = Path(__file__).resolve().parents[1]
# Six weeks after four train ends: late spring 2015, summer 2014 (the held-back weeks' season a
# year earlier), autumn 2014 (180 stores missing) and Easter 2015.
DEFAULT_CUTS = ("2015-05-08", "2014-06-20", "2014-09-19", "2015-03-27")
Scheme = Callable[[list[Window]], dict[str, float]]


def _equal(ws: list[Window]) -> dict[str, float]:
    return {w.name: 1.0 / len(ws) for w in ws}


def _half(recent: list[Window], season: list[Window]) -> dict[str, float]:
    """Half the weight to each kind (all of it to one kind when the other has no window)."""
    if not season or not recent:
        return _equal(recent or season)
    return {**{w.name: 0.5 / len(recent) for w in recent}, **{w.name: 0.5 / len(season) for w in season}}


def _recent(ws: list[Window], k: int) -> list[Window]:
    return sorted((w for w in ws if w.kind == RECENT), key=lambda w: w.index)[:k]


def _season(ws: list[Window], k: int) -> list[Window]:
    return sorted((w for w in ws if w.kind == SEASON), key=lambda w: w.years_back)[:k]


# Each candidate: which windows of the union it uses, and their weights.
SCHEMES: dict[str, Scheme] = {
    "recent 1": lambda ws: _equal(_recent(ws, 1)),
    "recent 2": lambda ws: _equal(_recent(ws, 2)),
    "recent 4": lambda ws: _equal(_recent(ws, 4)),
    "season 1y": lambda ws: _equal(_season(ws, 1)),
    "season 1y+2y": lambda ws: _equal(_season(ws, 2)),
    "recent 2 + season 1y, equal": lambda ws: _equal(_recent(ws, 2) + _season(ws, 1)),
    "½ recent 1 + ½ season 1y": lambda ws: _half(_recent(ws, 1), _season(ws, 1)),
    "½ recent 2 + ½ season 1y": lambda ws: _half(_recent(ws, 2), _season(ws, 1)),
    "½ recent 2 + ½ season 1y+2y": lambda ws: _half(_recent(ws, 2), _season(ws, 2)),
    "½ recent 4 + ½ season 1y+2y": lambda ws: _half(_recent(ws, 4), _season(ws, 2)),
}


def weighted(scores: dict[str, float], weights: dict[str, float]) -> tuple[float, float]:
    """The weighted mean of window scores and their weighted standard deviation."""
    v = np.array([scores[n] for n in weights])
    w = np.array(list(weights.values()))
    mean = float(np.sum(w * v))
    return mean, float(np.sqrt(np.sum(w * (v - mean) ** 2)))


def run_pipeline(cut_spec: Cut, data_dir: Path, build_dir: Path, make_args: list[str], log: Path) -> float:
    """``make ensemble`` on the cut (incremental: an up-to-date build costs seconds); returns seconds."""
    t0 = time.perf_counter()
    cmd = [os.environ.get("MAKE", "make"), "--no-print-directory", "-C", str(REPO), "ensemble",
           f"DATA_DIR={data_dir}", f"BUILD_DIR={build_dir}", *make_args]
    print(f"realtests: {cut_spec.name}: {' '.join(cmd[3:])} (log: {log})", flush=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as fh:
        result = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise DataError(f"the pipeline failed on the real test {cut_spec.name} (exit {result.returncode})", file=log,
                        fix="read the end of the log; fix, then rerun `make realtests` (finished cuts are reused)")
    return time.perf_counter() - t0


def evaluate_cut(build_dir: Path, data_dir: Path) -> dict[str, Any]:
    """Every scheme's report against the real test's score, for every model and the ensemble."""
    solution = pd.read_csv(data_dir / SOLUTION_NAME)
    windows = load_windows(build_dir)
    names = model_names(build_dir)
    doc = read_scores(build_dir)["models"]
    oof = load_predictions(build_dir, names, "oof")
    test = load_predictions(build_dir, names, "test")
    seg_oof = load_segments(build_dir, "oof", oof)
    seg_test = load_segments(build_dir, "test", test)
    truth = test[["Id"]].merge(solution, on="Id", how="left")["Sales"].to_numpy(np.float64)
    keep = truth > 0
    real = {n: rmspe(truth[keep], test[n].to_numpy(np.float64)[keep]) for n in names}
    scores = {n: {f"w{r['index']}": r["rmspe"] for r in doc[n]["windows"]} for n in names}
    out: dict[str, Any] = {"real": real, "windows": [w.to_dict() for w in windows], "schemes": {}}
    for scheme, pick in SCHEMES.items():
        weights = pick(windows)
        if not weights:
            continue
        used = [w for w in windows if w.name in weights]
        entry: dict[str, Any] = {"weights": weights, "models": {}}
        for n in names:
            value, sd = weighted(scores[n], weights)
            entry["models"][n] = {"reported": value, "sd": sd, "real": real[n]}
        sub = oof["Window"].isin([w.index for w in used]).to_numpy()
        fit = fit_ensemble(oof[sub].reset_index(drop=True), names, seg_oof[sub].reset_index(drop=True), used)
        ens_scores = fit.decision.window_scores()
        value, sd = weighted(ens_scores, weights)
        pred = apply_ensemble(test, names, seg_test, fit.decision)
        entry["models"]["ensemble"] = {"reported": value, "sd": sd, "real": rmspe(truth[keep], pred[keep]),
                                       "procedure": fit.decision.procedure,
                                       "segment": fit.decision.segment and fit.decision.segment.column}
        out["schemes"][scheme] = entry
    return out


def summarize(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per scheme and model, over the cuts: mean absolute error, mean bias (reported - real) and
    the share of cuts whose real score lay within one sd of the report."""
    cuts = list(results)
    schemes = [s for s in SCHEMES if all(s in results[c]["schemes"] for c in cuts)]
    table: dict[str, Any] = {}
    for s in schemes:
        names = list(results[cuts[0]]["schemes"][s]["models"])
        table[s] = {}
        for n in names:
            rows = [results[c]["schemes"][s]["models"][n] for c in cuts]
            err = np.array([r["reported"] - r["real"] for r in rows])
            inside = np.mean([abs(r["reported"] - r["real"]) <= r["sd"] for r in rows])
            table[s][n] = {"mae": float(np.abs(err).mean()), "bias": float(err.mean()), "coverage": float(inside)}
        # The reference baseline is reported, but a scheme is chosen for the models that are blended.
        table[s]["all"] = {"mae": float(np.mean([table[s][n]["mae"] for n in names if n not in REFERENCE_MODELS]))}
    best = min(table, key=lambda s: table[s]["all"]["mae"])
    return {"table": table, "best": best}


def markdown(results: dict[str, dict[str, Any]], summary: dict[str, Any], cuts: list[Cut]) -> str:
    lines = ["# Does the reported score track the real test? (`make realtests`)", "",
             "Real tests cut from the train data (six weeks after each train end, every store present), the whole "
             "pipeline run on each; per window scheme, what it reported against the real test's RMSPE.", "",
             "| cut (train to) | test | windows |", "|---|---|---|"]
    for c in cuts:
        r = results[c.name]
        wins = ", ".join(f"w{w['index']} {w['label']} "
                         f"{w['start']}..{w['end']}" for w in r["windows"])
        lines.append(f"| {c.train_end.date()} | {c.start.date()}..{c.end.date()} | {wins} |")
    names = list(next(iter(results.values()))["schemes"][summary["best"]]["models"])
    for n in names:
        lines += ["", f"## {n}: reported / real RMSPE", "",
                  "| scheme | " + " | ".join(c.name.removeprefix("train-to-") for c in cuts)
                  + " | mean abs. error | mean bias | real within ±1 sd |",
                  "|---|" + "---:|" * (len(cuts) + 3)]
        for s, row in summary["table"].items():
            cells = [f"{results[c.name]['schemes'][s]['models'][n]['reported']:.4f} / "
                     f"{results[c.name]['schemes'][s]['models'][n]['real']:.4f}" for c in cuts]
            t = row[n]
            lines.append(f"| {s} | " + " | ".join(cells) + f" | {t['mae']:.4f} | {t['bias']:+.4f} | "
                         f"{t['coverage']:.0%} |")
    lines += ["", "## Mean absolute error over the blended models and the ensemble", "", "| scheme | error |",
              "|---|---:|"]
    for s, row in sorted(summary["table"].items(), key=lambda kv: kv[1]["all"]["mae"]):
        lines.append(f"| {s} | {row['all']['mae']:.4f} |")
    lines += ["", f"Lowest error: **{summary['best']}**."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ensembling.realtests", description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True, help="the competition data to cut real tests from")
    ap.add_argument("--out", type=Path, default=Path("build/realtests"))
    ap.add_argument("--cuts", nargs="+", default=list(DEFAULT_CUTS), help="train ends, YYYY-MM-DD")
    ap.add_argument("--days", type=int, default=42, help="days of each real test")
    ap.add_argument("--make-args", nargs="*", default=[],
                    help="passed to `make ensemble` (FOLDS=4 SEASONS=2 SEED=42 THREADS=2 MODELS=...)")
    args = ap.parse_args(argv)
    cuts = [Cut(pd.Timestamp(c), args.days) for c in args.cuts]
    data = None
    results: dict[str, dict[str, Any]] = {}
    for c in cuts:
        cdir = args.out / c.name
        data_dir = cdir / "data"
        if not (data_dir / SOLUTION_NAME).exists():
            if data is None:
                data = load_competition(args.data_dir)
            write_cut(data_dir, *cut(data, c))
        seconds = run_pipeline(c, data_dir, cdir / "build", args.make_args, cdir / "make.log")
        results[c.name] = {"cut": c.to_dict(), "pipeline_seconds": round(seconds, 1),
                           **evaluate_cut(cdir / "build", data_dir)}
        write_json_atomic(args.out / "results.json", results)
    summary = summarize(results)
    write_json_atomic(args.out / "results.json", {"cuts": results, "summary": summary})
    text = markdown(results, summary, cuts)
    write_text_atomic(args.out / "results.md", text)
    print(text)
    print(f"wrote {args.out / 'results.md'} and results.json")
    return 0


if __name__ == "__main__":
    from core.cli import run_cli

    run_cli(main)
