"""One Optuna objective per model: the model's own recipe on the pseudo-test windows.

A trial's value is what ``make submit`` reports for the model, the mean pseudo-test RMSPE over
the windows of the feature build (``--windows`` picks some of them), averaged over
``TrialBudget.seeds`` seeds so that a trial does not win on a lucky seed. Each window's score is
reported as it comes (the running mean), so the pruner can stop a poor trial after its first
window. The objectives use only the model packages' public recipes.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from core.seed import DEFAULT_SEED
from models.common import FitPredict, WindowTables, load_windows, score_windows
from models.lgbm import DEFAULT_NUM_BOOST_ROUND, DEFAULT_PARAMS, LGBMRecipe
from models.mlp import MLPConfig
from models.mlp.recipe import MLPRecipe


@dataclass(frozen=True)
class TrialBudget:
    """How big one trial is."""
    seed: int = DEFAULT_SEED
    threads: int = 2
    # Seeds per trial (seed, seed + 1, ...): the seed-to-seed spread of one model is about as
    # large as the differences between good settings (docs/RESULTS.md), so one seed mis-ranks.
    seeds: int = 1
    # Windows the objective averages over (their names, e.g. ("w2",)); None: every window. Leave
    # one out to check the best trial on a window the study never saw.
    windows: tuple[str, ...] | None = None
    # Train rows sampled per window (0: all): quicker, rougher studies on a small machine.
    rows: int = 0
    smoke_step_seconds: float = 0.0


def subsample_window(tables: WindowTables, rows: int, seed: int) -> WindowTables:
    """A seeded random subset of a window's train rows (all when ``rows`` is 0 or larger); the
    window's test rows and labels stay whole, so trials are scored on the full window."""
    if not rows or rows >= len(tables.train):
        return tables
    return replace(tables, train=tables.train.sample(n=rows, random_state=seed).sort_index())


class QuadraticObjective:
    """Data-free objective: (x - 2)^2 + (y + 1)^2 approached over 5 reported steps."""

    def __init__(self, _build_dir: Path, budget: TrialBudget) -> None:
        self.budget = budget

    @staticmethod
    def space(trial: optuna.Trial) -> dict[str, Any]:
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


class WindowObjective:
    """The mean pseudo-test RMSPE of a recipe built from the trial's parameters."""

    name = ""

    def __init__(self, build_dir: Path, budget: TrialBudget) -> None:
        self.budget = budget
        # Read once for every trial of this process: only the model changes between trials.
        self.tables = [subsample_window(t, budget.rows, budget.seed) for t in load_windows(build_dir, budget.windows)]

    @staticmethod
    def space(trial: optuna.Trial) -> dict[str, Any]:
        raise NotImplementedError

    def defaults(self) -> dict[str, Any]:
        """The model's default settings in the search space's names: a new study tries them
        first, so its best trial is never worse than what `make submit` runs without tuning."""
        raise NotImplementedError

    def recipe(self, params: dict[str, Any], seed: int) -> FitPredict:
        raise NotImplementedError

    def __call__(self, trial: optuna.Trial) -> float:
        params = self.space(trial)
        scores: list[float] = []

        def report(_window: int, rmspe: float) -> None:
            scores.append(float(rmspe))
            running = float(np.mean(scores))
            trial.report(running, len(scores) - 1)
            if not math.isfinite(rmspe):
                raise optuna.TrialPruned(f"window RMSPE is {rmspe}")
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after {len(scores)} window fit(s) (mean RMSPE {running:.4f})")

        for k in range(self.budget.seeds):
            score_windows(self.tables, self.name, self.recipe(params, self.budget.seed + k), log=_quiet,
                          on_window=report)
        n = len(self.tables)
        trial.set_user_attr("window_rmspe", {t.window.name: float(np.mean(scores[i::n]))
                                             for i, t in enumerate(self.tables)})
        return float(np.mean(scores))

    @staticmethod
    def to_model_params(params: dict[str, Any]) -> dict[str, Any]:
        return dict(params)


class LGBMObjective(WindowObjective):
    """``LGBMRecipe`` with the trial's parameters, its round count included."""

    name = "lgbm"

    @staticmethod
    def space(trial: optuna.Trial) -> dict[str, Any]:
        return {
            "num_leaves": trial.suggest_int("num_leaves", 31, 511, log=True),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 5, 300, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.3, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
            "bagging_freq": trial.suggest_int("bagging_freq", 0, 5),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
            "num_boost_round": trial.suggest_int("num_boost_round", 200, 1500, step=100),
        }

    def defaults(self) -> dict[str, Any]:
        keys = ("num_leaves", "min_data_in_leaf", "feature_fraction", "bagging_fraction", "bagging_freq",
                "lambda_l2", "learning_rate")
        return {**{k: DEFAULT_PARAMS[k] for k in keys}, "num_boost_round": DEFAULT_NUM_BOOST_ROUND}

    def recipe(self, params: dict[str, Any], seed: int) -> FitPredict:
        lgb_params = {**DEFAULT_PARAMS, **{k: v for k, v in params.items() if k != "num_boost_round"}}
        return LGBMRecipe(lgb_params, seed=seed, num_boost_round=int(params["num_boost_round"]),
                          num_threads=self.budget.threads)


class MLPObjective(WindowObjective):
    """``MLPRecipe`` (one member) with the trial's dropouts, weight decay, LR, epochs and batch."""

    name = "mlp"

    @staticmethod
    def space(trial: optuna.Trial) -> dict[str, Any]:
        params: dict[str, Any] = {"emb_drop": trial.suggest_float("emb_drop", 0.0, 0.5)}
        # One dropout per hidden layer, named the way MLPConfig.with_params reads them (ps_<i>).
        for i in range(len(MLPConfig().layers)):
            params[f"ps_{i}"] = trial.suggest_float(f"ps_{i}", 0.0, 0.5)
        params["weight_decay"] = trial.suggest_float("weight_decay", 1e-5, 0.3, log=True)
        params["lr"] = trial.suggest_float("lr", 1e-3, 2e-2, log=True)
        params["batch_size"] = trial.suggest_categorical("batch_size", [512, 1024, 2048, 4096])
        params["epochs"] = trial.suggest_int("epochs", 1, 4)
        return params

    def defaults(self) -> dict[str, Any]:
        config = MLPConfig()
        return {"emb_drop": config.emb_drop, **{f"ps_{i}": p for i, p in enumerate(config.ps)},
                "weight_decay": config.weight_decay, "lr": config.lr, "batch_size": config.batch_size,
                "epochs": config.epochs}

    def recipe(self, params: dict[str, Any], seed: int) -> FitPredict:
        return MLPRecipe(MLPConfig().with_params({**params, "seed": seed, "members": 1,
                                                  "threads": self.budget.threads, "progress": False}))


class _SpaceRecorder:
    """Stands in for a trial to read an objective's search space: each suggestion is recorded
    as its distribution and answered with its lowest value."""

    def __init__(self) -> None:
        self.space: dict[str, optuna.distributions.BaseDistribution] = {}

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        self.space[name] = optuna.distributions.FloatDistribution(low, high, step=step, log=log)
        return low

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        self.space[name] = optuna.distributions.IntDistribution(low, high, step=step, log=log)
        return low

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        self.space[name] = optuna.distributions.CategoricalDistribution(choices)
        return choices[0]


def search_space(model: str) -> dict[str, optuna.distributions.BaseDistribution]:
    """The distributions of ``model``'s search space, by parameter name, read without its data."""
    recorder = _SpaceRecorder()
    OBJECTIVES[model].space(recorder)
    return recorder.space


def _quiet(_message: str) -> None:
    """Per-window lines would bury Optuna's own log; the trial's user attributes keep the scores."""


OBJECTIVES: dict[str, type[QuadraticObjective] | type[WindowObjective]] = {
    "lgbm": LGBMObjective,
    "mlp": MLPObjective,
    "quadratic": QuadraticObjective,
}


def make_objective(model: str, build_dir: Path, budget: TrialBudget) -> Any:
    return OBJECTIVES[model](build_dir, budget)
