"""The LightGBM estimator on log(Sales) and the feature frames it is fitted on."""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from competition.metric import lgb_rmspe
from core.errors import DataError
from core.io import write_text_atomic
from features.columns import CAT_COLS, CONT_COLS, ORDINAL_CAT_COLS
from features.preprocess import TabularPreprocessor
from models.lgbm.params import DEFAULT_EARLY_STOPPING_ROUNDS, DEFAULT_PARAMS, DEFAULT_THREADS, MAX_BOOST_ROUND


class LGBMSalesRegressor:
    """sklearn-style LightGBM regressor on log(Sales), scored with RMSPE.

    ``fit`` takes Sales (not log) and ``predict`` returns Sales, so callers never see the
    transform. Categorical features must arrive as pandas ``category`` dtype (LightGBM then
    stores the category lists in the model and maps them again at prediction time). Attributes
    learnt by ``fit`` end in ``_``.
    """

    def __init__(self, params: Mapping[str, Any] | None = None, *, seed: int = 0,
                 num_boost_round: int = MAX_BOOST_ROUND,
                 early_stopping_rounds: int = DEFAULT_EARLY_STOPPING_ROUNDS,
                 num_threads: int = DEFAULT_THREADS, log_period: int = 100) -> None:
        self.params = dict(params) if params is not None else dict(DEFAULT_PARAMS)
        self.seed = seed
        self.num_boost_round = num_boost_round
        self.early_stopping_rounds = early_stopping_rounds
        self.num_threads = num_threads
        self.log_period = log_period

    def lgb_params(self, n_rows: int, n_cols: int) -> dict[str, Any]:
        """The full LightGBM parameter dict: user params plus what reproducibility needs."""
        params = dict(self.params)
        params.update({
            # RMSPE is reported by the feval; LightGBM's own metric would only double the logs.
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

    def fit(self, X: pd.DataFrame, sales: Any, *, eval_set: tuple[pd.DataFrame, Any] | None = None,
            num_boost_round: int | None = None,
            callbacks: Sequence[Callable[..., Any]] = ()) -> LGBMSalesRegressor:
        """Fit on Sales > 0; with ``eval_set`` early-stop on its RMSPE (metric name ``rmspe``,
        dataset name ``valid``, which is what ``LightGBMPruningCallback`` must be given)."""
        y = _log_sales(sales, "training")
        rounds = int(num_boost_round or self.num_boost_round)
        params = self.lgb_params(len(X), X.shape[1])
        train_set = lgb.Dataset(X, label=y, categorical_feature="auto", free_raw_data=True)
        valid_sets: list[lgb.Dataset] = []
        valid_names: list[str] = []
        self.evals_result_: dict[str, dict[str, list[float]]] = {}
        cbs: list[Callable[..., Any]] = [lgb.record_evaluation(self.evals_result_)]
        if eval_set is not None:
            Xv, sales_v = eval_set
            valid_sets.append(lgb.Dataset(Xv, label=_log_sales(sales_v, "validation"),
                                          reference=train_set, categorical_feature="auto"))
            valid_names.append("valid")
            if self.early_stopping_rounds:
                cbs.append(lgb.early_stopping(self.early_stopping_rounds, first_metric_only=True,
                                              verbose=self.log_period > 0))
            if self.log_period > 0:
                cbs.append(lgb.log_evaluation(self.log_period))
        cbs.extend(callbacks)
        start = time.perf_counter()
        self.booster_ = lgb.train(params, train_set, num_boost_round=rounds,
                                  valid_sets=valid_sets or None, valid_names=valid_names or None,
                                  feval=lgb_rmspe if valid_sets else None, callbacks=cbs)
        self.fit_seconds_ = time.perf_counter() - start
        # Without a validation set (the refit) every round is kept.
        self.best_iteration_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        self.best_score_ = (float(self.evals_result_["valid"]["rmspe"][self.best_iteration_ - 1])
                            if valid_sets else None)
        self.feature_names_ = list(X.columns)
        self.n_rows_ = len(X)
        self.params_ = params
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted Sales (back from the log scale) with the best iteration."""
        self._check_fitted()
        missing = [c for c in self.feature_names_ if c not in X.columns]
        if missing:
            raise DataError(f"LightGBM model was trained on columns that are missing now: {missing}",
                            fix="rebuild the features (make features) and retrain (make train)")
        log_pred = self.booster_.predict(X[self.feature_names_], num_iteration=self.best_iteration_)
        return np.exp(log_pred)

    def feature_importance(self, kind: str = "gain") -> pd.Series:
        self._check_fitted()
        values = self.booster_.feature_importance(importance_type=kind,
                                                  iteration=self.best_iteration_)
        return pd.Series(values, index=self.feature_names_, name=kind).sort_values(ascending=False)

    def save(self, path: Path) -> None:
        self._check_fitted()
        text = self.booster_.model_to_string(num_iteration=self.best_iteration_)
        write_text_atomic(path, text)

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise RuntimeError("LGBMSalesRegressor is not fitted yet: call fit() first")


def _log_sales(sales: Any, what: str) -> np.ndarray:
    y = np.asarray(sales, dtype=np.float64)
    if (y <= 0).any() or not np.isfinite(y).all():
        raise DataError(f"LightGBM {what} target has {int((~(y > 0)).sum())} non-positive or "
                        "missing Sales values; a log target needs Sales > 0",
                        fix="train on open days with Sales > 0 (models.common.training_frames)")
    return np.log(y)


def feature_columns(df: pd.DataFrame) -> tuple[list[str], list[str]]:
    """LightGBM's (categorical, numeric) inputs: the shared CAT/CONT lists filtered to the columns
    present (external tables are optional), ordered categories moved to the numbers."""
    cats, conts = tree_columns([c for c in CAT_COLS if c in df.columns], [c for c in CONT_COLS if c in df.columns])
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
