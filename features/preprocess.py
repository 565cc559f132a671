"""The one preprocessor every model uses: category codes, missing-value fill, normalisation.

Fit on the training part only and saved next to each model's weights (``to_dict`` is JSON-able).

- Categorical columns: code 0 is reserved for unknown or missing values; the values seen in
  ``fit`` get codes 1..k in sorted order. ``cardinalities_[col] = k + 1`` (embedding sizes).
- Continuous columns: columns in ``log_cols`` become ``log1p(max(x, 0))`` first; NaN is filled
  with the training median, and for each column with NaN in at least ``na_flag_min_rate`` of
  the training rows (any NaN with the default 0) a ``<col>_na`` 0/1 flag is appended to the
  continuous inputs; with ``clip`` every value is clipped into the training [min, max]; then
  every continuous column (not the flags) is standardised with the training mean and std.
  The last three options exist for the MLP, which extrapolates where a tree would not (see
  ``__init__``).
- ``transform_frame`` gives LightGBM a DataFrame with ``category`` columns whose categories are
  fixed at fit time (so codes agree between train, validation and test) and the raw continuous
  values (trees need neither fill nor scaling).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

_NUMERIC = "numeric"
_STRING = "string"


def _canonical(values: Any, kind: str) -> np.ndarray:
    """Values in the canonical form used for lookups: float64 for numeric columns (so 2008,
    2008.0 and True/1 match whatever dtype a column arrives in), str objects otherwise."""
    if kind == _NUMERIC:
        return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.array([str(v) for v in values], dtype=object)


def _factorized(col: pd.Series, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(codes with -1 for missing, canonical distinct values): hashing 1M strings once, then
    working on the few distinct values, is much faster than converting every row."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.codes.to_numpy().astype(np.int64), _canonical(col.cat.categories, kind)
    if kind == _NUMERIC:
        col = pd.to_numeric(col, errors="coerce")
    codes, uniq = pd.factorize(col, use_na_sentinel=True)
    return codes.astype(np.int64), _canonical(uniq, kind)


def _kind_of(col: pd.Series) -> str:
    dtype = col.cat.categories.dtype if isinstance(col.dtype, pd.CategoricalDtype) else col.dtype
    return _NUMERIC if dtype.kind in "biuf" else _STRING


class TabularPreprocessor:
    """sklearn-style: ``__init__`` stores parameters, ``fit`` learns ``*_`` attributes."""

    def __init__(self, cat_cols: list[str], cont_cols: list[str], log_cols: list[str] = (),
                 na_flag_min_rate: float = 0.0, clip: bool = False) -> None:
        """`log_cols`: positive, heavy-tailed columns (sales levels) to feed as log1p, on the
        scale of a log target. `na_flag_min_rate`: flag a column's NaN only when at least this
        fraction of training rows is NaN; a flag that is almost never 1 in training is scaled by
        the network's BatchNorm to tens of standard deviations when it is 1 on many rows of a
        window (the closure features, docs/RESULTS.md, "Measurements the code relies on"),
        which is an extrapolation.
        `clip`: clip continuous values into the training range for the same reason."""
        self.cat_cols = list(cat_cols)
        self.cont_cols = list(cont_cols)
        self.log_cols = list(log_cols)
        self.na_flag_min_rate = na_flag_min_rate
        self.clip = clip

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame) -> TabularPreprocessor:
        missing = [c for c in self.cat_cols + self.cont_cols if c not in df.columns]
        if missing:
            raise KeyError(f"TabularPreprocessor.fit: columns not in the frame: {missing}")
        stray = [c for c in self.log_cols if c not in self.cont_cols]
        if stray:
            raise ValueError(f"TabularPreprocessor: log_cols {stray} are not among cont_cols; "
                             "list each log column in cont_cols too")
        self.cat_kinds_: dict[str, str] = {}
        self.categories_: dict[str, list[Any]] = {}
        for c in self.cat_cols:
            kind = _kind_of(df[c])
            codes, values = _factorized(df[c], kind)
            # codes index `values` densely (factorize), so a bincount finds the used ones fast.
            seen = values[np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(values)))]
            seen = seen[~pd.isna(seen)]
            uniq = sorted({float(v) for v in seen}) if kind == _NUMERIC else sorted({str(v) for v in seen})
            self.cat_kinds_[c] = kind
            self.categories_[c] = uniq
        self.cardinalities_: dict[str, int] = {c: len(v) + 1 for c, v in self.categories_.items()}

        self.medians_: dict[str, float] = {}
        self.means_: dict[str, float] = {}
        self.stds_: dict[str, float] = {}
        self.na_cols_: list[str] = []
        self.ranges_: dict[str, tuple[float, float]] = {}
        for c in self.cont_cols:
            x = self._raw(df, c)
            nan = np.isnan(x)
            med = float(np.median(x[~nan])) if (~nan).any() else 0.0
            if nan.any() and nan.mean() >= self.na_flag_min_rate:
                self.na_cols_.append(c)
            x = np.where(nan, med, x)
            std = float(x.std())
            self.ranges_[c] = (float(x.min()), float(x.max())) if len(x) else (0.0, 0.0)
            self.medians_[c] = med
            self.means_[c] = float(x.mean())
            self.stds_[c] = std if std > 1e-12 else 1.0  # constant column: centre only
        return self

    @property
    def cont_names_(self) -> list[str]:
        """Names of the columns of ``transform``'s continuous matrix, in order."""
        return self.cont_cols + [f"{c}_na" for c in self.na_cols_]

    # -- transforming ----------------------------------------------------------------------------
    def _raw(self, df: pd.DataFrame, c: str) -> np.ndarray:
        """Column ``c`` as float64 with NaN for missing, log1p'd when it is a log column."""
        x = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return np.log1p(np.maximum(x, 0.0)) if c in self.log_cols else x

    def _codes(self, df: pd.DataFrame, c: str) -> np.ndarray:
        """0 = unknown/missing, 1..k = the categories seen in fit."""
        kind = self.cat_kinds_[c]
        index = pd.Index(self.categories_[c], dtype=np.float64 if kind == _NUMERIC else object)
        codes, values = _factorized(df[c], kind)
        table = np.append(index.get_indexer(values), -1) + 1  # unseen -> 0; slot -1 = missing -> 0
        return table[codes].astype(np.int64)

    def transform(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(cats int64 [n, n_cat], conts float32 [n, n_cont + n_na_flags])."""
        self._check_fitted()
        n = len(df)
        cats = np.zeros((n, len(self.cat_cols)), dtype=np.int64)
        for j, c in enumerate(self.cat_cols):
            cats[:, j] = self._codes(df, c)
        conts = np.zeros((n, len(self.cont_names_)), dtype=np.float32)
        for j, c in enumerate(self.cont_cols):
            x = self._raw(df, c)
            x = np.where(np.isnan(x), self.medians_[c], x)
            if self.clip:
                x = np.clip(x, *self.ranges_[c])
            conts[:, j] = (x - self.means_[c]) / self.stds_[c]
        for k, c in enumerate(self.na_cols_):
            conts[:, len(self.cont_cols) + k] = pd.isna(df[c]).to_numpy()
        return cats, conts

    def transform_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """LightGBM input: fixed-category ``category`` columns, raw continuous columns."""
        self._check_fitted()
        out: dict[str, Any] = {}
        for c in self.cat_cols:
            cats = self.categories_[c]
            out[c] = pd.Categorical.from_codes(self._codes(df, c) - 1,
                                               categories=pd.Index(cats, dtype=np.float64 if
                                                                   self.cat_kinds_[c] == _NUMERIC else object))
        for c in self.cont_cols:
            out[c] = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float32, na_value=np.nan)
        return pd.DataFrame(out, index=df.index)

    # -- persistence -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"cat_cols": self.cat_cols, "cont_cols": self.cont_cols, "log_cols": self.log_cols,
                "na_flag_min_rate": self.na_flag_min_rate, "clip": self.clip,
                "cat_kinds": self.cat_kinds_, "categories": self.categories_,
                "medians": self.medians_, "means": self.means_, "stds": self.stds_,
                "ranges": {c: list(r) for c, r in self.ranges_.items()},
                "na_cols": self.na_cols_, "version": 2}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TabularPreprocessor:
        # Version 1 files (before log_cols / na_flag_min_rate / clip) load with the old behaviour.
        p = cls(d["cat_cols"], d["cont_cols"], d.get("log_cols", []), d.get("na_flag_min_rate", 0.0),
                d.get("clip", False))
        p.cat_kinds_ = dict(d["cat_kinds"])
        p.categories_ = {c: [float(v) if p.cat_kinds_[c] == _NUMERIC else str(v) for v in vals]
                         for c, vals in d["categories"].items()}
        p.cardinalities_ = {c: len(v) + 1 for c, v in p.categories_.items()}
        p.medians_ = {k: float(v) for k, v in d["medians"].items()}
        p.means_ = {k: float(v) for k, v in d["means"].items()}
        p.stds_ = {k: float(v) for k, v in d["stds"].items()}
        p.na_cols_ = list(d["na_cols"])
        p.ranges_ = {c: (float(r[0]), float(r[1])) for c, r in d.get("ranges", {}).items()}
        return p

    def _check_fitted(self) -> None:
        if not hasattr(self, "categories_"):
            raise RuntimeError("TabularPreprocessor is not fitted: call fit(train_part) first")
