"""One Optuna objective per model. Each ranks settings on the final table's inner split."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna_integration import LightGBMPruningCallback

from models.common import load_feature_tables, training_frames
from models.lgbm import DEFAULT_PARAMS, LGBMSalesRegressor, feature_columns, lgb_frame, make_preprocessor
from models.mlp import MLPConfig, MLPRegressor

# Three epochs: the pruner skips epoch 0 (the one-cycle warm-up is noisy), so a poor trial can
# still be stopped after epoch 1, saving the last third.
DEFAULT_MLP_TRIAL_EPOCHS = 3
DEFAULT_MLP_TRIAL_ROWS = 200_000
DEFAULT_LGBM_TRIAL_ROUNDS = 1500
DEFAULT_LGBM_TRIAL_ROWS = 0  # 0: all training rows


@dataclass
class TrialBudget:
    """How big one trial is. Small on purpose: trials rank settings, the final fit is full size."""
    seed: int = 42
    threads: int = 2
    mlp_epochs: int = DEFAULT_MLP_TRIAL_EPOCHS
    mlp_rows: int = DEFAULT_MLP_TRIAL_ROWS
    lgbm_rounds: int = DEFAULT_LGBM_TRIAL_ROUNDS
    lgbm_rows: int = DEFAULT_LGBM_TRIAL_ROWS
    smoke_step_seconds: float = 0.0


def subsample(df: Any, rows: int, seed: int) -> Any:
    """A seeded random subset of training rows (all when ``rows`` is 0 or larger than the data)."""
    if not rows or rows >= len(df):
        return df
    return df.sample(n=rows, random_state=seed).sort_index()


def load_frames(build_dir: Path) -> tuple[Any, Any]:
    train_df, _test_df, meta = load_feature_tables(build_dir)
    return training_frames(train_df, meta)


class QuadraticObjective:
    """Data-free objective: (x - 2)^2 + (y + 1)^2 approached over 5 reported steps."""

    def __init__(self, budget: TrialBudget) -> None:
        self.budget = budget

    def space(self, trial: optuna.Trial) -> dict[str, Any]:
        return {"x": trial.suggest_float("x", -10.0, 10.0), "y": trial.suggest_float("y", -10.0, 10.0)}

    def __call__(self, trial: optuna.Trial) -> float:
        p = self.space(trial)
        value = (p["x"] - 2.0) ** 2 + (p["y"] + 1.0) ** 2
        for step in range(5):
            if self.budget.smoke_step_seconds:
                time.sleep(self.budget.smoke_step_seconds)
            trial.report(value * (1.0 + 1.0 / (step + 1)), step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at step {step}")
        return value

    @staticmethod
    def to_model_params(params: dict[str, Any]) -> dict[str, Any]:
        return dict(params)


class LGBMObjective:
    """LightGBM on the training part, early-stopped and pruned on validation RMSPE."""

    def __init__(self, build_dir: Path, budget: TrialBudget) -> None:
        self.budget = budget
        fit_df, valid_df = load_frames(build_dir)
        fit_df = subsample(fit_df, budget.lgbm_rows, budget.seed)
        cats, conts = feature_columns(fit_df)
        pre = make_preprocessor(cats, conts, fit_df)
        # Preprocess once for all trials: only the booster changes between them.
        self.X_fit, self.y_fit = lgb_frame(pre, fit_df, cats), fit_df["Sales"].to_numpy()
        self.X_valid, self.y_valid = lgb_frame(pre, valid_df, cats), valid_df["Sales"].to_numpy()

    @staticmethod
    def space(trial: optuna.Trial) -> dict[str, Any]:
        params = {
            "num_leaves": trial.suggest_int("num_leaves", 31, 511, log=True),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 5, 300, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.3, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
            "bagging_freq": trial.suggest_int("bagging_freq", 0, 5),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.03, 0.2, log=True),
        }
        return params

    def __call__(self, trial: optuna.Trial) -> float:
        params = {**DEFAULT_PARAMS, **self.space(trial)}
        model = LGBMSalesRegressor(params, seed=self.budget.seed, num_threads=self.budget.threads,
                                   num_boost_round=self.budget.lgbm_rounds,
                                   early_stopping_rounds=50, log_period=0)
        # Report every 10 rounds: each report is a database write, and per-round writes to a
        # remote PostgreSQL would cost more than the rounds themselves.
        pruning = LightGBMPruningCallback(trial, "rmspe", valid_name="valid", report_interval=10)
        model.fit(self.X_fit, self.y_fit, eval_set=(self.X_valid, self.y_valid), callbacks=[pruning])
        trial.set_user_attr("best_iteration", model.best_iteration_)
        assert model.best_score_ is not None
        return model.best_score_

    @staticmethod
    def to_model_params(params: dict[str, Any]) -> dict[str, Any]:
        return dict(params)


class MLPObjective:
    """The entity-embedding MLP: a few epochs on a subsample, reported (and pruned) per epoch."""

    def __init__(self, build_dir: Path, budget: TrialBudget) -> None:
        self.budget = budget
        fit_df, valid_df = load_frames(build_dir)
        self.fit_df = subsample(fit_df, budget.mlp_rows, budget.seed)
        self.valid_df = valid_df

    @staticmethod
    def n_layers() -> int:
        return len(MLPConfig().layers)

    def space(self, trial: optuna.Trial) -> dict[str, Any]:
        params: dict[str, Any] = {"emb_drop": trial.suggest_float("emb_drop", 0.0, 0.5)}
        # One dropout per hidden layer, named the way MLPConfig.with_params reads them (ps_<i>).
        for i in range(self.n_layers()):
            params[f"ps_{i}"] = trial.suggest_float(f"ps_{i}", 0.0, 0.5)
        params["weight_decay"] = trial.suggest_float("weight_decay", 1e-5, 0.3, log=True)
        params["lr"] = trial.suggest_float("lr", 1e-3, 2e-2, log=True)
        params["batch_size"] = trial.suggest_categorical("batch_size", [512, 1024, 2048, 4096])
        return params

    def __call__(self, trial: optuna.Trial) -> float:
        params = self.space(trial)
        # On small data (tests, synthetic sets) a batch near the row count leaves one or two
        # optimiser steps per epoch, too few for a one-cycle schedule; cap it at a quarter of the
        # rows. The search space itself stays fixed, as TPE needs.
        batch = max(2, min(int(params["batch_size"]), len(self.fit_df) // 4))
        if batch != params["batch_size"]:
            trial.set_user_attr("batch_size_used", batch)
        config = MLPConfig().with_params({
            **params, "batch_size": batch, "epochs": self.budget.mlp_epochs,
            "seed": self.budget.seed, "threads": self.budget.threads, "progress": False,
        })
        scores: list[float] = []

        def report(epoch: int, valid_rmspe: float) -> None:
            scores.append(float(valid_rmspe))
            trial.report(float(valid_rmspe), epoch)
            if not math.isfinite(valid_rmspe):
                raise optuna.TrialPruned(f"validation RMSPE is {valid_rmspe} at epoch {epoch}")
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} (RMSPE {valid_rmspe:.4f})")

        MLPRegressor(config).fit(self.fit_df, self.valid_df, epoch_callback=report)
        if not scores:
            raise RuntimeError("MLPRegressor.fit never called epoch_callback")
        return min(scores)

    @staticmethod
    def to_model_params(params: dict[str, Any]) -> dict[str, Any]:
        # Already MLPConfig.with_params keys (emb_drop, ps_<i>, weight_decay, lr, batch_size).
        return dict(params)


def make_objective(model: str, build_dir: Path, budget: TrialBudget) -> Any:
    if model == "lgbm":
        return LGBMObjective(build_dir, budget)
    if model == "mlp":
        return MLPObjective(build_dir, budget)
    return QuadraticObjective(budget)
