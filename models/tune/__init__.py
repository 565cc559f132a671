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

API (the CLI makes the same calls): ``run_study(TuneConfig(...))`` runs or resumes a study and
writes ``B/tuning/<model>.json`` and its plots (``write_plots``); ``TrialBudget`` sizes a trial.

Modules: ``storage`` (RDB storage with heartbeats, the sampler and pruner), ``objectives`` (one per
model, through the models' public API), ``report`` (best-parameters JSON and plots), ``cli``
(``TuneConfig`` and the study loop).
"""
from models.tune.cli import TuneConfig, run_study
from models.tune.objectives import TrialBudget
from models.tune.results import write_plots
from models.tune.storage import default_storage_url

__all__ = ["TrialBudget", "TuneConfig", "default_storage_url", "run_study", "write_plots"]
