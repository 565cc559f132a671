"""Models for Rossmann: the median baseline, LightGBM and the entity-embedding MLP, plus tuning.

What every model shares, the public API for running a recipe on a window (what
``notebooks/rossmann.ipynb`` and every model's CLI call):

- :func:`load_windows` (-> :class:`WindowTables`: a pseudo-test window's train and test tables,
  meta and labels) and :func:`load_feature_tables` (the competition's tables) read a feature build;
- :func:`score_windows` runs a recipe ``fit_predict(train, test, meta) -> (prediction, info)`` on
  windows and scores each (:func:`window_score`); :func:`run_stage` is a model's whole stage
  (every window, then the test; writes predictions, submission and scores);
- :func:`fit_frame` and :func:`training_frames`: the rows a recipe learns from.

Each model's own API is at the top of its module or package, the same calls its CLI makes:
``models.baseline`` (``MedianBaseline``, ``train_and_predict``), ``models.lgbm`` (``LGBMRecipe``,
``train_and_predict``), ``models.mlp`` (``MLPConfig``, ``MLPRecipe``, ``lr_find``,
``train_and_predict``, ``save_embedding_maps``) and ``models.tune`` (``TuneConfig``,
``run_study``). They are not imported here: ``models.baseline`` is a command line itself, and the
LightGBM and torch imports cost seconds that the other stages do not need.
"""
from models.common import (
    FitPredict,
    WindowTables,
    closed_to_zero,
    fit_frame,
    load_feature_tables,
    load_windows,
    run_stage,
    score_windows,
    summarize_windows,
    training_frames,
    window_score,
)

__all__ = ["FitPredict", "WindowTables", "closed_to_zero", "fit_frame", "load_feature_tables", "load_windows",
           "run_stage", "score_windows", "summarize_windows", "training_frames", "window_score"]
