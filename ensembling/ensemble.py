"""Blend the models' predictions into ``submissions/ensemble.csv`` and ``submission.csv``.

Steps, all fitted on the validation window (models trained before it, so their errors there are
honest):
1. weights in linear and geometric (log1p) space, non-negative, summing to one, each with its
   own RMSPE correction factor; the space with the lower RMSPE wins;
2. whether the blend and the factor carry over to unseen weeks is checked, not assumed: four
   procedures (best single model, + factor, blend, blend + factor) are each fitted on one half of
   the window and scored on the other; the simplest within ``min_gain`` of the best is used.
   On Kaggle's data, week-level shocks shared by all models (holiday weeks) can make weights
   fitted on a few weeks worse than the best model alone;
3. per-segment factors (StoreType, Assortment, State, Promo, DayOfWeek, Store) on top, only if
   they beat the global factor on the other half of the window in both directions;
4. an honest score: the whole procedure fitted on one half of the window and scored on the other.

The test predictions come from the models refitted on train + validation; the weights and
factor(s) fitted here are applied to them unchanged.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from competition.errors import DataError
from competition.io import atomic_path, write_json_atomic, write_with
from competition.metric import rmspe
from ensembling import blend
from ensembling.inputs import load_predictions, load_segments, model_names
from ensembling.sinks import record_ensemble, write_submission_file

DEFAULT_SEGMENTS = ("StoreType", "Assortment", "State", "Promo", "DayOfWeek", "Store")
# A segment factor must lower RMSPE on the held-out half by this much, in both directions.
# 0.0005 is ~0.5% of a typical Rossmann RMSPE: below that a gain is indistinguishable from noise.
DEFAULT_MIN_GAIN = 0.0005
# Shrinkage of segment factors towards the global one, in pseudo-rows: a store with ~20 open
# days in a half-window moves only about half-way to its own raw factor.
DEFAULT_STRENGTH = 20.0


def _segment_arrays(seg: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> dict[str, np.ndarray]:
    """Usable segment columns: present and without gaps (a NaN segment cannot be fitted)."""
    out = {}
    for c in columns:
        if c in seg.columns and not seg[c].isna().any():
            # As text, so factors keyed by value survive the JSON round trip ("1" for Store 1).
            out[c] = seg[c].astype(str).to_numpy(dtype=object)
    return out


def fit_ensemble(valid: pd.DataFrame, names: list[str], segments: pd.DataFrame,
                 segment_columns: tuple[str, ...] | list[str] = DEFAULT_SEGMENTS,
                 min_gain: float = DEFAULT_MIN_GAIN, strength: float = DEFAULT_STRENGTH) -> dict[str, Any]:
    """Fit everything on the validation frame; returns the decision record (JSON-ready).

    ``valid`` has Store, Date, Sales and one column per model; ``segments`` is row-aligned with it.
    """
    scored = (valid["Sales"] > 0).to_numpy()
    if scored.sum() < 10:
        raise DataError(f"only {int(scored.sum())} validation rows with Sales > 0; cannot fit a blend",
                        fix="check the validation window in features/meta.json")
    P = valid.loc[scored, names].to_numpy(np.float64)
    y = valid.loc[scored, "Sales"].to_numpy(np.float64)
    dates = valid.loc[scored, "Date"].to_numpy()
    seg_all = _segment_arrays(segments, segment_columns)
    seg = {c: a[scored] for c, a in seg_all.items()}

    procedure, procedure_scores = blend.choose_procedure(P, y, dates, min_gain, strength)
    _, fits = blend.fit_blend(P, y)
    fit = blend.fit_procedure(P, y, procedure)
    base = blend.base_blend(P, fit.weights, fit.space)
    checks = blend.check_segments(P, y, dates, seg, strength, min_gain, procedure) if seg else []
    accepted = [c for c in checks if c.accepted]
    chosen = max(accepted, key=lambda c: float(np.mean(c.gains))) if accepted else None

    seg_factors: dict[Any, float] | None = None
    if chosen is not None:
        seg_factors = blend.fit_segment_factors(base, y, seg[chosen.column], fit.factor, strength)
        pred_in = blend.apply_segment_factors(base, seg[chosen.column], seg_factors, fit.factor)
    else:
        pred_in = fit.factor * base
    honest_pred, directions = blend.cross_fit(P, y, dates, seg[chosen.column] if chosen else None, strength,
                                              procedure)

    first, second = blend.half_masks(dates)
    halves = {}
    for label, m, other in (("first", first, "second->first"), ("second", second, "first->second")):
        d = pd.to_datetime(dates[m])
        halves[label] = {
            "start": str(d.min().date()), "end": str(d.max().date()), "rows": int(m.sum()),
            "models": {n: rmspe(y[m], P[m, j]) for j, n in enumerate(names)},
            "ensemble_fitted_on_other_half": rmspe(y[m], honest_pred[m]),
            "ensemble_in_sample": rmspe(y[m], pred_in[m]),
        }
    d_all = pd.to_datetime(dates)
    return {
        "models": names,
        "procedure": procedure,
        "procedure_rmspe_honest": procedure_scores,
        "space": fit.space,
        "weights": {n: float(w) for n, w in zip(names, fit.weights)},
        "factor": float(fit.factor),
        "segment": None if chosen is None else {
            "column": chosen.column, "n_segments": len(seg_factors or {}),
            "factors": {str(k): float(v) for k, v in (seg_factors or {}).items()},
            "strength": strength},
        "segment_checks": [c.to_dict() for c in checks],
        "segment_min_gain": min_gain,
        "spaces": {s: f.to_dict(names) for s, f in fits.items()},
        "rmspe": rmspe(y, pred_in),
        "rmspe_honest": rmspe(y, honest_pred),
        "rmspe_without_factor": rmspe(y, base),
        "models_rmspe": {n: rmspe(y, P[:, j]) for j, n in enumerate(names)},
        "honest_directions": directions,
        "halves": halves,
        "valid_start": str(d_all.min().date()), "valid_end": str(d_all.max().date()),
        "n_rows_scored": int(len(y)),
        "_pred_in_sample": pred_in, "_pred_honest": honest_pred, "_scored": scored,
    }


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
    """Fit on validation, predict test, write the submission files and the report entry."""
    names = model_names(build_dir, only)
    valid = load_predictions(build_dir, names, "valid")
    test = load_predictions(build_dir, names, "test")
    seg_valid = load_segments(build_dir, "valid", valid)
    seg_test = load_segments(build_dir, "test", test)

    decision = fit_ensemble(valid, names, seg_valid, segment_columns, min_gain, strength)
    pred_in = decision.pop("_pred_in_sample")
    pred_honest = decision.pop("_pred_honest")
    scored = decision.pop("_scored")

    # The ensemble's own predictions live under ensemble/, not predictions/: the latter is what
    # this stage reads, and a blend must never blend itself on the next run.
    out_valid = valid[["Store", "Date", "Sales"]].copy()
    out_valid["prediction"] = apply_ensemble(valid, names, seg_valid, decision)
    out_valid["prediction_honest"] = np.nan
    out_valid.loc[scored, "prediction_honest"] = pred_honest
    assert np.allclose(out_valid.loc[scored, "prediction"].to_numpy(), pred_in, rtol=1e-9, atol=1e-6)
    out_test = test[["Id", "Store", "Date"]].copy()
    out_test["prediction"] = apply_ensemble(test, names, seg_test, decision)
    ens_dir = build_dir / "ensemble"
    write_with(ens_dir / "valid.parquet", lambda p: out_valid.to_parquet(p, index=False))
    write_with(ens_dir / "test.parquet", lambda p: out_test.to_parquet(p, index=False))
    write_json_atomic(ens_dir / "decision.json", decision)

    sub_dir = build_dir / "submissions"
    ensemble_csv = sub_dir / "ensemble.csv"
    write_submission_file(out_test.rename(columns={"prediction": "Sales"})[["Id", "Sales"]], data_dir, ensemble_csv)
    with atomic_path(sub_dir / "submission.csv") as tmp:
        shutil.copyfile(ensemble_csv, tmp)

    # The per-store factor table is too long for validation.json; decision.json keeps it whole.
    entry = {k: v for k, v in decision.items() if k not in ("rmspe",)}
    if entry["segment"] and len(entry["segment"]["factors"]) > 60:
        entry["segment"] = {**entry["segment"], "factors": f"{len(entry['segment']['factors'])} factors in "
                                                            f"ensemble/decision.json"}
    record_ensemble(build_dir, decision["rmspe"], entry)
    return decision


def format_summary(decision: dict[str, Any]) -> str:
    lines = [f"validation window {decision['valid_start']} .. {decision['valid_end']}, "
             f"{decision['n_rows_scored']} rows with Sales > 0", "", f"{'model':<24}{'RMSPE':>10}"]
    for n, v in sorted(decision["models_rmspe"].items(), key=lambda kv: kv[1]):
        lines.append(f"{n:<24}{v:>10.5f}")
    lines += [f"{'ensemble (in-sample)':<24}{decision['rmspe']:>10.5f}",
              f"{'ensemble (honest)':<24}{decision['rmspe_honest']:>10.5f}   fitted on one half, scored on the other",
              f"{'blend without factor':<24}{decision['rmspe_without_factor']:>10.5f}", ""]
    for label, h in decision["halves"].items():
        lines.append(f"{label} half {h['start']}..{h['end']}: "
                     + ", ".join(f"{n} {v:.5f}" for n, v in h["models"].items())
                     + f"; ensemble fitted on the other half {h['ensemble_fitted_on_other_half']:.5f}")
    lines += ["",
              "procedures, fitted on one half and scored on the other (simplest within min-gain of the best wins): "
              + ", ".join(f"{p} {v:.5f}" for p, v in decision["procedure_rmspe_honest"].items()),
              f"chosen {decision['procedure']}: space {decision['space']}, factor {decision['factor']:.4f}, weights "
              + ", ".join(f"{n}={w:.3f}" for n, w in decision["weights"].items())]
    for c in decision["segment_checks"]:
        lines.append(f"segment factor per {c['column']:<12} gains on held-out half "
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
