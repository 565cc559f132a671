"""Run tracking with MLflow: every pipeline command logs one run, never at the pipeline's expense.

The store is ``$MLFLOW_TRACKING_URI`` when set (a team's tracking server, so every machine and
every Optuna worker logs to one place), else ``sqlite:///<repo>/runs/mlflow.db`` with artifacts
under ``<repo>/runs/artifacts``: outside ``BUILD_DIR``, so runs outlive ``make clean``.
``TRACKING=0`` turns tracking off.

Tracking never breaks the command it records: the first failure (an unreachable server, a locked
database, a bug here) prints one warning, and every later call of the same :class:`Tracker` does
nothing. mlflow is imported inside :class:`Tracker` only: a command that tracks nothing never
pays for importing it.
"""
from __future__ import annotations

import logging
import math
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import DataError

REPO = Path(__file__).resolve().parents[1]
RUNS_DIR = REPO / "runs"
URI_ENV = "MLFLOW_TRACKING_URI"
SWITCH_ENV = "TRACKING"
# A key MLflow accepts: letters, digits and _ - . / and space.
_BAD_KEY_CHARS = re.compile(r"[^\w\-./ ]")
# Settings of MLflow's REST client when the user has not chosen them: its defaults retry an
# unreachable server for minutes, and tracking must not hold up a pipeline for that; a server's
# link to each nested run would bury the command's output (`announce` gives the top run's).
_CLIENT_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
PARENT_TAG = "mlflow.parentRunId"


def enabled(env: Mapping[str, str] | None = None) -> bool:
    """False when ``TRACKING`` is 0, off, false or no."""
    value = (os.environ if env is None else env).get(SWITCH_ENV, "1")
    return value.strip().lower() not in ("0", "off", "false", "no")


def tracking_uri(env: Mapping[str, str] | None = None) -> str:
    """``$MLFLOW_TRACKING_URI``, else the SQLite store in ``<repo>/runs``."""
    return (os.environ if env is None else env).get(URI_ENV) or f"sqlite:///{RUNS_DIR / 'mlflow.db'}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for any other store)."""
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def git_state(repo: Path = REPO) -> dict[str, str]:
    """``git_commit`` (full hash, or "unknown" outside a git checkout) and ``git_dirty``
    ("true" when tracked files differ from the commit or untracked files exist)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                              timeout=30).stdout
    try:
        commit = git("rev-parse", "HEAD").strip()
        dirty = bool(git("status", "--porcelain").strip())
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit, "git_dirty": str(dirty).lower()}


def git_diff(repo: Path = REPO) -> str:
    """``git diff HEAD`` (what a dirty tree changes), "" when it cannot be read."""
    try:
        return subprocess.run(["git", "-C", str(repo), "diff", "HEAD"], capture_output=True, text=True,
                              check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def flatten(obj: Any, prefix: str = "") -> dict[str, str]:
    """Nested dicts as ``a.b.c`` keys; lists and scalars as their text (params are strings)."""
    out: dict[str, str] = {}
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif prefix:
        out[prefix] = obj if isinstance(obj, str) else str(obj)
    return out


def clean_key(key: str) -> str:
    return _BAD_KEY_CHARS.sub("_", key)[:250]


@dataclass
class RunRecord:
    """Everything one run logs; ``children`` become nested runs (one per model stage, window, ...)."""
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    # Metric histories: key -> values at steps 0, 1, ... (epochs, windows).
    series: dict[str, list[float]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    # (file, folder inside the run's artifacts or None); missing files are skipped.
    artifacts: list[tuple[Path, str | None]] = field(default_factory=list)
    # (text, file name): small generated artifacts such as a git diff.
    texts: list[tuple[str, str]] = field(default_factory=list)
    children: list[RunRecord] = field(default_factory=list)

    def add_files(self, paths: Iterable[Path], folder: str | None = None) -> None:
        self.artifacts += [(p, folder) for p in paths]


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class Tracker:
    """An MLflow client for one command and one experiment, safe to call in any state.

    Every method returns normally: when tracking is off, or after the first failure (which it
    reports once on stderr), it does nothing and returns None.
    """

    def __init__(self, experiment: str, uri: str | None = None, env: Mapping[str, str] | None = None,
                 strict: bool = False) -> None:
        self.experiment = experiment
        self.uri = uri or tracking_uri(env)
        # strict: for commands whose whole job is the store (listing runs), a failure is an error.
        self.strict = strict
        self.on = strict or enabled(env)
        self.warned = False
        self._client: Any = None
        self._experiment_id: str | None = None

    # -- failure handling -------------------------------------------------------------------------
    def fail(self, what: str, err: BaseException) -> None:
        """Warn once (what failed, where, and how to silence it), then stop tracking."""
        if self.strict:
            raise DataError(f"cannot use the run store {redact(self.uri)} ({what}: {type(err).__name__}: {err})",
                            fix=f"check {URI_ENV} (unset: {RUNS_DIR / 'mlflow.db'})") from err
        self.on = False
        if self.warned:
            return
        self.warned = True
        detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
        detail = detail if len(detail) <= 200 else detail[:200] + " ..."
        print(f"warning: run tracking failed ({what}: {type(err).__name__}: {detail}); the command goes on "
              f"and its files are written as usual, but this run is not in {redact(self.uri)}.\n"
              f"  fix: check that {URI_ENV} points at a reachable MLflow store, or set {SWITCH_ENV}=0 to "
              "turn tracking off", file=sys.stderr)

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except Exception as err:  # noqa: BLE001 - tracking must never stop the pipeline
            self.fail(what, err)

    # -- the client -------------------------------------------------------------------------------
    def client(self) -> Any:
        """The ``MlflowClient`` (created on first use), or None when tracking is off or failed."""
        if not self.on:
            return None
        if self._client is None:
            with self.guard(f"connecting to {redact(self.uri)}"):
                self._client, self._experiment_id = self._connect()
        return self._client if self.on else None

    def _connect(self) -> tuple[Any, str]:
        for key, value in _CLIENT_DEFAULTS.items():
            os.environ.setdefault(key, value)
        from mlflow.tracking import MlflowClient  # noqa: PLC0415  (heavy: only when a run is logged)

        # Schema migrations and "creating experiment" notices are for MLflow's own console (set
        # after the import, which configures MLflow's loggers).
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
        db = sqlite_path(self.uri)
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        client = MlflowClient(tracking_uri=self.uri)
        found = client.get_experiment_by_name(self.experiment)
        if found is None:
            # A SQLite store keeps its artifacts beside it (MLflow's default, ./mlruns, would land
            # in whatever folder the command ran from); a server chooses its own place.
            location = (db.parent / "artifacts").as_uri() if db is not None else None
            try:
                return client, client.create_experiment(self.experiment, artifact_location=location)
            except Exception:
                # Another process created it in the meantime.
                found = client.get_experiment_by_name(self.experiment)
                if found is None:
                    raise
        return client, found.experiment_id

    @property
    def experiment_id(self) -> str | None:
        return self._experiment_id if self.client() is not None else None

    # -- logging ----------------------------------------------------------------------------------
    def start(self, name: str, tags: Mapping[str, str] | None = None, parent: str | None = None) -> str | None:
        """Create a run (nested under ``parent``); its id, or None."""
        client = self.client()
        if client is None:
            return None
        with self.guard(f"creating run {name!r}"):
            all_tags = {clean_key(k): str(v) for k, v in (tags or {}).items()}
            if parent:
                all_tags[PARENT_TAG] = parent
            return client.create_run(self._experiment_id, run_name=name, tags=all_tags).info.run_id
        return None

    def log(self, run_id: str | None, params: Mapping[str, Any] | None = None,
            metrics: Mapping[str, Any] | None = None, tags: Mapping[str, Any] | None = None,
            series: Mapping[str, list[float]] | None = None) -> None:
        """Params, metrics (non-numbers and infinities skipped), tags and metric histories, batched."""
        client = self.client()
        if client is None or run_id is None:
            return
        with self.guard("logging params and metrics"):
            from mlflow.entities import Metric, Param, RunTag  # noqa: PLC0415  (see Tracker)

            now = int(time.time() * 1000)
            p = [Param(clean_key(k), str(v)[:6000]) for k, v in (params or {}).items() if v is not None]
            m = [Metric(clean_key(k), v, now, 0) for k, v in ((k, _finite(v)) for k, v in (metrics or {}).items())
                 if v is not None]
            for key, values in (series or {}).items():
                m += [Metric(clean_key(key), v, now, step) for step, v in enumerate(map(_finite, values))
                      if v is not None]
            t = [RunTag(clean_key(k), str(v)[:8000]) for k, v in (tags or {}).items() if v is not None]
            client.log_batch(run_id, metrics=m, params=p, tags=t)

    def upload(self, run_id: str | None, files: Iterable[tuple[Path, str | None]] = (),
               texts: Iterable[tuple[str, str]] = ()) -> None:
        """Copy files (those that exist) and small texts into the run's artifacts."""
        client = self.client()
        if client is None or run_id is None:
            return
        with self.guard("storing artifacts"):
            for path, folder in files:
                if Path(path).is_file():
                    client.log_artifact(run_id, str(path), folder)
            for text, name in texts:
                client.log_text(run_id, text, name)

    def finish(self, run_id: str | None, status: str = "FINISHED") -> None:
        client = self.client()
        if client is None or run_id is None:
            return
        with self.guard("closing the run"):
            client.set_terminated(run_id, status=status)

    def record(self, record: RunRecord, parent: str | None = None, status: str = "FINISHED") -> str | None:
        """Log ``record`` and its children as finished runs; the top run's id, or None."""
        run_id = self.start(record.name, record.tags, parent)
        self.log(run_id, record.params, record.metrics, series=record.series)
        self.upload(run_id, record.artifacts, record.texts)
        for child in record.children:
            self.record(child, parent=run_id)
        self.finish(run_id, status)
        return run_id if self.on else None

    # -- reading ----------------------------------------------------------------------------------
    def search(self, filter_string: str = "", max_results: int = 1000, all_experiments: bool = False) -> list[Any]:
        """Runs matching an MLflow filter, newest first (this experiment, or every one)."""
        client = self.client()
        if client is None:
            return []
        with self.guard("searching runs"):
            if all_experiments:
                ids = [e.experiment_id for e in client.search_experiments()]
            else:
                ids = [self._experiment_id]
            return list(client.search_runs(ids, filter_string=filter_string, max_results=max_results,
                                           order_by=["attributes.start_time DESC"]))
        return []


def log_run(experiment: str, make_record: Callable[[], RunRecord], what: str) -> str | None:
    """Log the run ``make_record()`` describes (and its nested runs) in ``experiment`` and say where
    it went (``what`` names the command); the run id, or None when tracking is off or failed.
    The record is built here, so that reading what it logs cannot fail the command either."""
    if not enabled():
        return None
    tracker = Tracker(experiment)
    with tracker.guard(f"collecting what {what} logs"):
        run_id = tracker.record(make_record())
        announce(run_id, tracker, what)
        return run_id
    return None


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def redact(uri: str) -> str:
    """The URI without a password (``user:secret@`` -> ``user:***@``)."""
    return re.sub(r"(//[^:/@]+):[^@/]+@", r"\1:***@", uri)


def announce(run_id: str | None, tracker: Tracker, what: str) -> None:
    """One line saying where the run went, for the command's output."""
    if not run_id:
        return
    where = redact(tracker.uri)
    if tracker.uri.startswith(("http://", "https://")):
        where = f"{where.rstrip('/')}/#/experiments/{tracker.experiment_id}/runs/{run_id}"
    print(f"tracked: {what} as run {run_id[:12]} in {where} (`make runs` lists runs)")
