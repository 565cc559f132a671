"""The LightGBM recipe that ``models.common.run_stage`` runs on every window and on the test."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.columns import ORDINAL_CAT_COLS, model_columns
from models.common import fit_frame
from models.inputs import StageInputs
from models.lgbm.estimator import LGBMSalesRegressor, feature_columns, lgb_frame, make_preprocessor
from models.lgbm.params import DEFAULT_THREADS


class LGBMRecipe:
    """The LightGBM recipe for ``models.common.run_stage``: a fixed number of rounds on every open
    day of a table's train part, then predict its test part.

    The round count is fixed beforehand (``num_boost_round``), not early-stopped: a window's
    rows may decide nothing about its own fit, and the test has no labels to stop on either. The
    last fitted model stays in ``model_`` (the competition's, after ``run_stage``).
    """

    def __init__(self, params: Mapping[str, Any], *, seed: int, num_boost_round: int,
                 num_threads: int = DEFAULT_THREADS) -> None:
        self.params = dict(params)
        self.seed = seed
        self.num_boost_round = num_boost_round
        self.num_threads = num_threads

    def stage_inputs(self) -> StageInputs:
        """What its predictions depend on besides the tables (``models.common.kept_stage``)."""
        cats, conts = model_columns("lgbm")
        return StageInputs(tuple(cats + conts), {
            "params": self.params, "seed": self.seed, "num_boost_round": self.num_boost_round,
            "num_threads": self.num_threads, "ordinal_cat_cols": ORDINAL_CAT_COLS, "lightgbm": lgb.__version__},
            code=("models/lgbm",))

    def __call__(self, train: pd.DataFrame, test: pd.DataFrame, meta: Mapping[str, Any]
                 ) -> tuple[np.ndarray, dict[str, Any]]:
        fit_df = fit_frame(train)
        cats, conts = feature_columns(fit_df)
        pre = make_preprocessor(cats, conts, fit_df)
        self.model_ = LGBMSalesRegressor(self.params, seed=self.seed, num_threads=self.num_threads,
                                         num_boost_round=self.num_boost_round)
        self.model_.fit(lgb_frame(pre, fit_df, cats), fit_df["Sales"])
        self.columns_ = (cats, conts)
        return self.model_.predict(lgb_frame(pre, test, cats)), {
            "rounds": self.model_.rounds_, "n_fit": len(fit_df),
            "fit_seconds": round(self.model_.fit_seconds_, 1)}
