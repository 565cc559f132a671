"""Kaggle submission files: validated, atomic writes; the validation record; upload.

The public API (what the model stages, the ensembler and ``notebooks/rossmann.ipynb`` call):
:func:`to_submission` (``Id,Sales`` from test rows and predictions, 0 on closed days),
:func:`check_submission` (raises :class:`SubmissionError` for a file Kaggle would reject),
:func:`write_submission` (checked, atomic), and :func:`read_validation` (every model's
pseudo-test scores, ``BUILD_DIR/reports/validation.json``).
"""
from submissions.report import read_validation
from submissions.writer import SubmissionError, check_submission, to_submission, write_submission

__all__ = ["SubmissionError", "check_submission", "read_validation", "to_submission", "write_submission"]
