"""The LightGBM estimator on log(Sales) and the feature frames it is fitted on."""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from core.errors import DataError
from core.io import write_text_atomic
from features.columns import ORDINAL_CAT_COLS, model_columns
from features.preprocess import TabularPreprocessor
from models.lgbm.params import DEFAULT_NUM_BOOST_ROUND, DEFAULT_PARAMS, DEFAULT_THREADS


class LGBMSalesRegressor:
    """sklearn-style LightGBM regressor on log(Sales), scored with RMSPE.

    ``fit`` takes Sales (not log) and ``predict`` returns Sales, so callers never see the
    transform. Categorical features must arrive as pandas ``category`` dtype (LightGBM then
    stores the category lists in the model and maps them again at prediction time). Attributes
    learnt by ``fit`` end in ``_``. Every fit trains ``num_boost_round`` rounds: the windows and
    the final fit use one fixed count (``models.lgbm.params``), nothing early-stops.
    """

    def __init__(self, params: Mapping[str, Any] | None = None, *, seed: int = 0,
                 num_boost_round: int = DEFAULT_NUM_BOOST_ROUND, num_threads: int = DEFAULT_THREADS) -> None:
        self.params = dict(params) if params is not None else dict(DEFAULT_PARAMS)
        self.seed = seed
        self.num_boost_round = num_boost_round
        self.num_threads = num_threads

    def lgb_params(self, n_rows: int, n_cols: int) -> dict[str, Any]:
        """The full LightGBM parameter dict: user params plus what reproducibility needs."""
        params = dict(self.params)
        params.update({
            # Nothing is evaluated while training (the windows score the predictions).
            "metric": "None",
            "verbosity": -1,
            # `seed` fans out to bagging/feature-fraction/data-random seeds; with deterministic
            # and a fixed thread count the same seed gives bit-identical models.
            "seed": self.seed,
            "deterministic": True,
            "num_threads": self.num_threads,
        })
        # Pick the histogram layout explicitly: with it fixed LightGBM skips its timing test
        # (whose outcome can differ between runs, and with it the floating-point sums). Row-wise
        # wins for long, narrow data like ours; col-wise for wide data.
        params.pop("force_row_wise", None)
        params.pop("force_col_wise", None)
        params["force_row_wise" if n_rows >= 20 * n_cols else "force_col_wise"] = True
        return params

    def fit(self, X: pd.DataFrame, sales: Any, *,
            callbacks: Sequence[Callable[..., Any]] = ()) -> LGBMSalesRegressor:
        """Fit ``num_boost_round`` rounds on log(Sales); Sales must be > 0."""
        y = _log_sales(sales)
        params = self.lgb_params(len(X), X.shape[1])
        train_set = lgb.Dataset(X, label=y, categorical_feature="auto", free_raw_data=True)
        start = time.perf_counter()
        self.booster_ = lgb.train(params, train_set, num_boost_round=int(self.num_boost_round),
                                  callbacks=list(callbacks))
        self.fit_seconds_ = time.perf_counter() - start
        self.rounds_ = int(self.booster_.current_iteration())
        self.feature_names_ = list(X.columns)
        self.n_rows_ = len(X)
        self.params_ = params
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted Sales (back from the log scale)."""
        self._check_fitted()
        missing = [c for c in self.feature_names_ if c not in X.columns]
        if missing:
            raise DataError(f"LightGBM model was trained on columns that are missing now: {missing}",
                            fix="rebuild the features (make features) and retrain (make train)")
        log_pred = self.booster_.predict(X[self.feature_names_], num_iteration=self.rounds_)
        return np.exp(log_pred)

    def feature_importance(self, kind: str = "gain") -> pd.Series:
        self._check_fitted()
        values = self.booster_.feature_importance(importance_type=kind,
                                                  iteration=self.rounds_)
        return pd.Series(values, index=self.feature_names_, name=kind).sort_values(ascending=False)

    def save(self, path: Path) -> None:
        self._check_fitted()
        text = self.booster_.model_to_string(num_iteration=self.rounds_)
        write_text_atomic(path, text)

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise RuntimeError("LGBMSalesRegressor is not fitted yet: call fit() first")


def _log_sales(sales: Any) -> np.ndarray:
    y = np.asarray(sales, dtype=np.float64)
    if (y <= 0).any() or not np.isfinite(y).all():
        raise DataError(f"LightGBM training target has {int((~(y > 0)).sum())} non-positive or "
                        "missing Sales values; a log target needs Sales > 0",
                        fix="train on open days with Sales > 0 (models.common.training_frames)")
    return np.log(y)


def feature_columns(df: pd.DataFrame) -> tuple[list[str], list[str]]:
    """LightGBM's (categorical, numeric) inputs: the shared CAT/CONT lists filtered to the columns
    present (external tables are optional), ordered categories moved to the numbers."""
    cats, conts = model_columns("lgbm")
    cats, conts = tree_columns([c for c in cats if c in df.columns], [c for c in conts if c in df.columns])
    if not cats and not conts:
        raise DataError("the feature table has none of the feature columns in features.columns",
                        fix="rebuild the features: make features")
    return cats, conts


def tree_columns(cats: Sequence[str], conts: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(cats, conts)`` as a tree takes them: the columns of ``features.columns.ORDINAL_CAT_COLS``
    leave the categoricals and go first among the numbers (they keep their raw values)."""
    ordinal = [c for c in cats if c in ORDINAL_CAT_COLS]
    return [c for c in cats if c not in ORDINAL_CAT_COLS], ordinal + [c for c in conts if c not in ordinal]


def make_preprocessor(cats: list[str], conts: list[str], fit_df: pd.DataFrame) -> TabularPreprocessor:
    """The shared preprocessor, fitted on ``fit_df`` only."""
    pre = TabularPreprocessor(cats, conts)
    pre.fit(fit_df)
    return pre


def lgb_frame(pre: TabularPreprocessor, df: pd.DataFrame, cats: list[str]) -> pd.DataFrame:
    """Feature frame for LightGBM: categoricals as pandas ``category`` dtype.

    pandas 3 stores strings as the ``str`` dtype, which LightGBM rejects, so anything that is not
    numeric or already categorical is cast here even if the preprocessor let it through.
    """
    frame = pre.transform_frame(df)
    for col in frame.columns:
        dtype = frame[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            continue
        if col in cats or not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            frame[col] = frame[col].astype("category")
    return frame
