"""Where ensembling output goes: the submission writer and the store of pseudo-test scores.

Both are owned by ``submissions/`` (ARCHITECTURE.md). This module is the one place the
ensembler touches them, so their signatures are adapted here and nowhere else.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from competition.data import load_sample_submission
from core.errors import DataError
from submissions.score_store import model_scores as _model_scores
from submissions.score_store import read_scores as _read
from submissions.score_store import record_model, scores_path
from submissions.writer import write_submission


def write_submission_file(pred: pd.DataFrame, data_dir: Path, path: Path) -> None:
    """Validate ``pred`` [Id, Sales] against the data's sample submission and write it atomically."""
    write_submission(pred, load_sample_submission(data_dir), path)


def record_ensemble(build_dir: Path, score: float, extra: dict[str, Any]) -> None:
    """Merge the ensemble's entry into ``reports/scores.json`` (atomically, keeping the rest)."""
    record_model(build_dir, "ensemble", score, extra)


def read_scores(build_dir: Path) -> dict[str, Any]:
    """scores.json as a dict (``{"models": {}}`` when absent); a corrupt file is a user error."""
    try:
        return _read(build_dir)
    except json.JSONDecodeError as err:
        raise DataError(f"not valid JSON ({err})", file=scores_path(build_dir),
                        fix="delete it and rerun `make submit` (every stage rewrites its entry)") from None


def model_scores(build_dir: Path) -> dict[str, float]:
    """Each recorded entry's mean pseudo-test RMSPE, by name (models and the ensemble)."""
    return _model_scores(read_scores(build_dir))
