"""The MLP's recipe that ``models.common.run_stage`` runs on every window and on the test."""
from __future__ import annotations

from typing import Any

from competition.metric import rmspe
from core.errors import DataError
from models.common import fit_frame, training_frames
from models.mlp.config import MLPConfig
from models.mlp.regressor import MLPRegressor


def log(msg: str) -> None:
    print(msg, flush=True)


class MLPRecipe:
    """The MLP's recipe for ``models.common.run_stage`` (see the package docstring).

    1. ``config.epochs`` one-cycle epochs on the table's train part up to its last test-length
       stretch, whose RMSPE is logged after each epoch (monitoring only: nothing is chosen on it);
    2. the refit: the same network continues ``refit_epochs`` epochs on all of the train part
       (the test stores' rows with ``refit_test_stores_only``), or a fresh network trains on it
       (``refit="scratch"``).
    The last fit stays in ``final_`` and its loss curves in ``curves_``.
    """

    def __init__(self, config: MLPConfig) -> None:
        self.config = config

    def __call__(self, train_df: Any, test_df: Any, meta: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        config = self.config
        fit_df, inner_df = training_frames(train_df, meta)
        reg = MLPRegressor(config).fit(fit_df, inner_df)
        inner = rmspe(inner_df["Sales"].to_numpy(), reg.predict(inner_df))
        curves = {f"first fit ({len(fit_df):,} rows)": {
            "step_loss": reg.step_loss_, "step_lr": reg.step_lr_, "epochs": reg.history_}}
        first_seconds = reg.fit_seconds_
        all_df = fit_frame(train_df)
        if config.refit_test_stores_only:
            in_test = all_df["Store"].isin(test_df["Store"].unique())
            if not in_test.any():
                raise DataError("no test store has a training row", column="Store",
                                fix="rebuild the features from a train.csv and a test.csv of the same competition")
            all_df = all_df[in_test].reset_index(drop=True)
        if config.refit == "continue":
            final = reg.fit_more(all_df, config.refit_epochs)
        else:
            final = MLPRegressor(config).fit(all_df)
        curves[f"refit ({len(all_df):,} rows)"] = {
            "step_loss": final.step_loss_, "step_lr": final.step_lr_, "epochs": final.history_}
        self.final_, self.curves_ = final, curves
        how = (f"the network continues {config.refit_epochs} epoch(s)" if config.refit == "continue"
               else f"a fresh network, {config.epochs} epochs")
        stores = f"the {all_df['Store'].nunique():,} test stores' " if config.refit_test_stores_only else ""
        log(f"mlp: first fit {first_seconds:.1f} s (RMSPE on its last stretch from {meta.get('valid_start')}, "
            f"monitoring only: {inner:.4f}); refit: {how} on {stores}{len(all_df):,} rows, "
            f"{final.fit_seconds_:.1f} s")
        return final.predict(test_df), {"first_fit_seconds": round(first_seconds, 1),
                                        "refit_seconds": round(final.fit_seconds_, 1),
                                        "monitor_rmspe": inner, "refit_rows": len(all_df)}
