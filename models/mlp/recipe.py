"""The MLP's recipe that ``models.common.run_stage`` runs on every window and on the test."""
from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from competition.metric import rmspe
from core.errors import DataError
from features.columns import ORDINAL_CAT_COLS, model_columns
from models.common import fit_frame, training_frames
from models.inputs import StageInputs
from models.mlp.config import MLPConfig
from models.mlp.regressor import MLP_LOG_COLS, MLPRegressor
from models.mlp.training import bf16_enabled, resolve_device


def log(msg: str) -> None:
    print(msg, flush=True)


def recent_positions(df: pd.DataFrame, days: int) -> np.ndarray:
    """Positions of ``df``'s rows from its last ``days`` days (by ``Date``)."""
    return np.flatnonzero((df["Date"] > df["Date"].max() - pd.Timedelta(days=days)).to_numpy())


def recent_rows(df: pd.DataFrame, days: int) -> torch.Tensor:
    """An epoch's rows of ``df`` with the last ``days`` days counted twice (``fit_network``'s ``rows``):
    every row, then the recent ones again."""
    return torch.from_numpy(np.concatenate([np.arange(len(df)), recent_positions(df, days)]).astype(np.int64))


class MLPRecipe:
    """The MLP's recipe for ``models.common.run_stage`` (see the package docstring).

    For each of ``config.members`` members (first-fit seeds ``seed``, ``seed + 1``, ...):
    1. ``config.epochs`` one-cycle epochs on the table's train part up to its last test-length
       stretch, whose RMSPE is logged after each epoch (monitoring only: nothing is chosen on it);
    2. the refits: one final network per entry of ``config.refits``, each a copy of the first
       fit that trains ``refit_epochs`` more epochs on all the train rows of the test stores,
       "recent" ones with the last ``recent_days`` days counted twice.
    The prediction is the final networks' geometric mean (their mean on the log scale they are
    trained on). The networks stay in ``finals_`` (``final_`` is the first), member by member,
    with ``member_of_[i]`` the member of network i; their predictions are in
    ``member_predictions_`` and the first member's loss curves in ``curves_``.
    """

    def __init__(self, config: MLPConfig) -> None:
        self.config = config

    def stage_inputs(self) -> StageInputs:
        """What its predictions depend on besides the tables (``models.common.kept_stage``)."""
        cfg = self.config
        cats, conts = model_columns("mlp")
        columns = dict.fromkeys(cats + conts + ORDINAL_CAT_COLS + list(cfg.cat_cols or []) + list(cfg.cont_cols or []))
        device = resolve_device(cfg)
        settings = {**{k: v for k, v in cfg.to_dict().items() if k != "progress"}, "threads": cfg.n_threads(),
                    "device": device.type, "bf16": bf16_enabled(cfg, device), "log_cols": MLP_LOG_COLS,
                    "torch": torch.__version__}
        return StageInputs(tuple(columns), settings, code=("models/mlp",))

    def __call__(self, train_df: Any, test_df: Any, meta: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        fit_df, inner_df = training_frames(train_df, meta)
        all_df = fit_frame(train_df)
        # Other stores' rows cannot change a test prediction except through shared weights.
        in_test = all_df["Store"].isin(test_df["Store"].unique())
        if not in_test.any():
            raise DataError("no test store has a training row", column="Store",
                            fix="rebuild the features from a train.csv and a test.csv of the same competition")
        all_df = all_df[in_test].reset_index(drop=True)
        finals, log_preds, infos, member_of = [], [], [], []
        for k in range(self.config.members):
            config = self.config.with_params({"seed": self.config.seed + k})
            nets, info, curves = self._fit_member(config, fit_df, inner_df, all_df, meta)
            for net in nets:
                finals.append(net)
                log_preds.append(net.predict_log(test_df))
                member_of.append(k)
            infos.append(info)
            if k == 0:
                self.curves_ = curves
        self.finals_, self.final_, self.member_of_ = finals, finals[0], member_of
        self.member_predictions_ = [np.exp(p) for p in log_preds]
        info = {key: round(sum(i[key] for i in infos), 1) for key in ("first_fit_seconds", "refit_seconds")}
        info.update(members=self.config.members, networks=len(finals),
                    monitor_rmspe=[i["monitor_rmspe"] for i in infos], refit_rows=len(all_df))
        return np.exp(np.mean(log_preds, axis=0)), info

    @staticmethod
    def _fit_member(config: MLPConfig, fit_df: Any, inner_df: Any, all_df: Any, meta: dict[str, Any]
                    ) -> tuple[list[MLPRegressor], dict[str, Any], dict[str, Any]]:
        reg = MLPRegressor(config).fit(fit_df, inner_df)
        inner = rmspe(inner_df["Sales"].to_numpy(), reg.predict(inner_df))
        curves = {f"first fit ({len(fit_df):,} rows)": {
            "step_loss": reg.step_loss_, "step_lr": reg.step_lr_, "epochs": reg.history_}}
        first_seconds = reg.fit_seconds_
        t0 = time.perf_counter()
        # The refit rows become tensors once, through the first fit's preprocessor, for all refits.
        data = reg.tensors(all_df)
        recent = recent_rows(all_df, config.recent_days) if "recent" in config.refits else None
        finals, labels = [], []
        for j, how in enumerate(config.refits):
            # Copies first: the first fit itself becomes the last refit.
            net = reg if j == len(config.refits) - 1 else copy.deepcopy(reg)
            if j:
                net.config = config.with_params({"seed": config.seed + 100 * j})
            rows = recent if how == "recent" else None
            net.fit_more(data, config.refit_epochs, rows=rows)
            finals.append(net)
            labels.append(f"{how}, seed {net.config.seed}, {len(data if rows is None else rows):,} rows an epoch")
        summary = (f"the network trains {config.refit_epochs} more epoch(s) on the "
                   f"{all_df['Store'].nunique():,} test stores' {len(all_df):,} rows, as {len(finals)} refit(s): "
                   + "; ".join(f"{label} {net.fit_seconds_:.1f} s" for label, net in zip(labels, finals)))
        refit_seconds = time.perf_counter() - t0
        for net, label in zip(finals, labels):
            curves[f"refit: {label}"] = {
                "step_loss": net.step_loss_, "step_lr": net.step_lr_, "epochs": net.history_}
        log(f"mlp: seed {config.seed}: first fit {first_seconds:.1f} s (RMSPE on its last stretch from "
            f"{meta.get('valid_start')}, monitoring only: {inner:.4f}); refit: {summary}; {refit_seconds:.1f} s")
        return finals, {"first_fit_seconds": first_seconds, "refit_seconds": refit_seconds,
                        "monitor_rmspe": inner}, curves
