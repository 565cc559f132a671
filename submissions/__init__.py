"""Kaggle submission files: validated, atomic writes; the validation record; upload."""
