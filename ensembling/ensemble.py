"""Blend the models' predictions into ``submissions/ensemble.csv`` and ``submission.csv``.

Everything is fitted on the out-of-window predictions (``predictions/<model>.oof.parquet``): each
model predicted every pseudo-test window from a fit that ended before the window's gap, with the
same recipe that made its test predictions, so the blend and the factor learn how that recipe errs
on unseen weeks, and carry over to the test unchanged. And everything is causal: a window's
ensemble prediction comes from a blend decided and fitted only on the windows whose dates all lie
on or before that window's train end (``ensembling.blend.choose``), as at the real test, where
nothing after the final train's end can be seen.
1. six procedures (equal-weight geometric mean of the good models, the best single model, a fitted
   blend in linear or geometric space; each with and without the RMSPE correction factor, the one
   factor of the whole chain) are scored causally inside the windows at hand; the simplest within
   ``min_gain`` of the best is used, and the equal-weight prior where the windows cannot tell;
2. per-segment factors (StoreType, Assortment, State, Promo, DayOfWeek, Store) on top, only if
   they gain in every window scored the same way;
3. the reported score of a window is that causal prediction's RMSPE; a window with no earlier
   window gets the prior (the models' geometric mean). Reference models (the median baseline) are
   scored beside the others but never blended. The in-sample score (the final blend on the rows it
   was fitted on) is kept, labelled so, for comparison only.
4. every model's and the ensemble's expected test RMSPE, with its interval, comes from the window
   scores (``competition.pseudo_test.estimate``).
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
from competition.pseudo_test import LAST_DAYS, Window, estimate, last_days
from core.errors import DataError
from core.io import atomic_path, sha256_of, write_json_atomic, write_with
from ensembling import blend
from ensembling.inputs import load_meta, load_predictions, load_segments, load_windows, model_names
from ensembling.outputs import record_ensemble, write_submission_file

DEFAULT_SEGMENTS = ("StoreType", "Assortment", "State", "Promo", "DayOfWeek", "Store")
# A segment factor must lower RMSPE on every window scored causally by this much.
# 0.0005 is ~0.5% of a typical Rossmann RMSPE: below that a gain is indistinguishable from noise.
DEFAULT_MIN_GAIN = 0.0005
# Shrinkage of segment factors towards the global one, in pseudo-rows: a store with ~20 open
# days moves only about half-way to its own raw factor.
DEFAULT_STRENGTH = 20.0
# Scored and reported beside the others, never blended: the bar every real model must clear.
REFERENCE_MODELS = ("baseline",)


@dataclass
class EnsembleFit:
    """What ``fit_ensemble`` learned: the JSON-ready ``decision`` and its row-aligned predictions
    (``in_sample``: the final blend, fitted on all windows; ``out_of_window``: each window from the
    blend decided on the windows before it) on the ``scored`` rows (Sales > 0) of the out-of-window
    frame."""

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


def fit_ensemble(oof: pd.DataFrame, names: list[str], segments: pd.DataFrame, windows: list[Window],
                 segment_columns: tuple[str, ...] | list[str] = DEFAULT_SEGMENTS,
                 min_gain: float = DEFAULT_MIN_GAIN, strength: float = DEFAULT_STRENGTH,
                 procedures: tuple[str, ...] = blend.PROCEDURES) -> EnsembleFit:
    """Decide and fit the ensemble on the out-of-window frame, and score it causally.

    ``oof`` has Window, Store, Date, Sales and one column per model; ``segments`` is row-aligned;
    ``windows`` are the build's pseudo-test windows (their dates say which came before which).
    """
    scored = (oof["Sales"] > 0).to_numpy()
    if scored.sum() < 10:
        raise DataError(f"only {int(scored.sum())} out-of-window rows with Sales > 0; cannot fit a blend",
                        fix="check the pseudo-test windows in features/meta.json")
    groups = oof.loc[scored, "Window"].to_numpy()
    by_index = {w.index: w for w in windows}
    unknown = sorted(set(np.unique(groups).tolist()) - set(by_index))
    if unknown:
        raise DataError(f"the predictions cover window(s) {unknown} that features/meta.json does not list",
                        column="Window", fix="retrain every model from the current features (`make train`)")
    spans = {int(i): by_index[int(i)] for i in np.unique(groups)}
    blended = [n for n in names if n not in REFERENCE_MODELS] or list(names)
    P = oof.loc[scored, blended].to_numpy(np.float64)
    y = oof.loc[scored, "Sales"].to_numpy(np.float64)
    dates = oof.loc[scored, "Date"].to_numpy()
    seg = {c: a[scored] for c, a in _segment_arrays(segments, segment_columns).items()}

    pred_oow, held_out = blend.causal_predictions(P, y, groups, spans, seg, min_gain, strength, procedures)
    final = blend.choose(P, y, groups, spans, list(spans), seg, min_gain, strength, procedures)
    pred_in = final.predict(P, seg)
    table = _window_table(y, oof.loc[scored, names].to_numpy(np.float64), names, groups, dates, pred_oow)
    for row in table:
        w = spans[row["window"]]
        row.update(kind=w.kind, label=w.label, start=str(w.start.date()), end=str(w.end.date()),
                   train_end=str(w.train_end.date()))
    per_window = np.array([w["models"]["ensemble"]["rmspe"] for w in table])
    weights = dict.fromkeys(names, 0.0) | {n: float(w) for n, w in zip(blended, final.fit.weights)}
    decision = {
        "models": names,
        "blended": blended,
        "procedure": final.procedure,
        "procedure_rmspe_causal": final.procedure_rmspe,
        "space": final.fit.space,
        "weights": weights,
        "factor": float(final.fit.factor),
        "segment": None if final.segment is None else {
            "column": final.segment, "n_segments": len(final.segment_factors or {}),
            "factors": {str(k): float(v) for k, v in (final.segment_factors or {}).items()},
            "strength": strength},
        "segment_checks": [c.to_dict() for c in final.segment_checks],
        "segment_min_gain": min_gain,
        "rmspe": float(per_window.mean()),
        "rmspe_sd": float(per_window.std(ddof=1)) if len(per_window) > 1 else 0.0,
        f"rmspe_last{LAST_DAYS}": float(np.mean([w["models"]["ensemble"][f"rmspe_last{LAST_DAYS}"] for w in table])),
        "rmspe_in_sample": blend.mean_window_rmspe(y, pred_in, groups),
        "models_rmspe": {n: float(np.mean([w["models"][n]["rmspe"] for w in table])) for n in names},
        "held_out": [{"window": int(w), "fitted_on": [int(v) for v in c.windows], "procedure": c.procedure,
                      "space": c.fit.space, "factor": float(c.fit.factor),
                      "weights": {n: float(x) for n, x in zip(blended, c.fit.weights)}, "segment": c.segment}
                     for w, c in held_out.items()],
        "windows": table,
        "n_rows_scored": int(len(y)),
    }
    wins = list(spans.values())
    decision["estimates"] = {n: estimate({f"w{w['window']}": w["models"][n]["rmspe"] for w in table}, wins).to_dict()
                             for n in names + ["ensemble"]}
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

    fitted = fit_ensemble(oof, names, seg_oof, load_windows(build_dir), segment_columns, min_gain, strength)
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
    entry.update({**decision["estimates"]["ensemble"], "dataset": dataset.fingerprint,
                  "data_source": dataset.source, "submission_sha256": sha256_of(sub_dir / "submission.csv")})
    record_ensemble(build_dir, decision["rmspe"], entry)
    return decision


def format_summary(decision: dict[str, Any]) -> str:
    last = f"rmspe_last{LAST_DAYS}"
    windows = decision["windows"]
    names = decision["models"] + ["ensemble"]
    est = decision["estimates"]
    head = f"{'model':<12}" + "".join(f"{'w' + str(w['window']):>9}" for w in windows) \
        + f"{'last ' + str(LAST_DAYS) + 'd':>9}   expected test RMSPE"
    lines = ["pseudo-test windows: " + ", ".join(f"w{w['window']} {w['label']} {w['start']}..{w['end']}"
                                                 for w in windows),
             f"{decision['n_rows_scored']} rows with Sales > 0; every score is out-of-window (the ensemble's: "
             "decided and fitted on the windows before each one only)", "", head]
    for n in sorted(names, key=lambda n: est[n]["estimate"]):
        scores = [w["models"][n]["rmspe"] for w in windows]
        e = est[n]
        lines.append(f"{n:<12}" + "".join(f"{v:>9.4f}" for v in scores)
                     + f"{np.mean([w['models'][n][last] for w in windows]):>9.4f}"
                     + f"   {e['estimate']:.4f} ({e['estimate_low']:.4f}..{e['estimate_high']:.4f})")
    lines += ["", "window weights of the estimate: " + ", ".join(
        f"{k} {v:.2f}" for k, v in est["ensemble"]["estimate_weights"].items()),
              f"ensemble in-sample (the final blend on the rows it was fitted on; not a score): "
              f"{decision['rmspe_in_sample']:.4f}",
              "each window's blend: " + "; ".join(
                  f"w{h['window']} {h['procedure']}" + (f" from {', '.join('w' + str(v) for v in h['fitted_on'])}"
                                                        if h["fitted_on"] else " (the prior: no earlier window)")
                  for h in decision["held_out"]),
              "procedures, scored causally on all windows (simplest within min-gain of the best wins): "
              + ", ".join(f"{p} {v:.4f}" for p, v in decision["procedure_rmspe_causal"].items()),
              f"chosen for the test: {decision['procedure']}, space {decision['space']}, factor "
              f"{decision['factor']:.4f}, weights " + ", ".join(f"{n}={w:.3f}" for n, w in decision["weights"].items())]
    for c in decision["segment_checks"]:
        lines.append(f"segment factor per {c['column']:<12} gains on the windows scored causally "
                     + (" / ".join(f"{g:+.5f}" for g in c["gains"]) or "none (no window has an earlier one)")
                     + ("  accepted" if c["accepted"] else "  rejected"))
    seg = decision["segment"]
    lines.append(f"used: {'per-' + seg['column'] + ' factors' if seg else 'no segment factors'}")
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
