"""Where a study lives and how trials are drawn: RDB storage with heartbeats, a per-trial-seeded
TPE sampler, the pruner."""
from __future__ import annotations

import warnings
import zlib
from pathlib import Path
from typing import Any

import optuna
from sqlalchemy.engine import make_url

from core.errors import DataError

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

def default_storage_url(build_dir: Path) -> str:
    """``sqlite:///B/tuning/optuna.db`` (absolute), where a study lives unless ``--storage`` says otherwise."""
    path = (build_dir / "tuning" / "optuna.db").resolve()
    return f"sqlite:///{path}"


def redact(url: str) -> str:
    """The storage URL without its password, for logs and JSON files."""
    try:
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
    if model in ("lgbm", "mlp"):
        # Steps are window fits (the running mean of their RMSPE), in the same order in every
        # trial: a trial whose first window is worse than the median stops there.
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    # Steps are iterations (quadratic); never prune on the first step.
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
