"""What a study leaves behind: the best parameters as JSON, plots and state counts."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import optuna.visualization.matplotlib as ovm
from optuna.importance import FanovaImportanceEvaluator

from core.io import pyplot, save_png, write_text_atomic
from models.tune.storage import redact

log = logging.getLogger("models.tune")


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(deepcopy=False, states=states)


def features_fingerprint(build_dir: Path) -> str | None:
    """The data fingerprint of the build's features (None without a feature build)."""
    meta = build_dir / "features" / "meta.json"
    return json.loads(meta.read_text()).get("data_fingerprint") if meta.exists() else None


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
        "metric": "mean pseudo-test RMSPE over windows" if model != "quadratic" else "quadratic",
        "trial": best.number,
        # The objective's budget: which windows and how many seeds the value averages over.
        "budget": dataclasses.asdict(objective.budget),
        "user_attrs": best.user_attrs,
        # The data the study ran on: a model stage refuses these parameters for other data.
        "dataset": features_fingerprint(build_dir),
        "study": study.study_name,
        "storage": redact(storage_url),
        "n_finished": len(finished_trials(study)),
        "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    path = build_dir / "tuning" / f"{model}.json"
    write_text_atomic(path, json.dumps(record, indent=2, default=str) + "\n")
    return path


def varied_params(study: optuna.Study) -> list[str]:
    """The parameters that took more than one value in the finished trials: those held fixed
    (``--fix``) carry no information and would flatten the importances and parallel coordinates."""
    values: dict[str, set[str]] = {}
    for t in finished_trials(study):
        for name, value in t.params.items():
            values.setdefault(name, set()).add(repr(value))
    return sorted(name for name, seen in values.items() if len(seen) > 1)


def write_plots(study: optuna.Study, out_dir: Path, seed: int) -> list[Path]:
    """Optimisation history, parameter importances, parallel coordinates, intermediate values."""
    plt = pyplot()
    varied = varied_params(study) or None

    plots: dict[str, Callable[[], Any]] = {
        "optimization_history": lambda: ovm.plot_optimization_history(study),
        # Seeded so that the importances (a random forest) are the same on every run.
        "param_importances": lambda: ovm.plot_param_importances(
            study, params=varied, evaluator=FanovaImportanceEvaluator(seed=seed)),
        "parallel_coordinate": lambda: ovm.plot_parallel_coordinate(study, params=varied),
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
