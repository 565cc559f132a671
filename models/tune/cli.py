"""``python -m models.tune``: create or join a study, run trials, write the best parameters."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import optuna

from core.cli import run_cli
from core.errors import DataError
from core.seed import DEFAULT_SEED, seed_everything
from models.tune.objectives import TrialBudget, make_objective, search_space
from models.tune.results import finished_trials, summarize, write_best, write_plots
from models.tune.storage import (
    DEFAULT_GRACE,
    DEFAULT_HEARTBEAT,
    DEFAULT_MAX_RETRY,
    DEFAULT_STARTUP_TRIALS,
    default_storage_url,
    make_pruner,
    make_sampler,
    make_storage,
    redact,
)
from models.tune.tracking import TuneRun

MODELS = ("mlp", "lgbm", "quadratic")
log = logging.getLogger("models.tune")


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
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
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
    p.add_argument("--trial-seeds", type=int, default=1,
                   help="seeds each trial averages over (2 halves the seed noise's variance, at twice the time)")
    p.add_argument("--windows", nargs="+", default=None,
                   help="pseudo-test windows the objective averages over, e.g. w2 (default: all)")
    p.add_argument("--rows", type=int, default=0, help="train rows sampled per window (0: all)")
    p.add_argument("--fix", nargs="+", default=[], metavar="NAME=VALUE",
                   help="hold parameters of the search space at a value, e.g. num_boost_round=600 "
                        "learning_rate=0.05 (what the time budget allows) or epochs=1")
    p.add_argument("--no-plots", action="store_true", help="skip the PNGs")
    p.add_argument("--smoke-step-seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    return p


@dataclass(frozen=True)
class TuneConfig:
    """One ``python -m models.tune`` run, validated; ``trials``/``timeout`` None mean "no limit"."""
    model: str
    build_dir: Path
    trials: int | None
    timeout: float | None
    storage_url: str
    study_name: str
    seed: int = DEFAULT_SEED
    worker: bool = False
    startup_trials: int = DEFAULT_STARTUP_TRIALS
    heartbeat: int = DEFAULT_HEARTBEAT
    grace: int = DEFAULT_GRACE
    max_retry: int = DEFAULT_MAX_RETRY
    plots: bool = True
    budget: TrialBudget = field(default_factory=TrialBudget)
    # Parameters of the search space held at one value in every trial (``--fix``).
    fixed: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TuneConfig:
        """Check the arguments; the Makefile passes TIMEOUT=0 and TRIALS=0 for "no limit"."""
        trials, timeout = args.trials or None, args.timeout or None
        if trials is not None and trials < 1:
            raise DataError(f"--trials must be >= 1 (got {trials})", fix="e.g. --trials 20")
        if trials is None and timeout is None:
            raise DataError("give --trials, --timeout or both; otherwise the study would run forever",
                            fix="e.g. --trials 20 or --timeout 3600")
        if args.grace <= args.heartbeat:
            raise DataError(f"--grace ({args.grace}s) must exceed --heartbeat ({args.heartbeat}s), or "
                            "live trials would be failed as dead", fix="e.g. --heartbeat 30 --grace 120")
        if args.trial_seeds < 1:
            raise DataError(f"--trial-seeds must be >= 1 (got {args.trial_seeds})", fix="e.g. --trial-seeds 2")
        budget = TrialBudget(seed=args.seed, threads=args.threads, seeds=args.trial_seeds,
                             windows=tuple(args.windows) if args.windows else None, rows=args.rows,
                             smoke_step_seconds=args.smoke_step_seconds)
        return cls(model=args.model, build_dir=args.build_dir, trials=trials, timeout=timeout,
                   storage_url=args.storage or default_storage_url(args.build_dir),
                   study_name=args.study or f"rossmann-{args.model}", seed=args.seed, worker=args.worker,
                   startup_trials=args.startup_trials, heartbeat=args.heartbeat, grace=args.grace,
                   max_retry=args.max_retry, plots=not args.no_plots, budget=budget,
                   fixed=parse_fixed(args.fix))


def parse_fixed(items: list[str]) -> dict[str, Any]:
    """``["num_boost_round=600", "learning_rate=0.05"]`` -> ``{"num_boost_round": 600, ...}``;
    a value is read as JSON (numbers, true/false), else kept as text."""
    fixed: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name or not text:
            raise DataError(f"--fix takes NAME=VALUE, got {item!r}", fix="e.g. --fix num_boost_round=600")
        try:
            fixed[name] = json.loads(text)
        except json.JSONDecodeError:
            fixed[name] = text
    return fixed


def within(dist: optuna.distributions.BaseDistribution, value: Any) -> bool:
    """Whether a study with ``dist`` could have sampled ``value``: one of its choices, or a number
    in its range on its step (an integer for an integer parameter). From the distributions' public
    attributes."""
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return value in dist.choices
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(dist, optuna.distributions.IntDistribution):
        return isinstance(value, int) and dist.low <= value <= dist.high and (value - dist.low) % dist.step == 0
    if isinstance(dist, optuna.distributions.FloatDistribution):
        if not dist.low <= value <= dist.high:
            return False
        if dist.step is None:
            return True
        k = (value - dist.low) / dist.step
        return abs(k - round(k)) < 1e-8
    raise TypeError(f"unexpected distribution {dist!r}")


def fixing_sampler(sampler: optuna.samplers.BaseSampler, fixed: dict[str, Any],
                   space: dict[str, optuna.distributions.BaseDistribution], model: str
                   ) -> optuna.samplers.BaseSampler:
    """``sampler`` with ``fixed`` held at their values; a name outside ``space`` or a value outside
    its range raises (Optuna itself would only warn, and a typo would tune what it meant to fix)."""
    if not fixed:
        return sampler
    for name, value in fixed.items():
        if name not in space:
            raise DataError(f"--fix {name}={value}: the {model} study has no parameter {name!r}",
                            fix=f"fix one of {sorted(space)}")
        dist = space[name]
        if not within(dist, value):
            raise DataError(f"--fix {name}={value}: outside the study's range {dist}",
                            fix="give a value inside the range (an integer for an integer parameter)")
    with warnings.catch_warnings():
        # PartialFixedSampler is marked experimental since optuna 2.4; its behaviour is what we need.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.PartialFixedSampler(dict(fixed), sampler)


def run_study(config: TuneConfig) -> dict[str, Any]:
    """Create (or, as a worker, join) the study, run the trials, write the best parameters and plots."""
    build_dir, storage_url, study_name = config.build_dir, config.storage_url, config.study_name
    # --fix is checked before the storage is opened or any data loaded: a typo costs nothing.
    sampler = fixing_sampler(make_sampler(config.seed, config.startup_trials), config.fixed,
                             search_space(config.model), config.model)
    pruner = make_pruner(config.model)
    if storage_url.startswith("sqlite:///"):
        Path(storage_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    storage = make_storage(storage_url, heartbeat_interval=config.heartbeat, grace_period=config.grace,
                           max_retry=config.max_retry)
    if config.worker:
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
    if owner not in (None, config.model):
        raise DataError(f"study {study_name!r} tunes {owner!r}, not {config.model!r}",
                        fix=f"use --model {owner}, or another --study name")
    if owner is None and not config.worker:
        study.set_user_attr("model", config.model)
    before = len(finished_trials(study))
    log.info("study %s in %s: %d finished trials so far; %s %s trials%s", study_name,
             redact(storage_url), before, "worker running" if config.worker else "running",
             config.trials if config.trials is not None else "unlimited",
             f" for at most {config.timeout:.0f}s" if config.timeout else "")

    objective = make_objective(config.model, build_dir, config.budget)
    if not config.worker and not study.trials and hasattr(objective, "defaults"):
        # The untuned settings go first: the study's best is then never worse than no study, and
        # the table of trials says what tuning bought over them.
        study.enqueue_trial({**objective.defaults(), **config.fixed})
    previous = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    tracked = TuneRun(config)
    t0 = time.perf_counter()
    try:
        study.optimize(objective, n_trials=config.trials, timeout=config.timeout, callbacks=tracked.callbacks())
    except BaseException as err:
        tracked.finish(None, [], status="KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED")
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    seconds = time.perf_counter() - t0

    best_path = write_best(study, config.model, build_dir, storage_url, objective)
    plots = write_plots(study, build_dir / "tuning", config.seed) if config.plots else []
    counts = summarize(study)
    summary = {"study": study_name, "storage": redact(storage_url), "states": counts,
               "finished": len(finished_trials(study)), "finished_before": before,
               "seconds": round(seconds, 1),
               "best_value": study.best_value if best_path else None,
               "best_params": study.best_params if best_path else None,
               "best_json": str(best_path) if best_path else None,
               "plots": [str(p) for p in plots]}
    print(json.dumps(summary, indent=2, default=str))
    tracked.finish(summary, [best_path, *plots] if best_path else plots)
    return summary


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    optuna.logging.set_verbosity(optuna.logging.INFO)
    seed_everything(args.seed)
    run_study(TuneConfig.from_args(args))
    return 0


def run(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m models.tune``: ``main`` with user errors turned into exit 2."""
    run_cli(main, argv)
