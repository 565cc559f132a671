"""Kaggle submission files: validated, atomic writes; the store of pseudo-test scores; upload.

The public API (what the model stages, the ensembler and ``notebooks/rossmann.ipynb`` call):
:func:`to_submission` (``Id,Sales`` from test rows and predictions, 0 on closed days),
:func:`check_submission` (raises :class:`SubmissionError` for a file Kaggle would reject),
:func:`write_submission` (checked, atomic), and :func:`read_scores` (every model's
pseudo-test scores, ``BUILD_DIR/reports/scores.json``).
"""
from submissions.score_store import read_scores
from submissions.writer import SubmissionError, check_submission, to_submission, write_submission

__all__ = ["SubmissionError", "check_submission", "read_scores", "to_submission", "write_submission"]
