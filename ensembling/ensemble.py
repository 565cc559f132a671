"""The ensembler's decision: blend the models' out-of-window predictions (``fit_ensemble``) and
apply the blend to any frame (``apply_ensemble``); ``ensembling.cli`` writes the files.

Everything is fitted on the out-of-window predictions (``predictions/<model>.oof.parquet``): each
model predicted every pseudo-test window from a fit that ended before the window's gap, with the
same recipe that made its test predictions, so the blend and the factor learn how that recipe errs
on unseen weeks, and carry over to the test unchanged. And everything is causal: a window's
ensemble prediction comes from a blend decided and fitted only on the windows whose dates all lie
on or before that window's train end (``ensembling.blend.choose``), as at the real test, where
nothing after the final train's end can be seen.
1. four procedures (equal-weight geometric mean of the good models, a fitted blend in linear or
   geometric space; each with and without the RMSPE correction factor, the one factor of the
   whole chain) are scored causally inside the windows at hand; the simplest within
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

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from competition.metric import rmspe
from competition.pseudo_test import LAST_DAYS, Window, estimate, last_days
from core.errors import DataError
from ensembling import blend
from submissions.writer import zero_when_closed

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
class SegmentFactors:
    """Per-segment factors on top of the blend: one shrunk factor per value of ``column``."""

    column: str
    factors: dict[str, float]
    strength: float

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "n_segments": len(self.factors), "factors": self.factors,
                "strength": self.strength}


@dataclass
class Decision:
    """What the ensembler decided on the windows, and how that scored: the blend the test gets
    (procedure, space, weights, factor, segment factors), the checks behind it, and every score
    (each window's ensemble from the blend decided on the windows before it). ``to_dict`` is the
    JSON of ``ensemble/decision.json`` and of the ensemble's ``scores.json`` entry."""

    models: list[str]                        # every model, reference models included
    blended: list[str]                       # the models the blend weighs
    procedure: str                           # blend.PROCEDURES, chosen causally
    procedure_rmspe_causal: dict[str, float]
    space: str                               # "linear" or "geometric"
    weights: dict[str, float]                # per model of ``models`` (0 for the unblended)
    factor: float                            # the RMSPE correction factor (1: none)
    segment: SegmentFactors | None
    segment_checks: list[dict[str, Any]]     # blend.SegmentCheck.to_dict() per candidate column
    segment_min_gain: float
    rmspe: float                             # mean over windows of the causal ensemble's RMSPE
    rmspe_sd: float
    rmspe_last: float                        # the same on each window's last LAST_DAYS days
    rmspe_in_sample: float                   # the final blend on the rows it was fitted on: not a score
    models_rmspe: dict[str, float]
    held_out: list[dict[str, Any]]           # each window's causal blend
    windows: list[dict[str, Any]]            # per window: every model's and the ensemble's RMSPE
    n_rows_scored: int
    estimates: dict[str, dict[str, Any]]     # expected test RMSPE per model and the ensemble

    def window_scores(self, model: str = "ensemble") -> dict[str, float]:
        """``{"w<k>": rmspe}`` of ``model`` on every window."""
        return {f"w{w['window']}": w["models"][model]["rmspe"] for w in self.windows}

    def to_dict(self) -> dict[str, Any]:
        return {"models": self.models, "blended": self.blended, "procedure": self.procedure,
                "procedure_rmspe_causal": self.procedure_rmspe_causal, "space": self.space,
                "weights": self.weights, "factor": self.factor,
                "segment": None if self.segment is None else self.segment.to_dict(),
                "segment_checks": self.segment_checks, "segment_min_gain": self.segment_min_gain,
                "rmspe": self.rmspe, "rmspe_sd": self.rmspe_sd, f"rmspe_last{LAST_DAYS}": self.rmspe_last,
                "rmspe_in_sample": self.rmspe_in_sample, "models_rmspe": self.models_rmspe,
                "held_out": self.held_out, "windows": self.windows, "n_rows_scored": self.n_rows_scored,
                "estimates": self.estimates}


@dataclass
class EnsembleFit:
    """What ``fit_ensemble`` learned: the ``decision`` and its row-aligned predictions
    (``in_sample``: the final blend, fitted on all windows; ``out_of_window``: each window from the
    blend decided on the windows before it) on the ``scored`` rows (Sales > 0) of the out-of-window
    frame."""

    decision: Decision
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
    wins = list(spans.values())
    decision = Decision(
        models=names, blended=blended, procedure=final.procedure, procedure_rmspe_causal=final.procedure_rmspe,
        space=final.fit.space, weights=weights, factor=float(final.fit.factor),
        segment=None if final.segment is None else SegmentFactors(
            final.segment, {str(k): float(v) for k, v in (final.segment_factors or {}).items()}, strength),
        segment_checks=[c.to_dict() for c in final.segment_checks], segment_min_gain=min_gain,
        rmspe=float(per_window.mean()),
        rmspe_sd=float(per_window.std(ddof=1)) if len(per_window) > 1 else 0.0,
        rmspe_last=float(np.mean([w["models"]["ensemble"][f"rmspe_last{LAST_DAYS}"] for w in table])),
        rmspe_in_sample=blend.mean_window_rmspe(y, pred_in, groups),
        models_rmspe={n: float(np.mean([w["models"][n]["rmspe"] for w in table])) for n in names},
        held_out=[{"window": int(w), "fitted_on": [int(v) for v in c.windows], "procedure": c.procedure,
                   "space": c.fit.space, "factor": float(c.fit.factor),
                   "weights": {n: float(x) for n, x in zip(blended, c.fit.weights)}, "segment": c.segment}
                  for w, c in held_out.items()],
        windows=table, n_rows_scored=int(len(y)),
        estimates={n: estimate({f"w{w['window']}": w["models"][n]["rmspe"] for w in table}, wins).to_dict()
                   for n in names + ["ensemble"]})
    return EnsembleFit(decision, pred_in, pred_oow, scored)


def apply_ensemble(frame: pd.DataFrame, names: list[str], segments: pd.DataFrame,
                   decision: Decision) -> np.ndarray:
    """Predictions for any frame of model predictions (out-of-window or test) under ``decision``."""
    P = frame[names].to_numpy(np.float64)
    w = np.array([decision.weights[n] for n in names])
    base = blend.base_blend(P, w, decision.space)
    seg = decision.segment
    if seg:
        values = _segment_arrays(segments, [seg.column]).get(seg.column)
        if values is None:
            # Test rows lack the column (features changed?): the global factor is the safe default.
            print(f"warning: test rows have no usable {seg.column!r}; using the global factor")
            pred = decision.factor * base
        else:
            pred = blend.apply_segment_factors(base, values, seg.factors, decision.factor)
    else:
        pred = decision.factor * base
    if "Open" in segments.columns:
        pred = zero_when_closed(segments["Open"], pred)
    return pred
