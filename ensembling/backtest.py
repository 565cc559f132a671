"""``python -m ensembling.backtest`` (``make backtest``): where changes are decided.

``make backtest`` runs the very pipeline ``make submit`` runs, on windows across more than a year
(``BACKTEST_FOLDS`` recent windows and ``BACKTEST_SEASONS`` same-season ones), once per seed of
``BACKTEST_SEEDS``, into ``BUILD_DIR/backtest/seed<S>/``. This module turns those builds into
``BUILD_DIR/backtest/results.{md,json}``: every model's and the ensemble's RMSPE on each window
(the ensemble's decided and fitted on the windows before it), mean ± sd over windows, the mean
over the same-season windows, and the expected test RMSPE; and, given ``--against`` (``make
backtest AGAINST=<the default's BUILD_DIR>``), the paired difference of a change against the
default with the verdict of the rule below, in ``compare.{md,json}``, and the same verdict without
the one-off store-days (``competition.metric.one_off_rows``): a handful of days that sold a fraction
of the store's usual can carry half a window's squared error, and a verdict that flips without
them rests on those days.

The rule a change must pass, per model and for the ensemble, is
``competition.pseudo_test.paired_difference``: better on the mean over windows and seeds, by more
than both the seed spread and the window spread, and not worse on the same-season windows.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from competition.metric import ONE_OFF_RATIO, one_off_rows, rmspe
from competition.pseudo_test import LAST_DAYS, SEASON, Window, estimate, paired_difference
from core.errors import DataError
from core.io import write_json_atomic, write_text_atomic
from ensembling.blend import PROCEDURES
from ensembling.ensemble import fit_ensemble
from ensembling.inputs import OOF_KEY, USUAL, load_oof, load_predictions, load_segments, load_windows, model_names
from ensembling.outputs import read_scores

SEED_DIR = re.compile(r"^seed(\d+)$")


def seed_builds(backtest_dir: Path) -> dict[int, Path]:
    """The per-seed builds of a backtest folder (``seed<S>/``), by seed."""
    found = {int(m.group(1)): p for p in sorted(backtest_dir.glob("seed*")) if (m := SEED_DIR.match(p.name))}
    if not found:
        raise DataError("no per-seed builds (seed<S>/) in the backtest folder", file=backtest_dir,
                        fix="run the backtest first: `make backtest BUILD_DIR=...` (BACKTEST_SEEDS names the seeds)")
    return found


def window_scores(build_dir: Path) -> dict[str, Any]:
    """One build's ``{"windows": [...], "scores": {name: {window name: rmspe}}, "last": {...}}``
    from its scores.json (models and the ensemble)."""
    ens = read_scores(build_dir).get("models", {}).get("ensemble")
    if not ens or "windows" not in ens:
        raise DataError("reports/scores.json has no ensemble entry with per-window scores",
                        file=build_dir / "reports" / "scores.json",
                        fix="run the pipeline first (`make backtest` does: `make ensemble` per seed)")
    rows = ens["windows"]
    names = sorted(rows[0]["models"], key=lambda n: (n == "ensemble", n))
    windows = [{k: r[k] for k in ("window", "label", "kind", "start", "end", "train_end", "rows") if k in r}
               for r in rows]
    return {"windows": windows,
            "scores": {n: {f"w{r['window']}": r["models"][n]["rmspe"] for r in rows} for n in names},
            "last": {n: {f"w{r['window']}": r["models"][n][f"rmspe_last{LAST_DAYS}"] for r in rows} for n in names}}


def season_names(windows: list[dict[str, Any]]) -> list[str]:
    """The names (``w<i>``) of the same-season windows."""
    return [f"w{w['window']}" for w in windows if w.get("kind") == SEASON]


def _windows(result: dict[str, Any]) -> list[Window]:
    return [Window(w["window"], pd.Timestamp(w["train_end"]), pd.Timestamp(w["start"]), pd.Timestamp(w["end"]),
                   w.get("kind", "recent")) for w in result["windows"]]


def summarize(backtest_dir: Path) -> dict[str, Any]:
    """Per model: each window's score (mean over seeds), mean ± sd over windows, the same-season
    mean, the last days' mean and the expected test RMSPE; and each seed's mean."""
    builds = {s: window_scores(p) for s, p in seed_builds(backtest_dir).items()}
    first = next(iter(builds.values()))
    wins = first["windows"]
    for s, b in builds.items():
        if [w["window"] for w in b["windows"]] != [w["window"] for w in wins]:
            raise DataError(f"seed {s}'s build has other windows than seed {next(iter(builds))}'s",
                            file=backtest_dir / f"seed{s}", fix="rebuild every seed with the same FOLDS and SEASONS")
    names = list(first["scores"])
    season = season_names(wins)
    summary: dict[str, Any] = {}
    for n in names:
        per = {k: float(np.mean([b["scores"][n][k] for b in builds.values()])) for k in first["scores"][n]}
        v = np.array(list(per.values()))
        est = estimate(per, _windows(first))
        summary[n] = {
            "per_window": per, "mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "season_mean": float(np.mean([per[k] for k in season])) if season else None,
            "last_mean": float(np.mean([np.mean([b["last"][n][k] for b in builds.values()]) for k in per])),
            "estimate": est.value, "estimate_low": est.low, "estimate_high": est.high,
            "per_seed_mean": {str(s): float(np.mean(list(b["scores"][n].values()))) for s, b in builds.items()},
            "per_seed": {str(s): b["scores"][n] for s, b in builds.items()},
        }
    return {"seeds": sorted(builds), "windows": wins, "summary": summary}


def compare(change: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The paired difference of a change against the default (both :func:`summarize` results over
    the same windows and seeds), per model, with the rule's verdict
    (``competition.pseudo_test.paired_difference``)."""
    if [w["window"] for w in change["windows"]] != [w["window"] for w in base["windows"]] \
            or [w["start"] for w in change["windows"]] != [w["start"] for w in base["windows"]]:
        raise DataError("the two backtests have different windows; a paired difference needs the same ones",
                        fix="run both with the same DATA_DIR, BACKTEST_FOLDS and BACKTEST_SEASONS")
    seeds = sorted(set(change["seeds"]) & set(base["seeds"]))
    if not seeds:
        raise DataError(f"no seed in common (change {change['seeds']}, default {base['seeds']})",
                        fix="run both with the same BACKTEST_SEEDS")
    season = season_names(base["windows"])
    windows = _windows(base)
    out: dict[str, Any] = {"seeds": seeds, "models": {}}
    for n in [m for m in base["summary"] if m in change["summary"]]:
        c, b = change["summary"][n], base["summary"][n]
        verdict = paired_difference({str(s): c["per_seed"][str(s)] for s in seeds},
                                    {str(s): b["per_seed"][str(s)] for s in seeds}, season)
        # The estimate is a weighted mean of the window scores, so its change is the same weighted
        # mean of the paired differences: over the common seeds, as they are.
        out["models"][n] = {**verdict, "estimate_change": estimate(verdict["per_window"], windows).value}
    return out


def without_one_off(change_dir: Path, base_dir: Path, seeds: list[int], season: list[str]) -> dict[str, Any] | None:
    """The rule's verdict per model again, with the one-off store-days dropped from both sides:
    the days whose Sales is below ``1 / ONE_OFF_RATIO`` of the default's baseline prediction (the
    same days for every model; the median baseline draws no random number, so for every seed too).
    None where the default has no baseline model."""
    scores: dict[str, dict[str, dict[str, dict[str, float]]]] = {"change": {}, "base": {}}
    one_off: dict[str, int] = {}
    for seed in seeds:
        if not (base_dir / f"seed{seed}" / "predictions" / f"{USUAL}.oof.parquet").exists():
            return None
        base, base_cols = load_oof(base_dir / f"seed{seed}")
        flags = base[OOF_KEY].assign(_one_off=one_off_rows(base["Sales"], base[USUAL]))
        one_off = {f"w{int(w)}": int(n) for w, n in flags.groupby("Window")["_one_off"].sum().items()}
        change, change_cols = load_oof(change_dir / f"seed{seed}")
        for side, frame, cols in (("base", base, base_cols), ("change", change, change_cols)):
            f = frame.merge(flags, on=OOF_KEY, how="left", indicator=True)
            if (f["_merge"] != "both").any() or len(f) != len(flags):
                raise DataError(f"seed {seed}: the two backtests' predictions cover different store-days",
                                file=(change_dir if side == "change" else base_dir) / f"seed{seed}" / "predictions",
                                fix="run both with the same DATA_DIR, BACKTEST_FOLDS and BACKTEST_SEASONS")
            keep = f[(f["Sales"] > 0) & ~f["_one_off"].astype(bool)]
            scores[side][str(seed)] = {n: {f"w{int(w)}": rmspe(g["Sales"], g[n]) for w, g in keep.groupby("Window")}
                                       for n in cols}
    names = [n for n in scores["base"][str(seeds[0])] if n in scores["change"][str(seeds[0])]]
    return {"ratio": ONE_OFF_RATIO, "one_off_rows": one_off,
            "models": {n: paired_difference({s: v[n] for s, v in scores["change"].items()},
                                            {s: v[n] for s, v in scores["base"].items()}, season) for n in names}}


def rescore_ensemble(backtest_dir: Path, procedures: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """The ensemble of every seed's build decided again with only ``procedures`` (an ensembler
    change, tried without retraining a model): ``{seed: {window name: rmspe}}``."""
    out = {}
    for seed, build in seed_builds(backtest_dir).items():
        names = model_names(build)
        oof = load_predictions(build, names, "oof")
        fit = fit_ensemble(oof, names, load_segments(build, "oof", oof), load_windows(build), procedures=procedures)
        out[str(seed)] = fit.decision.window_scores()
    return out


def results_markdown(result: dict[str, Any]) -> str:
    wins = result["windows"]
    head = ["model"] + [f"w{w['window']} {w.get('label', '')} ({w['start']}..{w['end']})" for w in wins] + \
        ["mean ± sd", "same season", f"last {LAST_DAYS} days", "expected test RMSPE"]
    lines = [f"# Backtest: {len(wins)} windows, seeds {', '.join(map(str, result['seeds']))}", "",
             "Each window is built like the test (same length, stores and gap after train); every model was trained "
             "on the data before the window's gap only; the ensemble on a window was decided and fitted on the windows "
             "before it. Scores are means over the seeds.", "",
             "| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for name, s in result["summary"].items():
        cells = [f"{v:.4f}" for v in s["per_window"].values()]
        season = f"{s['season_mean']:.4f}" if s["season_mean"] is not None else "-"
        expected = f"{s['estimate']:.4f} ({s['estimate_low']:.4f}..{s['estimate_high']:.4f})"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {s['mean']:.4f} ± {s['sd']:.4f} | {season} | "
                     f"{s['last_mean']:.4f} | {expected} |")
    return "\n".join(lines) + "\n"


def _verdict_row(name: str, m: dict[str, Any], estimate_change: bool, note: str = "") -> str:
    season = f"{m['season_mean']:+.4f}" if m["season_mean"] is not None else "-"
    estimate = f"{m['estimate_change']:+.4f} | " if estimate_change else ""
    verdict = "passes" if m["passes"] else "does not pass"
    return (f"| {name} | {m['mean']:+.4f} | {m['seed_sd']:.4f} | {m['window_se']:.4f} | {season} | "
            f"{m['better_windows']}/{m['n_windows']} | {estimate}{verdict}{note} |")


VERDICT_HEAD = "| model | mean difference | seed spread | window spread | same season | windows better | "


def compare_markdown(cmp: dict[str, Any], change_dir: Path, base_dir: Path) -> str:
    lines = [f"# Paired difference: {change_dir} against {base_dir}", "",
             f"Change minus default, per window (mean over seeds {', '.join(map(str, cmp['seeds']))}); negative is "
             "better. A change passes if it is better on the mean by more than both the seed spread and the "
             "window spread, and not worse on the same-season windows (ensembling/backtest.py).", "",
             VERDICT_HEAD + "estimate change | verdict |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    lines += [_verdict_row(n, m, estimate_change=True) for n, m in cmp["models"].items()]
    per_window = next(iter(cmp["models"].values()))["per_window"]
    lines += ["", "Per window:", "", "| model | " + " | ".join(per_window) + " |",
              "|---" + "|---:" * len(per_window) + "|"]
    for n, m in cmp["models"].items():
        lines.append(f"| {n} | " + " | ".join(f"{v:+.4f}" for v in m["per_window"].values()) + " |")
    robust = cmp.get("without_one_off")
    if robust is None:
        lines += ["", f"No `{USUAL}` predictions in the default's builds: no verdict without the one-off store-days."]
        return "\n".join(lines) + "\n"
    counts = robust["one_off_rows"]
    lines += ["", f"Without the one-off store-days ({sum(counts.values())} over the windows: "
              + ", ".join(f"{w} {n}" for w, n in counts.items())
              + f"; Sales below 1/{robust['ratio']:g} of the default's {USUAL} prediction, dropped on both sides). "
              "RMSPE scores them, so the verdict above stands; where this one differs, it rests on those days.", "",
              VERDICT_HEAD + "verdict |", "|---|---:|---:|---:|---:|---:|---|"]
    for n, m in robust["models"].items():
        differs = n in cmp["models"] and cmp["models"][n]["passes"] != m["passes"]
        lines.append(_verdict_row(n, m, estimate_change=False, note=" (differs)" if differs else ""))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ensembling.backtest", description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", type=Path, default=Path("build/backtest"), help="the backtest folder (seed<S>/)")
    ap.add_argument("--against", type=Path, default=None,
                    help="another backtest folder (the default's) to compare with, window by window")
    ap.add_argument("--procedures", nargs="+", choices=PROCEDURES, default=None,
                    help="also decide the ensemble again with only these procedures, and judge that change "
                         "against the default ensemble by the rule (no model is retrained)")
    args = ap.parse_args(argv)
    result = summarize(args.build_dir)
    season = season_names(result["windows"])
    write_json_atomic(args.build_dir / "results.json", result)
    text = results_markdown(result)
    write_text_atomic(args.build_dir / "results.md", text)
    print(text)
    print(f"wrote {args.build_dir / 'results.md'} and results.json")
    if args.procedures:
        verdict = paired_difference(rescore_ensemble(args.build_dir, tuple(args.procedures)),
                                    result["summary"]["ensemble"]["per_seed"], season)
        write_json_atomic(args.build_dir / "procedures.json", {"procedures": args.procedures, **verdict})
        print(f"ensemble with procedures {' '.join(args.procedures)} against the default: mean difference "
              f"{verdict['mean']:+.4f} (seed spread {verdict['seed_sd']:.4f}, window spread "
              f"{verdict['window_se']:.4f}, same season "
              f"{'-' if verdict['season_mean'] is None else format(verdict['season_mean'], '+.4f')}): "
              f"{'passes' if verdict['passes'] else 'does not pass'}")
    if args.against is not None:
        cmp = compare(result, summarize(args.against))
        cmp["without_one_off"] = without_one_off(args.build_dir, args.against, cmp["seeds"], season)
        write_json_atomic(args.build_dir / "compare.json", cmp)
        md = compare_markdown(cmp, args.build_dir, args.against)
        write_text_atomic(args.build_dir / "compare.md", md)
        print(md)
        print(f"wrote {args.build_dir / 'compare.md'} and compare.json")
    return 0


if __name__ == "__main__":
    from core.cli import run_cli

    run_cli(main)
