"""Rossmann feature engineering: fast.ai's feature set (vectorised) plus leak-free per-store history.

The public API (what ``notebooks/rossmann.ipynb`` and ``python -m features`` call):

- :func:`build_features` ``(data, valid_start) -> (train_df, test_df)``: every feature family of one
  ``CompetitionData`` (the competition's, or a pseudo-test window's), in memory;
- :func:`build` ``(data_dir, build_dir, folds=...)``: the feature files of the test and of ``folds``
  pseudo-test windows under ``BUILD_DIR/features/`` (cached), what ``make features`` runs;
  :func:`window_dir` says where window ``w<k>``'s tables are;
- the column lists every model uses (:data:`CAT_COLS`, :data:`CONT_COLS`) and the one
  preprocessor (:class:`TabularPreprocessor`).
"""
from features.cli import build, window_dir
from features.columns import CAT_COLS, CONT_COLS
from features.pipeline import build_features
from features.preprocess import TabularPreprocessor

__all__ = ["CAT_COLS", "CONT_COLS", "TabularPreprocessor", "build", "build_features", "window_dir"]
