"""Rossmann competition data: loading and validation, synthetic data, the time split and RMSPE.

The public API (what ``notebooks/rossmann.ipynb`` and the CLIs call):

- the data: :func:`has_competition_data`, :func:`load_competition` (-> :class:`CompetitionData`),
  :func:`is_synthetic`, and the synthetic dataset :func:`write_dataset` (:class:`SyntheticConfig`),
  which ``make data`` writes into an empty ``DATA_DIR`` without Kaggle credentials;
- the pseudo-test windows every score is measured on: :func:`period_shape`, :func:`plan` (the
  recent and same-season windows a build scores, -> :class:`Window`), :func:`windows` (the recent
  ones alone), :func:`pseudo_test` (-> :class:`PseudoTest`), :func:`estimate` (the expected test
  RMSPE from the window scores, -> :class:`Estimate`, weighted by :func:`window_weights`), and a table's inner split
  :func:`validation_split`;
- the metric :func:`rmspe`;
- pictures: :func:`plot_store_days`, :func:`plot_windows` (the windows on a calendar).

``python -m competition.fetch`` (``make data``) is the command line; it is not imported here, so
that running it does not load it twice.
"""
from competition.data import CompetitionData, ExternalTables, has_competition_data, is_synthetic, load_competition
from competition.metric import rmspe
from competition.plots import plot_store_days, plot_windows
from competition.pseudo_test import (
    Estimate,
    PeriodShape,
    PseudoTest,
    Window,
    estimate,
    period_shape,
    plan,
    pseudo_test,
    window_weights,
    windows,
)
from competition.split import Split, validation_split
from competition.synthetic import SyntheticConfig, write_dataset

__all__ = ["CompetitionData", "Estimate", "ExternalTables", "PeriodShape", "PseudoTest", "Split", "SyntheticConfig",
           "Window", "estimate", "has_competition_data", "is_synthetic", "load_competition", "period_shape", "plan",
           "plot_store_days", "plot_windows", "pseudo_test", "rmspe", "validation_split", "window_weights", "windows",
           "write_dataset"]
