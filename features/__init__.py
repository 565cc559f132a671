"""Rossmann feature engineering: fast.ai's feature set (vectorised) plus leak-free per-store history.

Entry points: ``features.pipeline.build_features``, ``features.columns``,
``features.preprocess.TabularPreprocessor`` and the CLI ``python -m features``.
"""
