"""Blend the models' predictions into ``submissions/ensemble.csv`` and ``submission.csv``.

Everything is fitted on the pooled out-of-window predictions (``predictions/<model>.oof.parquet``):
each model predicted every pseudo-test window from a fit that ended before the window's gap, with
the same recipe that made its test predictions, so the blend and the factor learn how that recipe
errs on unseen weeks, and carry over to the test unchanged.
1. weights in linear and geometric (log1p) space, non-negative, summing to one, each with its
   own RMSPE correction factor (the one correction factor in the whole chain: no model applies
   its own); the space with the lower RMSPE wins;
2. six procedures (best single model, equal-weight geometric mean of the good models, fitted
   blend; each with and without the factor) are scored
   leave-one-window-out (fitted on the other windows, scored on each in turn); the simplest
   within ``min_gain`` of the best is used;
3. per-segment factors (StoreType, Assortment, State, Promo, DayOfWeek, Store) on top, only if
   they beat the global factor leave-one-window-out in every window;
4. the reported score is the chosen procedure's leave-one-window-out RMSPE, averaged over windows
   as every model's is. The in-sample score (fitted on the rows it is scored on) is kept,
   labelled so, for comparison only.
"""
from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from competition.dataset import identify, require_match
from competition.metric import rmspe
from competition.pseudo_test import LAST_DAYS, last_days
from core.errors import DataError
from core.io import atomic_path, sha256_of, write_json_atomic, write_with
from ensembling import blend
from ensembling.inputs import load_meta, load_predictions, load_segments, model_names
from ensembling.outputs import record_ensemble, write_submission_file

DEFAULT_SEGMENTS = ("StoreType", "Assortment", "State", "Promo", "DayOfWeek", "Store")
# A segment factor must lower RMSPE on every held-out window by this much.
# 0.0005 is ~0.5% of a typical Rossmann RMSPE: below that a gain is indistinguishable from noise.
DEFAULT_MIN_GAIN = 0.0005
# Shrinkage of segment factors towards the global one, in pseudo-rows: a store with ~20 open
# days moves only about half-way to its own raw factor.
DEFAULT_STRENGTH = 20.0


@dataclass
class EnsembleFit:
    """What ``fit_ensemble`` learned: the JSON-ready ``decision`` and its row-aligned predictions
    (``in_sample``: fitted on all windows; ``out_of_window``: each window from a fit on the others)
    on the ``scored`` rows (Sales > 0) of the out-of-window frame."""

    decision: dict[str, Any]
    in_sample: np.ndarray
    out_of_window: np.ndarray
    scored: np.ndarray


def _segment_arrays(seg: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> dict[str, np.ndarray]:
    """Usable segment columns: present and without gaps (a NaN segment cannot be fitted)."""
    out = {}
    for c in columns:
        if c in seg.columns and not seg[c].isna().any():
            # As text, so factors keyed by value survive the JSON round trip ("1" for Store 1).
            out[c] = seg[c].astype(str).to_numpy(dtype=object)
    return out


def _window_table(y: np.ndarray, P: np.ndarray, names: list[str], groups: np.ndarray, dates: np.ndarray,
                  ensemble: np.ndarray) -> list[dict[str, Any]]:
    """Per window: each model's and the ensemble's RMSPE, overall and on the last LAST_DAYS."""
    rows = []
    for w in np.unique(groups):
        m = groups == w
        d = dates[m]
        last = last_days(d)
        row: dict[str, Any] = {"window": int(w), "start": str(pd.Timestamp(d.min()).date()),
                               "end": str(pd.Timestamp(d.max()).date()), "rows": int(m.sum()), "models": {}}
        for j, n in enumerate(names + ["ensemble"]):
            pred = ensemble[m] if n == "ensemble" else P[m, j]
            row["models"][n] = {"rmspe": rmspe(y[m], pred), f"rmspe_last{LAST_DAYS}": rmspe(y[m][last], pred[last])}
        rows.append(row)
    return rows


def fit_ensemble(oof: pd.DataFrame, names: list[str], segments: pd.DataFrame,
                 segment_columns: tuple[str, ...] | list[str] = DEFAULT_SEGMENTS,
                 min_gain: float = DEFAULT_MIN_GAIN, strength: float = DEFAULT_STRENGTH) -> EnsembleFit:
    """Fit everything on the pooled out-of-window frame and score it leave-one-window-out.

    ``oof`` has Window, Store, Date, Sales and one column per model; ``segments`` is row-aligned.
    """
    scored = (oof["Sales"] > 0).to_numpy()
    if scored.sum() < 10:
        raise DataError(f"only {int(scored.sum())} out-of-window rows with Sales > 0; cannot fit a blend",
                        fix="check the pseudo-test windows in features/meta.json")
    groups = oof.loc[scored, "Window"].to_numpy()
    if len(np.unique(groups)) < 2:
        raise DataError(f"the predictions cover {len(np.unique(groups))} pseudo-test window; the ensemble is "
                        "scored leave-one-window-out and needs at least 2", column="Window",
                        fix="rebuild with FOLDS=2 or more (make submit FOLDS=3)")
    P = oof.loc[scored, names].to_numpy(np.float64)
    y = oof.loc[scored, "Sales"].to_numpy(np.float64)
    dates = oof.loc[scored, "Date"].to_numpy()
    seg_all = _segment_arrays(segments, segment_columns)
    seg = {c: a[scored] for c, a in seg_all.items()}

    procedure, procedure_scores = blend.choose_procedure(P, y, groups, min_gain, strength)
    _, fits = blend.fit_blend(P, y)
    fit = blend.fit_procedure(P, y, procedure)
    base = blend.base_blend(P, fit.weights, fit.space)
    checks = blend.check_segments(P, y, groups, seg, strength, min_gain, procedure) if seg else []
    accepted = [c for c in checks if c.accepted]
    chosen = max(accepted, key=lambda c: float(np.mean(c.gains))) if accepted else None

    seg_factors: dict[Any, float] | None = None
    if chosen is not None:
        seg_factors = blend.fit_segment_factors(base, y, seg[chosen.column], fit.factor, strength)
        pred_in = blend.apply_segment_factors(base, seg[chosen.column], seg_factors, fit.factor)
    else:
        pred_in = fit.factor * base
    pred_oow, held_out = blend.cross_fit(P, y, groups, seg[chosen.column] if chosen else None, strength, procedure)
    windows = _window_table(y, P, names, groups, dates, pred_oow)
    per_window = np.array([w["models"]["ensemble"]["rmspe"] for w in windows])
    decision = {
        "models": names,
        "procedure": procedure,
        "procedure_rmspe_out_of_window": procedure_scores,
        "space": fit.space,
        "weights": {n: float(w) for n, w in zip(names, fit.weights)},
        "factor": float(fit.factor),
        "segment": None if chosen is None else {
            "column": chosen.column, "n_segments": len(seg_factors or {}),
            "factors": {str(k): float(v) for k, v in (seg_factors or {}).items()},
            "strength": strength},
        "segment_checks": [c.to_dict() for c in checks],
        "segment_min_gain": min_gain,
        "spaces_in_sample": {s: f.to_dict(names) for s, f in fits.items()},
        "rmspe": float(per_window.mean()),
        "rmspe_sd": float(per_window.std(ddof=1)),
        f"rmspe_last{LAST_DAYS}": float(np.mean([w["models"]["ensemble"][f"rmspe_last{LAST_DAYS}"] for w in windows])),
        "rmspe_in_sample": blend.mean_window_rmspe(y, pred_in, groups),
        "rmspe_without_factor_in_sample": blend.mean_window_rmspe(y, base, groups),
        "models_rmspe": {n: float(np.mean([w["models"][n]["rmspe"] for w in windows])) for n in names},
        "held_out_fits": held_out,
        "windows": windows,
        "n_rows_scored": int(len(y)),
    }
    return EnsembleFit(decision, pred_in, pred_oow, scored)


def apply_ensemble(frame: pd.DataFrame, names: list[str], segments: pd.DataFrame,
                   decision: dict[str, Any]) -> np.ndarray:
    """Predictions for any frame of model predictions (validation or test) under ``decision``."""
    P = frame[names].to_numpy(np.float64)
    w = np.array([decision["weights"][n] for n in names])
    base = blend.base_blend(P, w, decision["space"])
    seg = decision.get("segment")
    if seg:
        values = _segment_arrays(segments, [seg["column"]]).get(seg["column"])
        if values is None:
            # Test rows lack the column (features changed?): the global factor is the safe default.
            print(f"warning: test rows have no usable {seg['column']!r}; using the global factor")
            pred = decision["factor"] * base
        else:
            pred = blend.apply_segment_factors(base, values, seg["factors"], decision["factor"])
    else:
        pred = decision["factor"] * base
    if "Open" in segments.columns:
        # Closed stores sell nothing; Kaggle ignores them but the file must say 0.
        pred = np.where(segments["Open"].fillna(1).to_numpy() == 0, 0.0, pred)
    return pred


def run_ensemble(build_dir: Path, data_dir: Path, only: list[str] | None = None,
                 segment_columns: tuple[str, ...] | list[str] = DEFAULT_SEGMENTS,
                 min_gain: float = DEFAULT_MIN_GAIN, strength: float = DEFAULT_STRENGTH) -> dict[str, Any]:
    """Fit on the out-of-window predictions, predict test, write the submission files and the report entry."""
    names = model_names(build_dir, only)
    dataset = identify(data_dir)
    require_match(dataset, load_meta(build_dir).get("data_fingerprint"), build_dir / "features" / "meta.json",
                  f"rebuild the features from the current data: `make features BUILD_DIR={build_dir} "
                  f"DATA_DIR={data_dir}`")
    oof = load_predictions(build_dir, names, "oof", dataset)
    test = load_predictions(build_dir, names, "test", dataset)
    seg_oof = load_segments(build_dir, "oof", oof)
    seg_test = load_segments(build_dir, "test", test)

    fitted = fit_ensemble(oof, names, seg_oof, segment_columns, min_gain, strength)
    decision = fitted.decision

    # The ensemble's own predictions live under ensemble/, not predictions/: the latter is what
    # this stage reads, and a blend must never blend itself on the next run.
    out_oof = oof[["Window", "Store", "Date", "Sales"]].copy()
    out_oof["prediction_in_sample"] = apply_ensemble(oof, names, seg_oof, decision)
    out_oof["prediction"] = np.nan
    out_oof.loc[fitted.scored, "prediction"] = fitted.out_of_window
    assert np.allclose(out_oof.loc[fitted.scored, "prediction_in_sample"].to_numpy(), fitted.in_sample,
                       rtol=1e-9, atol=1e-6)
    out_test = test[["Id", "Store", "Date"]].copy()
    out_test["prediction"] = apply_ensemble(test, names, seg_test, decision)
    ens_dir = build_dir / "ensemble"
    write_with(ens_dir / "oof.parquet", lambda p: out_oof.to_parquet(p, index=False))
    write_with(ens_dir / "test.parquet", lambda p: out_test.to_parquet(p, index=False))
    write_json_atomic(ens_dir / "decision.json", decision)

    sub_dir = build_dir / "submissions"
    ensemble_csv = sub_dir / "ensemble.csv"
    write_submission_file(out_test.rename(columns={"prediction": "Sales"})[["Id", "Sales"]], data_dir, ensemble_csv)
    with atomic_path(sub_dir / "submission.csv") as tmp:
        shutil.copyfile(ensemble_csv, tmp)

    # The per-store factor table is too long for validation.json; decision.json keeps it whole.
    entry = {k: v for k, v in decision.items() if k != "rmspe"}
    if entry["segment"] and len(entry["segment"]["factors"]) > 60:
        entry["segment"] = {**entry["segment"], "factors": f"{len(entry['segment']['factors'])} factors in "
                                                            f"ensemble/decision.json"}
    entry.update({"dataset": dataset.fingerprint, "data_source": dataset.source,
                  "submission_sha256": sha256_of(sub_dir / "submission.csv")})
    record_ensemble(build_dir, decision["rmspe"], entry)
    return decision


def format_summary(decision: dict[str, Any]) -> str:
    last = f"rmspe_last{LAST_DAYS}"
    windows = decision["windows"]
    names = decision["models"] + ["ensemble"]
    head = f"{'model':<12}" + "".join(f"{'w' + str(w['window']):>9}" for w in windows) \
        + f"{'mean':>9}{'last ' + str(LAST_DAYS) + 'd':>9}"
    lines = ["pseudo-test windows: " + ", ".join(f"w{w['window']} {w['start']}..{w['end']}" for w in windows),
             f"{decision['n_rows_scored']} rows with Sales > 0; every score is out-of-window "
             "(the ensemble's: fitted on the other windows)", "", head]
    for n in sorted(names, key=lambda n: np.mean([w["models"][n]["rmspe"] for w in windows])):
        scores = [w["models"][n]["rmspe"] for w in windows]
        lines.append(f"{n:<12}" + "".join(f"{v:>9.4f}" for v in scores) + f"{np.mean(scores):>9.4f}"
                     + f"{np.mean([w['models'][n][last] for w in windows]):>9.4f}")
    lines += ["", f"ensemble in-sample (fitted on the rows it is scored on; not a score): "
              f"{decision['rmspe_in_sample']:.4f}",
              "procedures, leave-one-window-out (simplest within min-gain of the best wins): "
              + ", ".join(f"{p} {v:.4f}" for p, v in decision["procedure_rmspe_out_of_window"].items()),
              f"chosen {decision['procedure']}: space {decision['space']}, factor {decision['factor']:.4f}, weights "
              + ", ".join(f"{n}={w:.3f}" for n, w in decision["weights"].items())]
    for c in decision["segment_checks"]:
        lines.append(f"segment factor per {c['column']:<12} gains on held-out windows "
                     + " / ".join(f"{g:+.5f}" for g in c["gains"])
                     + ("  accepted" if c["accepted"] else "  rejected"))
    seg = decision["segment"]
    lines.append(f"used: {'per-' + seg['column'] + ' factors' if seg else 'one global factor'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ensembling", description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", type=Path, default=Path("build"))
    ap.add_argument("--data-dir", type=Path, required=True, help="for sample_submission.csv")
    ap.add_argument("--models", nargs="*", help="blend only these models (default: every model with predictions)")
    ap.add_argument("--segments", nargs="*", default=list(DEFAULT_SEGMENTS),
                    help="candidate columns for per-segment factors (none: global factor only)")
    ap.add_argument("--min-gain", type=float, default=DEFAULT_MIN_GAIN)
    ap.add_argument("--strength", type=float, default=DEFAULT_STRENGTH)
    args = ap.parse_args(argv)
    decision = run_ensemble(args.build_dir, args.data_dir, args.models, args.segments, args.min_gain, args.strength)
    print(format_summary(decision))
    print(f"wrote {args.build_dir / 'submissions' / 'ensemble.csv'} and submission.csv")
    return 0
