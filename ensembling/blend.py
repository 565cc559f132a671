"""The blending maths: weights, the RMSPE correction factor, segment factors, leave-one-window-out.

Everything here is a pure function of numpy arrays so it can be tested on tiny constructed data.
Rows passed in must have ``y > 0``: RMSPE ignores zero-sales days, so they carry no information
about weights or factors (and would divide by zero).

Why a factor at all: RMSPE divides by the *actual* value, so over-predicting a small day costs
more than under-predicting it. The prediction that minimises expected RMSPE is therefore below
the conditional mean, and scaling a blend by a factor slightly under 1 usually helps. For a fixed
base prediction ``b`` with ratios ``r = b / y`` the best factor has a closed form:
``argmin_f sum (1 - f r)^2 = sum(r) / sum(r^2)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize, nnls

from competition.metric import optimal_factor, rmspe

SPACES = ("linear", "geometric")


@dataclass
class BlendFit:
    """One fitted blend: ``prediction = factor * blend(P, weights)`` in the given space."""

    space: str
    weights: np.ndarray  # non-negative, sums to one
    factor: float
    rmspe: float  # in-sample, on the rows it was fitted on

    def to_dict(self, names: list[str]) -> dict[str, Any]:
        return {"space": self.space, "weights": {n: float(w) for n, w in zip(names, self.weights)},
                "factor": float(self.factor), "rmspe": float(self.rmspe)}


def base_blend(P: np.ndarray, weights: np.ndarray, space: str) -> np.ndarray:
    """The blend before the correction factor.

    Geometric blending averages log1p(prediction): the models are trained on log sales, their
    errors are roughly multiplicative, and log1p keeps a closed day (prediction 0) at exactly 0.
    """
    P = np.clip(np.asarray(P, dtype=np.float64), 0.0, None)
    if space == "linear":
        return P @ weights
    if space == "geometric":
        return np.expm1(np.log1p(P) @ weights)
    raise ValueError(f"unknown blend space {space!r}; use one of {SPACES}")


def fit_linear(P: np.ndarray, y: np.ndarray) -> BlendFit:
    """Non-negative linear weights and factor, jointly, by non-negative least squares.

    RMSPE^2 = mean((1 - sum_j v_j P_ij / y_i)^2) is a least-squares problem in v >= 0, so NNLS
    finds the exact optimum; ``factor = sum(v)`` and ``weights = v / factor`` sum to one.
    """
    P = np.asarray(P, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    R = P / y[:, None]
    v, _ = nnls(R, np.ones(len(y)), maxiter=50 * P.shape[1] + 100)
    if v.sum() <= 0:  # every model useless (degenerate data): fall back to equal weights
        v = np.full(P.shape[1], 1.0 / P.shape[1])
    factor = float(v.sum())
    weights = v / factor
    return BlendFit("linear", weights, factor, rmspe(y, factor * (P @ weights)))


def fit_geometric(P: np.ndarray, y: np.ndarray) -> BlendFit:
    """Simplex weights in log1p space with the factor profiled out (closed form per step)."""
    P = np.clip(np.asarray(P, dtype=np.float64), 0.0, None)
    y = np.asarray(y, dtype=np.float64)
    k = P.shape[1]
    L = np.log1p(P)

    def loss(w: np.ndarray) -> float:
        base = np.expm1(L @ w)
        f = optimal_factor(base, y)
        pct = 1.0 - f * base / y
        return float(np.mean(pct * pct))

    if k == 1:
        w = np.ones(1)
    else:
        # Several starts (the centre and each corner): the surface is smooth but not convex.
        starts = [np.full(k, 1.0 / k)] + [np.eye(k)[j] * 0.9 + 0.1 / k for j in range(k)]
        best: tuple[float, np.ndarray] | None = None
        for w0 in starts:
            res = minimize(loss, w0, method="SLSQP", bounds=[(0.0, 1.0)] * k,
                           constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
                           options={"maxiter": 200, "ftol": 1e-12})
            w = np.clip(res.x, 0.0, None)
            w = w / w.sum() if w.sum() > 0 else np.full(k, 1.0 / k)
            cand = (loss(w), w)
            if best is None or cand[0] < best[0]:
                best = cand
        assert best is not None
        w = best[1]
    base = np.expm1(L @ w)
    f = optimal_factor(base, y)
    return BlendFit("geometric", w, f, rmspe(y, f * base))


def fit_blend(P: np.ndarray, y: np.ndarray) -> tuple[BlendFit, dict[str, BlendFit]]:
    """Fit both spaces and keep the one with the lower RMSPE on these rows."""
    fits = {"linear": fit_linear(P, y), "geometric": fit_geometric(P, y)}
    best = min(fits.values(), key=lambda f: f.rmspe)
    return best, fits


def predict(P: np.ndarray, fit: BlendFit) -> np.ndarray:
    return fit.factor * base_blend(P, fit.weights, fit.space)


# Candidate procedures, simplest first. Weights and factor fitted on a few windows can chase
# week-level shocks that every model shares (holiday weeks, weather); whether a blend and a factor
# carry over to an unseen window is decided by the leave-one-window-out score, not assumed.
# ``equal`` fits no weights: with two windows, weights fitted on a window where one model failed
# (LightGBM on the Easter window, say) push it out of the blend for the other window too.
PROCEDURES = ("single", "single+factor", "equal", "equal+factor", "blend", "blend+factor")
# ``equal`` averages the models within this ratio of the best one's RMSPE on the fitting rows
# (the median baseline, half as accurate again, stays out).
EQUAL_WITHIN = 1.25


def fit_procedure(P: np.ndarray, y: np.ndarray, procedure: str) -> BlendFit:
    """Fit one candidate procedure on these rows.

    ``single``: the best model alone; ``equal``: the geometric mean of the models within
    ``EQUAL_WITHIN`` of the best, equal weights; ``blend``: simplex weights (linear or geometric,
    whichever scores better); ``+factor``: with the RMSPE-optimal factor, else the factor is 1.
    """
    with_factor = procedure.endswith("+factor")
    if procedure.startswith("equal"):
        singles = np.array([rmspe(y, P[:, j]) for j in range(P.shape[1])])
        keep = (singles <= EQUAL_WITHIN * singles.min()).astype(np.float64)
        weights = keep / keep.sum()
        base = base_blend(P, weights, "geometric")
        f = optimal_factor(base, y) if with_factor else 1.0
        return BlendFit("geometric", weights, f, rmspe(y, f * base))
    if procedure.startswith("single"):
        best: BlendFit | None = None
        for j in range(P.shape[1]):
            f = optimal_factor(P[:, j], y) if with_factor else 1.0
            cand = BlendFit("linear", np.eye(P.shape[1])[j], f, rmspe(y, f * P[:, j]))
            if best is None or cand.rmspe < best.rmspe:
                best = cand
        assert best is not None
        return best
    fit, _ = fit_blend(P, y)
    if with_factor:
        return fit
    return BlendFit(fit.space, fit.weights, 1.0, rmspe(y, base_blend(P, fit.weights, fit.space)))


# ---------------------------------------------------------------------------------------------
# Segment factors
# ---------------------------------------------------------------------------------------------

def fit_segment_factors(base: np.ndarray, y: np.ndarray, segments: np.ndarray, prior: float,
                        strength: float) -> dict[Any, float]:
    """One shrunk factor per segment value (see :func:`optimal_factor`)."""
    out: dict[Any, float] = {}
    seg = np.asarray(segments)
    for value in np.unique(seg):
        m = seg == value
        out[_key(value)] = optimal_factor(base[m], y[m], prior=prior, strength=strength)
    return out


def apply_segment_factors(base: np.ndarray, segments: np.ndarray, factors: dict[Any, float],
                          default: float) -> np.ndarray:
    """``base * factor[segment]``; a segment value never seen when fitting gets ``default``."""
    seg = np.asarray(segments)
    f = np.array([factors.get(_key(v), default) for v in seg], dtype=np.float64) if len(seg) else np.empty(0)
    return base * f


def _key(value: Any) -> Any:
    """Segment values as plain Python scalars so they round-trip through JSON and dict lookups."""
    return value.item() if isinstance(value, np.generic) else value


def window_folds(groups: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, Any]]:
    """Leave-one-window-out: ``(fit rows, held-out rows, window)`` for each window in ``groups``."""
    g = np.asarray(groups)
    uniq = np.unique(g)
    if len(uniq) < 2:
        raise ValueError(f"leave-one-window-out needs at least two pseudo-test windows, got {len(uniq)}")
    return [(g != w, g == w, _key(w)) for w in uniq]


def mean_window_rmspe(y: np.ndarray, pred: np.ndarray, groups: np.ndarray) -> float:
    """The mean over windows of each window's RMSPE (how every model's score is reported)."""
    g = np.asarray(groups)
    return float(np.mean([rmspe(y[g == w], pred[g == w]) for w in np.unique(g)]))


@dataclass
class SegmentCheck:
    """How per-segment factors for one column did out of window: fitted on the other windows,
    scored on each window in turn."""

    column: str
    n_segments: int
    global_rmspe: list[float] = field(default_factory=list)  # one per held-out window
    segment_rmspe: list[float] = field(default_factory=list)
    accepted: bool = False

    @property
    def gains(self) -> list[float]:
        return [g - s for g, s in zip(self.global_rmspe, self.segment_rmspe)]

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "n_segments": self.n_segments,
                "global_rmspe": self.global_rmspe, "segment_rmspe": self.segment_rmspe,
                "gains": self.gains, "accepted": self.accepted}


def check_segments(P: np.ndarray, y: np.ndarray, groups: np.ndarray, segments: dict[str, np.ndarray],
                   strength: float, min_gain: float, procedure: str = "blend+factor") -> list[SegmentCheck]:
    """Does a per-segment factor beat the global one leave-one-window-out, in every window?

    For each held-out window the blend and global factor are fitted on the other windows, then
    segment factors on top of them. A segmentation is accepted only if it lowers RMSPE on the
    held-out window by at least ``min_gain`` every time: a gain in some windows only, or one that
    shows only in-sample, is over-fitting.
    """
    checks = {col: SegmentCheck(col, int(len(np.unique(seg)))) for col, seg in segments.items()}
    for fit_m, eval_m, _ in window_folds(groups):
        fit = fit_procedure(P[fit_m], y[fit_m], procedure)
        base_fit = base_blend(P[fit_m], fit.weights, fit.space)
        base_eval = base_blend(P[eval_m], fit.weights, fit.space)
        global_score = rmspe(y[eval_m], fit.factor * base_eval)
        for col, seg in segments.items():
            factors = fit_segment_factors(base_fit, y[fit_m], seg[fit_m], fit.factor, strength)
            pred = apply_segment_factors(base_eval, seg[eval_m], factors, fit.factor)
            checks[col].global_rmspe.append(global_score)
            checks[col].segment_rmspe.append(rmspe(y[eval_m], pred))
    for c in checks.values():
        c.accepted = all(g >= min_gain for g in c.gains)
    return list(checks.values())


def cross_fit(P: np.ndarray, y: np.ndarray, groups: np.ndarray, segment: np.ndarray | None,
              strength: float, procedure: str = "blend+factor") -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Leave-one-window-out predictions of the whole procedure, for an honest score.

    Each window is predicted by a blend (space choice, weights, factor and, if used, segment
    factors) fitted on the other windows only, so no row scores a fit it took part in.
    """
    out = np.empty(len(y), dtype=np.float64)
    details = []
    for fit_m, eval_m, window in window_folds(groups):
        fit = fit_procedure(P[fit_m], y[fit_m], procedure)
        base_eval = base_blend(P[eval_m], fit.weights, fit.space)
        if segment is not None:
            base_fit = base_blend(P[fit_m], fit.weights, fit.space)
            factors = fit_segment_factors(base_fit, y[fit_m], segment[fit_m], fit.factor, strength)
            out[eval_m] = apply_segment_factors(base_eval, segment[eval_m], factors, fit.factor)
        else:
            out[eval_m] = fit.factor * base_eval
        details.append({"held_out_window": window, "space": fit.space, "factor": float(fit.factor),
                        "weights": [float(w) for w in fit.weights],
                        "rmspe_held_out": rmspe(y[eval_m], out[eval_m])})
    return out, details


def choose_procedure(P: np.ndarray, y: np.ndarray, groups: np.ndarray, min_gain: float,
                     strength: float) -> tuple[str, dict[str, float]]:
    """The procedure with the best leave-one-window-out RMSPE (mean over windows); a simpler
    one within ``min_gain`` of it wins.

    Preferring the simpler procedure on near-ties is the usual guard against picking the
    winner of a noisy comparison (a few windows are not many).
    """
    scores = {p: mean_window_rmspe(y, cross_fit(P, y, groups, None, strength, p)[0], groups)
              for p in PROCEDURES}
    best = min(scores.values())
    chosen = next(p for p in PROCEDURES if scores[p] <= best + min_gain)
    return chosen, scores
