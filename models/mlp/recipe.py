"""The MLP's recipe that ``models.common.run_stage`` runs on every window and on the test."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from competition.metric import rmspe
from core.errors import DataError
from models.common import fit_frame, training_frames
from models.mlp.config import MLPConfig
from models.mlp.regressor import MLPRegressor


def log(msg: str) -> None:
    print(msg, flush=True)


def recent_twice(df: pd.DataFrame, days: int) -> pd.DataFrame:
    """``df`` with its rows of the last ``days`` days (by ``Date``) appended once more."""
    recent = df[df["Date"] > df["Date"].max() - pd.Timedelta(days=days)]
    return pd.concat([df, recent], ignore_index=True)


class MLPRecipe:
    """The MLP's recipe for ``models.common.run_stage`` (see the package docstring).

    For each of ``config.members`` networks (seeds ``seed``, ``seed + 1``, ...), the "continue"
    recipe is:
    1. ``config.epochs`` one-cycle epochs on the table's train part up to its last test-length
       stretch, whose RMSPE is logged after each epoch (monitoring only: nothing is chosen on it);
    2. the refit: the same network continues ``refit_epochs`` epochs on all of the train part
       (the test stores' rows with ``refit_test_stores_only``), or a fresh network trains on it
       (``refit="scratch"``).
    Member k follows ``config.member_recipes[k % len]``: "recent" is "continue" with the last
    ``recent_days`` days of both frames counted twice, "direct" skips step 1 and trains a fresh
    network ``epochs + refit_epochs`` epochs on the refit rows.
    The prediction is the members' geometric mean (their mean on the log scale the networks are
    trained on). The fitted members stay in ``finals_`` (``final_`` is the first), their
    predictions in ``member_predictions_`` and the first member's loss curves in ``curves_``.
    """

    def __init__(self, config: MLPConfig) -> None:
        self.config = config

    def __call__(self, train_df: Any, test_df: Any, meta: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        fit_df, inner_df = training_frames(train_df, meta)
        all_df = fit_frame(train_df)
        if self.config.refit_test_stores_only:
            in_test = all_df["Store"].isin(test_df["Store"].unique())
            if not in_test.any():
                raise DataError("no test store has a training row", column="Store",
                                fix="rebuild the features from a train.csv and a test.csv of the same competition")
            all_df = all_df[in_test].reset_index(drop=True)
        finals, log_preds, infos = [], [], []
        kinds = [self.config.member_recipe(k) for k in range(self.config.members)]
        if "recent" in kinds:  # built once for every "recent" member
            recent_fit, recent_all = (recent_twice(df, self.config.recent_days) for df in (fit_df, all_df))
        for k, kind in enumerate(kinds):
            config = self.config.with_params({"seed": self.config.seed + k})
            if kind == "direct":
                final, info, curves = self._fit_direct(config, all_df)
            elif kind == "recent":
                final, info, curves = self._fit_member(config, recent_fit, inner_df, recent_all, meta)
            else:
                final, info, curves = self._fit_member(config, fit_df, inner_df, all_df, meta)
            finals.append(final)
            log_preds.append(final.predict_log(test_df))
            infos.append(info)
            if k == 0:
                self.curves_ = curves
        self.finals_, self.final_ = finals, finals[0]
        self.member_predictions_ = [np.exp(p) for p in log_preds]
        info = {key: round(sum(i[key] for i in infos), 1) for key in ("first_fit_seconds", "refit_seconds")}
        info.update(members=len(finals), member_recipes=kinds, monitor_rmspe=[i["monitor_rmspe"] for i in infos],
                    refit_rows=len(all_df))
        return np.exp(np.mean(log_preds, axis=0)), info

    @staticmethod
    def _fit_direct(config: MLPConfig, all_df: Any) -> tuple[MLPRegressor, dict[str, Any], dict[str, Any]]:
        """The "direct" member: a fresh network trains the whole schedule on the refit rows."""
        epochs = config.epochs + config.refit_epochs
        final = MLPRegressor(config.with_params({"epochs": epochs})).fit(all_df)
        log(f"mlp: seed {config.seed}: direct fit, {epochs} epochs on {len(all_df):,} rows, "
            f"{final.fit_seconds_:.1f} s (no first fit, nothing to monitor)")
        curves = {f"direct fit ({len(all_df):,} rows)": {
            "step_loss": final.step_loss_, "step_lr": final.step_lr_, "epochs": final.history_}}
        return final, {"first_fit_seconds": final.fit_seconds_, "refit_seconds": 0.0, "monitor_rmspe": None}, curves

    @staticmethod
    def _fit_member(config: MLPConfig, fit_df: Any, inner_df: Any, all_df: Any, meta: dict[str, Any]
                    ) -> tuple[MLPRegressor, dict[str, Any], dict[str, Any]]:
        reg = MLPRegressor(config).fit(fit_df, inner_df)
        inner = rmspe(inner_df["Sales"].to_numpy(), reg.predict(inner_df))
        curves = {f"first fit ({len(fit_df):,} rows)": {
            "step_loss": reg.step_loss_, "step_lr": reg.step_lr_, "epochs": reg.history_}}
        first_seconds = reg.fit_seconds_
        if config.refit == "continue":
            final = reg.fit_more(all_df, config.refit_epochs)
        else:
            final = MLPRegressor(config).fit(all_df)
        curves[f"refit ({len(all_df):,} rows)"] = {
            "step_loss": final.step_loss_, "step_lr": final.step_lr_, "epochs": final.history_}
        how = (f"the network continues {config.refit_epochs} epoch(s)" if config.refit == "continue"
               else f"a fresh network, {config.epochs} epochs")
        stores = f"the {all_df['Store'].nunique():,} test stores' " if config.refit_test_stores_only else ""
        log(f"mlp: seed {config.seed}: first fit {first_seconds:.1f} s (RMSPE on its last stretch from "
            f"{meta.get('valid_start')}, monitoring only: {inner:.4f}); refit: {how} on {stores}"
            f"{len(all_df):,} rows, {final.fit_seconds_:.1f} s")
        return final, {"first_fit_seconds": first_seconds, "refit_seconds": final.fit_seconds_,
                       "monitor_rmspe": inner}, curves
