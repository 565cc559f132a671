"""The blending maths: weights, the RMSPE correction factor, segment factors, the causal loop.

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
from competition.pseudo_test import Window

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


# Candidate procedures, simplest first: ``equal`` is the prior's own procedure (it fits no weight),
# so it wins when the windows cannot tell the procedures apart. Weights and a factor fitted on a few
# windows can chase week-level shocks that every model shares (holiday weeks, weather, a spring
# factor applied to the summer); whether they carry over to a later window is decided by the
# causal score (``choose``), not assumed. There is no "best model alone": chosen on the few windows
# before an early one, it put whole seeds on LightGBM for a small lead and lost where the MLP was the
# better model, while a blend can still weigh one model near 1 (docs/RESULTS.md, issue 24's fifth round).
PROCEDURES = ("equal", "equal+factor", "blend", "blend+factor")
# ``equal`` averages the models within this ratio of the best one's RMSPE on the fitting rows
# (the median baseline, half as accurate again, stays out).
EQUAL_WITHIN = 1.25


def fit_procedure(P: np.ndarray, y: np.ndarray, procedure: str) -> BlendFit:
    """Fit one candidate procedure on these rows.

    ``equal``: the geometric mean of the models within ``EQUAL_WITHIN`` of the best, equal
    weights; ``blend``: simplex weights (linear or geometric, whichever scores better);
    ``+factor``: with the RMSPE-optimal factor, else the factor is 1.
    """
    if procedure not in PROCEDURES:
        raise ValueError(f"unknown ensemble procedure {procedure!r}; use one of {PROCEDURES}")
    with_factor = procedure.endswith("+factor")
    if procedure.startswith("equal"):
        singles = np.array([rmspe(y, P[:, j]) for j in range(P.shape[1])])
        keep = (singles <= EQUAL_WITHIN * singles.min()).astype(np.float64)
        weights = keep / keep.sum()
        base = base_blend(P, weights, "geometric")
        f = optimal_factor(base, y) if with_factor else 1.0
        return BlendFit("geometric", weights, f, rmspe(y, f * base))
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


def mean_window_rmspe(y: np.ndarray, pred: np.ndarray, groups: np.ndarray) -> float:
    """The mean over windows of each window's RMSPE (how every model's score is reported)."""
    g = np.asarray(groups)
    return float(np.mean([rmspe(y[g == w], pred[g == w]) for w in np.unique(g)]))


# ---------------------------------------------------------------------------------------------
# The causal loop: what the ensemble knows when it predicts a window
# ---------------------------------------------------------------------------------------------

def prior(k: int) -> BlendFit:
    """The blend fitted on nothing: the geometric mean of the ``k`` models, no factor. A window
    with no earlier window to learn from is predicted by it."""
    return BlendFit("geometric", np.full(k, 1.0 / k), 1.0, float("nan"))


def known_before(windows: dict[Any, Window], w: Any, among: Any = None) -> list[Any]:
    """The windows (of ``among``, default all) whose every date lies on or before window ``w``'s
    train end: the only ones whose predictions and answers exist when ``w``'s models are trained."""
    cut = windows[w].train_end
    return [v for v in (windows if among is None else among) if windows[v].end <= cut]


@dataclass
class SegmentCheck:
    """How per-segment factors for one column did inside a set of windows: for each window that
    has earlier windows, the procedure and segment factors fitted on those, scored on it."""

    column: str
    n_segments: int
    global_rmspe: list[float] = field(default_factory=list)  # one per scored window
    segment_rmspe: list[float] = field(default_factory=list)
    accepted: bool = False

    @property
    def gains(self) -> list[float]:
        return [g - s for g, s in zip(self.global_rmspe, self.segment_rmspe)]

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "n_segments": self.n_segments,
                "global_rmspe": self.global_rmspe, "segment_rmspe": self.segment_rmspe,
                "gains": self.gains, "accepted": self.accepted}


@dataclass
class Choice:
    """What the ensembler decides from a set of windows: the procedure (chosen by its causal score
    inside them), its fit on all of them, and per-segment factors if they won the same way."""

    procedure: str
    fit: BlendFit
    procedure_rmspe: dict[str, float]  # each procedure's causal score inside the windows
    segment_checks: list[SegmentCheck]
    segment: str | None = None
    segment_factors: dict[Any, float] | None = None
    windows: list[Any] = field(default_factory=list)  # the windows it was fitted on

    def predict(self, P: np.ndarray, segments: dict[str, np.ndarray]) -> np.ndarray:
        base = base_blend(P, self.fit.weights, self.fit.space)
        if self.segment is None:
            return self.fit.factor * base
        return apply_segment_factors(base, segments[self.segment], self.segment_factors or {}, self.fit.factor)


# Per-segment factors must gain on at least this many windows scored causally: with one, the
# final blend would take them on a single window's word, and no reported score would measure them.
# On the real tests cut from ../shared (make realtests, two windows) per-Promo factors won on the
# one window of one cut and cost its real test (docs/RESULTS.md, "Which windows predict the real test").
MIN_SEGMENT_WINDOWS = 2


def _fit_or_prior(P: np.ndarray, y: np.ndarray, rows: np.ndarray, procedure: str) -> BlendFit:
    return fit_procedure(P[rows], y[rows], procedure) if rows.any() else prior(P.shape[1])


def choose(P: np.ndarray, y: np.ndarray, groups: np.ndarray, windows: dict[Any, Window], among: list[Any],
           segments: dict[str, np.ndarray], min_gain: float, strength: float,
           procedures: tuple[str, ...] = ()) -> Choice:
    """Decide and fit the ensemble on the windows ``among`` only, nothing chosen on what it scores.

    Inside ``among`` every window is predicted the causal way (each procedure fitted on the windows
    known before it, :func:`known_before`; the prior where there is none), and the procedure with
    the best mean score wins, a simpler one (earlier in ``PROCEDURES``) within ``min_gain`` of it
    first: with no window that has an earlier one, every procedure scores the prior's and the
    prior's own procedure, ``equal``, wins. Per-segment factors (fitted on top, shrunk towards the
    factor) are accepted only if they gain at least ``min_gain`` on every window scored that way,
    and there are at least ``MIN_SEGMENT_WINDOWS`` of them.
    """
    procedures = procedures or PROCEDURES
    g = np.asarray(groups)
    if not among:
        return Choice("equal", prior(P.shape[1]), {}, [])
    inner = {v: np.isin(g, known_before(windows, v, among)) for v in among}
    scores: dict[str, float] = {}
    for p in procedures:
        per = []
        for v in among:
            m = g == v
            per.append(rmspe(y[m], predict(P[m], _fit_or_prior(P, y, inner[v], p))))
        scores[p] = float(np.mean(per))
    best = min(scores.values())
    procedure = next(p for p in procedures if scores[p] <= best + min_gain)
    rows = np.isin(g, among)
    fit = fit_procedure(P[rows], y[rows], procedure)
    checks = {c: SegmentCheck(c, int(len(np.unique(seg[rows])))) for c, seg in segments.items()}
    for v in among:
        if not inner[v].any():
            continue
        m = g == v
        fv = fit_procedure(P[inner[v]], y[inner[v]], procedure)
        base_fit = base_blend(P[inner[v]], fv.weights, fv.space)
        base_eval = base_blend(P[m], fv.weights, fv.space)
        for c, seg in segments.items():
            factors = fit_segment_factors(base_fit, y[inner[v]], seg[inner[v]], fv.factor, strength)
            checks[c].global_rmspe.append(rmspe(y[m], fv.factor * base_eval))
            checks[c].segment_rmspe.append(rmspe(y[m], apply_segment_factors(base_eval, seg[m], factors, fv.factor)))
    for c in checks.values():
        c.accepted = len(c.gains) >= MIN_SEGMENT_WINDOWS and all(gain >= min_gain for gain in c.gains)
    accepted = [c for c in checks.values() if c.accepted]
    choice = Choice(procedure, fit, scores, list(checks.values()), windows=list(among))
    if accepted:
        chosen = max(accepted, key=lambda c: float(np.mean(c.gains)))
        base = base_blend(P[rows], fit.weights, fit.space)
        choice.segment = chosen.column
        choice.segment_factors = fit_segment_factors(base, y[rows], segments[chosen.column][rows], fit.factor,
                                                     strength)
    return choice


def causal_predictions(P: np.ndarray, y: np.ndarray, groups: np.ndarray, windows: dict[Any, Window],
                       segments: dict[str, np.ndarray], min_gain: float, strength: float,
                       procedures: tuple[str, ...] = ()) -> tuple[np.ndarray, dict[Any, Choice]]:
    """Every window predicted by the ensemble as it stood at that window's train end: decided and
    fitted (:func:`choose`) on the windows known before it only. Returns the predictions, row-aligned,
    and each window's choice."""
    g = np.asarray(groups)
    out = np.empty(len(y), dtype=np.float64)
    choices: dict[Any, Choice] = {}
    for w in sorted(windows, key=lambda w: windows[w].end):
        m = g == w
        choice = choose(P, y, g, windows, known_before(windows, w), segments, min_gain, strength, procedures)
        out[m] = choice.predict(P[m], {c: seg[m] for c, seg in segments.items()})
        choices[w] = choice
    return out, choices
