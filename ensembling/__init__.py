"""Blend the models' prediction files, report where they fail, backtest the whole pipeline.

The public API is one call, the one ``python -m ensembling`` (``make ensemble``) makes:
:func:`run_ensemble` ``(build_dir, data_dir)`` fits the ensemble on the models' out-of-window
predictions, writes ``submissions/ensemble.csv`` and ``submission.csv`` and records its score in
``reports/scores.json``; it returns the :class:`ensembling.ensemble.Decision` (``to_dict()`` is
``ensemble/decision.json``).
"""
from ensembling.cli import run_ensemble

__all__ = ["run_ensemble"]
