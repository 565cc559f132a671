"""`make tune` as a tracked run: the study session is one MLflow run, each trial a nested run.

Trials are logged by optuna-integration's ``MLflowCallback`` (params, value, state, the per-window
scores from the trial's user attributes) under the session's run. The callback is wrapped so that
a tracking failure warns once and the study goes on; workers on other machines log their own
session runs to the same store when ``MLFLOW_TRACKING_URI`` points them at one server.
"""
from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

import optuna

from core.tracking import PARENT_TAG, Tracker, announce, flatten, git_state
from models.tune.storage import redact
from submissions.track import EXPERIMENT, read_json


class SafeCallback:
    """An Optuna callback whose failure warns once through the tracker and is never raised."""

    def __init__(self, tracker: Tracker, inner: Any) -> None:
        self.tracker = tracker
        self.inner = inner

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if not self.tracker.on:
            return
        with self.tracker.guard(f"logging trial {trial.number}"):
            self.inner(study, trial)


class TuneRun:
    """The tracked run of one ``python -m models.tune`` process (a no-op when tracking is off)."""

    def __init__(self, config: Any, tracker: Tracker | None = None) -> None:
        self.config = config
        self.tracker = tracker or Tracker(EXPERIMENT)
        self.run_id: str | None = None
        with self.tracker.guard("starting the study's run"):
            if self.tracker.on:
                self._start()

    def _start(self) -> None:
        c = self.config
        meta = read_json(c.build_dir / "features" / "meta.json")
        self.run_id = self.tracker.start(f"tune {c.study_name}", {
            "command": "tune", "study": c.study_name, "model": c.model,
            "mlflow.source.name": "make tune-worker" if c.worker else "make tune",
            "synthetic": str(meta.get("source") == "synthetic").lower()})
        budget = dataclasses.asdict(c.budget)
        params = {**git_state(), "model": c.model, "study": c.study_name, "storage": redact(c.storage_url),
                  "SEED": c.seed, "worker": c.worker, "trials": c.trials, "timeout": c.timeout,
                  "startup_trials": c.startup_trials, "synthetic": str(meta.get("source") == "synthetic").lower(),
                  "data_fingerprint": meta.get("data_fingerprint"), "features.code_hash": meta.get("code_hash"),
                  **{f"budget.{k}": v for k, v in flatten(budget).items() if k != "seed"}}
        self.tracker.log(self.run_id, params=params)

    def callbacks(self) -> list[Any]:
        """``[MLflowCallback]`` logging each trial under this run, or [] when nothing is tracked."""
        if self.run_id is None or not self.tracker.on:
            return []
        with self.tracker.guard("setting up the Optuna callback"):
            from optuna_integration import MLflowCallback  # noqa: PLC0415  (imports mlflow: only when tracking)

            with warnings.catch_warnings():
                # Deprecated in optuna-integration 4.9 for removal in 6.0; pinned at 5.0 here.
                warnings.simplefilter("ignore", FutureWarning)
                inner = MLflowCallback(
                    tracking_uri=self.tracker.uri, create_experiment=False,
                    metric_name="value" if self.config.model == "quadratic" else "rmspe",
                    mlflow_kwargs={"experiment_id": self.tracker.experiment_id,
                                   "tags": {PARENT_TAG: self.run_id, "stage": "trial"}})
            return [SafeCallback(self.tracker, inner)]
        return []

    def finish(self, summary: dict[str, Any] | None, files: list[Path], status: str = "FINISHED") -> None:
        """The session's outcome (best value, trial counts, seconds) and its files; closes the run."""
        if self.run_id is None:
            return
        if summary is not None:
            metrics = {"best_value": summary.get("best_value"), "finished": summary.get("finished"),
                       "finished_before": summary.get("finished_before"), "seconds": summary.get("seconds"),
                       **{f"trials.{k}": v for k, v in (summary.get("states") or {}).items()}}
            tags = {"best_params": json.dumps(summary.get("best_params"), default=str)}
            self.tracker.log(self.run_id, metrics=metrics, tags=tags)
            self.tracker.upload(self.run_id, [(f, "tuning") for f in files])
        self.tracker.finish(self.run_id, status)
        announce(self.run_id if self.tracker.on else None, self.tracker, f"study {self.config.study_name}")

