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


# A store-day that sold less than a third of its usual: a partial-day opening, a local event, a
# till failure. No model predicts it, and with prediction / actual above 3 its squared percentage
# error (above 4) weighs in RMSPE like hundreds of ordinary days (about 0.015 each at 0.12).
ONE_OFF_RATIO = 3.0


def one_off_rows(sales: Any, usual: Any, ratio: float = ONE_OFF_RATIO) -> np.ndarray:
    """Rows that sold something, but less than ``1 / ratio`` of ``usual`` (what the store usually
    sells on such a day, e.g. the median baseline's prediction): ``0 < sales * ratio < usual``."""
    y = np.asarray(sales, dtype=np.float64)
    u = np.asarray(usual, dtype=np.float64)
    if y.shape != u.shape:
        raise ValueError(f"one_off_rows: sales has shape {y.shape} but usual has shape {u.shape}; "
                         "pass one usual value per row")
    if not ratio > 1:
        raise ValueError(f"one_off_rows: ratio must be above 1 (got {ratio}); 3 flags days below a third of the usual")
    return (y > 0) & (y * ratio < u)
