"""RMSPE, the competition metric: sqrt(mean(((y - yhat) / y)^2)) over days with y != 0.

Kaggle ignores days with zero sales (closed stores), so the metric drops them.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def rmspe(y_true: Any, y_pred: Any) -> float:
    """Root mean squared percentage error over the rows where ``y_true != 0``."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if y.shape != p.shape:
        raise ValueError(f"rmspe: y_true has shape {y.shape} but y_pred has shape {p.shape}; "
                         "pass one prediction per true value")
    keep = y != 0
    if not keep.any():
        raise ValueError("rmspe: every y_true is 0, so RMSPE is undefined (Kaggle ignores zero-sales days)")
    pct = (y[keep] - p[keep]) / y[keep]
    return float(np.sqrt(np.mean(pct * pct)))


def optimal_factor(base: Any, y: Any, prior: float | None = None,
                   strength: float = 0.0) -> float:
    """The multiplicative factor that minimises RMSPE of ``factor * base`` against ``y`` (all > 0).

    Closed form: with r = base / y, minimising sum((1 - c * r)^2) gives c = sum(r) / sum(r^2).

    With ``prior`` and ``strength`` it is a ridge estimate shrunk towards ``prior``: ``strength``
    acts like that many extra rows whose best factor is ``prior``, so segments with few rows
    stay near the global factor instead of chasing their noise.
    """
    r = np.asarray(base, dtype=np.float64) / np.asarray(y, dtype=np.float64)
    s1, s2 = float(r.sum()), float((r * r).sum())
    if prior is not None and strength > 0:
        # One "pseudo-row" weighs like a typical row: scale by the mean r^2 of this segment.
        lam = strength * (s2 / max(len(r), 1))
        return (s1 + lam * prior) / (s2 + lam)
    return s1 / s2 if s2 > 0 else 1.0
