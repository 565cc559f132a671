"""Optuna studies for the MLP and LightGBM: resumable, prunable, and shareable between machines.

    python -m models.tune --model mlp --trials 20 --build-dir build            # start or resume
    python -m models.tune --model lgbm --storage postgresql+psycopg2://u:p@db/optuna --trials 20
    python -m models.tune --model lgbm --storage postgresql+psycopg2://... --worker --trials 10

The study lives in an RDB storage (default ``sqlite:///B/tuning/optuna.db``, name
``rossmann-<model>``), so rerunning continues it. ``--worker`` joins an existing study (it must
have been created by a run without ``--worker``), which is how several processes or machines
share one PostgreSQL-backed study. Every run writes the best parameters so far to
``B/tuning/<model>.json`` (read by the training CLIs) and plots to ``B/tuning/*.png``.

``--model quadratic`` is a data-free smoke test of the storage and worker plumbing: run it
against a new PostgreSQL URL from every machine before spending hours on real trials.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import signal
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import optuna

from core.errors import DataError
from core.io import pyplot, save_png, write_text_atomic

MODELS = ("mlp", "lgbm", "quadratic")
# Heartbeat: a running trial stamps the storage every HEARTBEAT seconds; one whose stamp is older
# than GRACE is taken for dead (its worker was killed) and failed by the next worker that starts
# a trial, then re-queued once by RetryFailedTrialCallback.
DEFAULT_HEARTBEAT = 30
DEFAULT_GRACE = 120
DEFAULT_MAX_RETRY = 1
# Random trials before TPE starts modelling. Counted over the study's finished trials (not this
# process's), so a resumed or second worker does not start the random phase again.
DEFAULT_STARTUP_TRIALS = 5
# MLP trials are short on purpose: a few epochs on a subsample rank settings well enough.
# Three epochs: the pruner skips epoch 0 (the one-cycle warm-up is noisy), so a poor trial can
# still be stopped after epoch 1, saving the last third.
DEFAULT_MLP_TRIAL_EPOCHS = 3
DEFAULT_MLP_TRIAL_ROWS = 200_000
DEFAULT_LGBM_TRIAL_ROUNDS = 1500
DEFAULT_LGBM_TRIAL_ROWS = 0  # 0: all training rows

log = logging.getLogger("models.tune")


# --------------------------------------------------------------------------------------------
# Storage and sampler
# --------------------------------------------------------------------------------------------

def default_storage_url(build_dir: Path) -> str:
    path = (build_dir / "tuning" / "optuna.db").resolve()
    return f"sqlite:///{path}"


def redact(url: str) -> str:
    """The storage URL without its password, for logs and JSON files."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is reported by make_storage anyway
        return url.split("@")[-1] if "@" in url else url


def make_storage(url: str, *, heartbeat_interval: int = DEFAULT_HEARTBEAT,
                 grace_period: int = DEFAULT_GRACE,
                 max_retry: int = DEFAULT_MAX_RETRY) -> optuna.storages.RDBStorage:
    """RDB storage with heartbeat + retry, so that a killed worker's trial does not stay RUNNING."""
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # Several local processes may share the file; wait for a lock instead of failing at once.
        engine_kwargs["connect_args"] = {"timeout": 60}
    else:
        # A database across the network may drop idle connections between long trials.
        engine_kwargs["pool_pre_ping"] = True
    # optuna 4.9 renamed `failed_trial_callback` / `RetryFailedTrialCallback` to the
    # heartbeat-stale names (the old ones warn and go away in 6.0).
    retry_cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback",
                        optuna.storages.RetryFailedTrialCallback)
    try:
        with warnings.catch_warnings():
            # Heartbeats are marked experimental since optuna 2.9; the warning is noise to users.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url, engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                heartbeat_stale_trial_callback=retry_cls(max_retry=max_retry),
            )
    except Exception as err:  # noqa: BLE001 - driver errors vary; the user needs the URL and cause
        raise DataError(f"cannot open Optuna storage {redact(url)}: {type(err).__name__}: {err}",
                        fix="check the URL (e.g. postgresql+psycopg2://user:password@host:5432/db), "
                            "that the database exists and that this machine can reach it") from err


class TrialSeededTPESampler(optuna.samplers.TPESampler):
    """TPE whose random draws are seeded per trial number.

    A plain ``TPESampler(seed=s)`` restarts its random stream in every process: a resumed study
    would redraw the very parameters of its first start-up trials, and two workers started with
    the same seed would evaluate identical points side by side. Reseeding from ``(seed,
    trial.number)`` before each trial keeps runs reproducible (3 + 2 trials draw exactly what one
    run of 5 would) while every trial of the study, whichever worker runs it, gets fresh draws.
    """

    def __init__(self, *, seed: int, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self._base_seed = seed

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        trial_seed = trial_seed_for(self._base_seed, trial.number)
        # `_rng` (TPE's own draws) and `_random_sampler` (start-up phase) are TPESampler internals
        # that have been stable since optuna 3; if they ever move, fall back to a fresh stream.
        try:
            self._rng.rng.seed(trial_seed)
            self._random_sampler._rng.rng.seed(trial_seed)
        except AttributeError:  # pragma: no cover - depends on optuna internals
            self.reseed_rng()
        super().before_trial(study, trial)


def trial_seed_for(seed: int, number: int) -> int:
    return zlib.crc32(f"{seed}:{number}".encode()) & 0x7FFFFFFF


def make_sampler(seed: int, startup_trials: int = DEFAULT_STARTUP_TRIALS) -> optuna.samplers.BaseSampler:
    # multivariate: models the joint density (dropouts and weight decay interact);
    # constant_liar: running trials of other workers count as pessimistic points, so parallel
    # workers do not all pile onto the same promising region.
    return TrialSeededTPESampler(seed=seed, n_startup_trials=startup_trials, multivariate=True,
                                 constant_liar=True)


def make_pruner(model: str) -> optuna.pruners.BasePruner:
    if model == "lgbm":
        # Steps are boosting rounds: let every trial get past the noisy first rounds.
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=200)
    # Steps are epochs (MLP) or iterations (quadratic); never prune on the first step.
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)


# --------------------------------------------------------------------------------------------
# Objectives
# --------------------------------------------------------------------------------------------

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
    from models.common import load_feature_tables, training_frames

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
        from models.lgbm import feature_columns, lgb_frame, make_preprocessor

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
        from optuna_integration import LightGBMPruningCallback

        from models.lgbm import DEFAULT_PARAMS, LGBMSalesRegressor

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
        from models.mlp import MLPConfig

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
        from models.mlp import MLPConfig, MLPRegressor

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


# --------------------------------------------------------------------------------------------
# Results: best params JSON and plots
# --------------------------------------------------------------------------------------------

def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(deepcopy=False, states=states)


def write_best(study: optuna.Study, model: str, build_dir: Path, storage_url: str,
               objective: Any) -> Path | None:
    """``B/tuning/<model>.json``: the best trial's parameters in the model's own names."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        log.warning("no completed trial yet: %s not written", build_dir / "tuning" / f"{model}.json")
        return None
    best = study.best_trial
    record = {
        "model": model,
        "params": objective.to_model_params(best.params),
        "value": best.value,
        "metric": "validation RMSPE" if model != "quadratic" else "quadratic",
        "trial": best.number,
        "user_attrs": best.user_attrs,
        "study": study.study_name,
        "storage": redact(storage_url),
        "n_finished": len(finished_trials(study)),
        "written": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    path = build_dir / "tuning" / f"{model}.json"
    write_text_atomic(path, json.dumps(record, indent=2, default=str) + "\n")
    return path


def write_plots(study: optuna.Study, out_dir: Path, seed: int) -> list[Path]:
    """Optimisation history, parameter importances, parallel coordinates, intermediate values."""
    plt = pyplot()
    import optuna.visualization.matplotlib as ovm

    from optuna.importance import FanovaImportanceEvaluator

    plots: dict[str, Callable[[], Any]] = {
        "optimization_history": lambda: ovm.plot_optimization_history(study),
        # Seeded so that the importances (a random forest) are the same on every run.
        "param_importances": lambda: ovm.plot_param_importances(
            study, evaluator=FanovaImportanceEvaluator(seed=seed)),
        "parallel_coordinate": lambda: ovm.plot_parallel_coordinate(study),
        "intermediate_values": lambda: ovm.plot_intermediate_values(study),
    }
    written: list[Path] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, make in plots.items():
        path = out_dir / f"{name}.png"
        try:
            with warnings.catch_warnings():
                # The matplotlib backend is marked experimental; that is not news to the user.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                ax = make()
            fig = ax.figure if hasattr(ax, "figure") else np.ravel(ax)[0].figure
            fig.set_size_inches(9, 5.5)
            fig.tight_layout()
            # Atomic: two workers sharing a build dir may plot at the same moment.
            save_png(fig, path, dpi=100)
            written.append(path)
        except Exception as err:  # noqa: BLE001 - e.g. importances need 2+ completed trials
            log.info("plot %s skipped: %s", name, err)
            plt.close("all")
    return written


def summarize(study: optuna.Study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

def _sigterm_to_interrupt(signum: int, frame: FrameType | None) -> None:
    # `kill` (or a scheduler stopping the job) then fails the running trial cleanly instead of
    # leaving it for the heartbeat to find minutes later.
    raise KeyboardInterrupt(f"signal {signum}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m models.tune",
                                description="Optuna study for the MLP or LightGBM (resumable, multi-worker).",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", choices=MODELS, required=True,
                   help="quadratic: data-free smoke test of storage/workers")
    p.add_argument("--trials", type=int, default=None,
                   help="trials to run in this process (0 or unset: until --timeout)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds after which no new trial is started (0 or unset: no limit)")
    p.add_argument("--storage", default=None,
                   help="RDB URL; default sqlite:///BUILD_DIR/tuning/optuna.db")
    p.add_argument("--study", default=None, help="study name; default rossmann-<model>")
    p.add_argument("--build-dir", type=Path, default=Path("build"))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--worker", action="store_true",
                   help="join an existing study (load_study) instead of creating it")
    p.add_argument("--threads", type=int, default=2, help="threads per trial")
    p.add_argument("--startup-trials", type=int, default=DEFAULT_STARTUP_TRIALS,
                   help="random trials (over the whole study) before TPE")
    p.add_argument("--heartbeat", type=int, default=DEFAULT_HEARTBEAT,
                   help="seconds between a running trial's heartbeats")
    p.add_argument("--grace", type=int, default=DEFAULT_GRACE,
                   help="seconds without heartbeat after which a trial counts as dead")
    p.add_argument("--max-retry", type=int, default=DEFAULT_MAX_RETRY,
                   help="times a dead worker's trial is re-queued")
    p.add_argument("--mlp-epochs", type=int, default=DEFAULT_MLP_TRIAL_EPOCHS)
    p.add_argument("--mlp-rows", type=int, default=DEFAULT_MLP_TRIAL_ROWS,
                   help="training rows sampled per MLP trial (0: all)")
    p.add_argument("--lgbm-rounds", type=int, default=DEFAULT_LGBM_TRIAL_ROUNDS,
                   help="max boosting rounds per LightGBM trial (early stopping usually ends sooner)")
    p.add_argument("--lgbm-rows", type=int, default=DEFAULT_LGBM_TRIAL_ROWS,
                   help="training rows sampled per LightGBM trial (0: all)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNGs")
    p.add_argument("--smoke-step-seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    return p


def run(args: argparse.Namespace) -> dict[str, Any]:
    build_dir: Path = args.build_dir
    # The Makefile passes TIMEOUT=0 and TRIALS=0 for "no limit".
    args.timeout = args.timeout or None
    args.trials = args.trials or None
    if args.trials is not None and args.trials < 1:
        raise DataError(f"--trials must be >= 1 (got {args.trials})", fix="e.g. --trials 20")
    if args.trials is None and args.timeout is None:
        raise DataError("give --trials, --timeout or both; otherwise the study would run forever",
                        fix="e.g. --trials 20 or --timeout 3600")
    if args.grace <= args.heartbeat:
        raise DataError(f"--grace ({args.grace}s) must exceed --heartbeat ({args.heartbeat}s), or "
                        "live trials would be failed as dead", fix="e.g. --heartbeat 30 --grace 120")
    storage_url = args.storage or default_storage_url(build_dir)
    if storage_url.startswith("sqlite:///"):
        Path(storage_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    study_name = args.study or f"rossmann-{args.model}"
    storage = make_storage(storage_url, heartbeat_interval=args.heartbeat, grace_period=args.grace,
                           max_retry=args.max_retry)
    sampler = make_sampler(args.seed, args.startup_trials)
    pruner = make_pruner(args.model)
    if args.worker:
        try:
            study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler,
                                      pruner=pruner)
        except KeyError as err:
            raise DataError(f"no study {study_name!r} in {redact(storage_url)} to join",
                            fix="create it first with a run without --worker (make tune ...), "
                                "or check --study/--storage") from err
    else:
        study = optuna.create_study(storage=storage, sampler=sampler, pruner=pruner,
                                    study_name=study_name, direction="minimize",
                                    load_if_exists=True)
    if study.direction != optuna.study.StudyDirection.MINIMIZE:
        raise DataError(f"study {study_name!r} maximizes; RMSPE must be minimized",
                        fix="use another --study name")
    owner = study.user_attrs.get("model")
    if owner not in (None, args.model):
        raise DataError(f"study {study_name!r} tunes {owner!r}, not {args.model!r}",
                        fix=f"use --model {owner}, or another --study name")
    if owner is None and not args.worker:
        study.set_user_attr("model", args.model)
    before = len(finished_trials(study))
    log.info("study %s in %s: %d finished trials so far; %s %s trials%s", study_name,
             redact(storage_url), before, "worker running" if args.worker else "running",
             args.trials if args.trials is not None else "unlimited",
             f" for at most {args.timeout:.0f}s" if args.timeout else "")

    budget = TrialBudget(seed=args.seed, threads=args.threads, mlp_epochs=args.mlp_epochs,
                         mlp_rows=args.mlp_rows, lgbm_rounds=args.lgbm_rounds,
                         lgbm_rows=args.lgbm_rows, smoke_step_seconds=args.smoke_step_seconds)
    objective = make_objective(args.model, build_dir, budget)
    previous = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    t0 = time.perf_counter()
    try:
        study.optimize(objective, n_trials=args.trials, timeout=args.timeout)
    finally:
        signal.signal(signal.SIGTERM, previous)
    seconds = time.perf_counter() - t0

    best_path = write_best(study, args.model, build_dir, storage_url, objective)
    plots = [] if args.no_plots else write_plots(study, build_dir / "tuning", args.seed)
    counts = summarize(study)
    summary = {"study": study_name, "storage": redact(storage_url), "states": counts,
               "finished": len(finished_trials(study)), "finished_before": before,
               "seconds": round(seconds, 1),
               "best_value": study.best_value if best_path else None,
               "best_params": study.best_params if best_path else None,
               "best_json": str(best_path) if best_path else None,
               "plots": [str(p) for p in plots]}
    print(json.dumps(summary, indent=2, default=str))
    return summary


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    optuna.logging.set_verbosity(optuna.logging.INFO)
    from core.seed import seed_everything

    seed_everything(args.seed)
    run(args)
    return 0


if __name__ == "__main__":
    from core.cli import run_cli

    run_cli(main)
