"""The Makefile passes every stage the pipeline-wide settings (SEED, THREADS, FOLDS, SEASONS,
STORES), so that one value reaches all of them; their defaults must be the Python ones, and a
model's own hyperparameters have none in the Makefile (MLPConfig and the LightGBM defaults hold them)."""
from __future__ import annotations

import re
from pathlib import Path

from competition.synthetic import SyntheticConfig
from core.seed import DEFAULT_SEED
from features.cli import DEFAULT_FOLDS, DEFAULT_JOBS, DEFAULT_SEASONS
from models.lgbm.params import DEFAULT_THREADS

REPO = Path(__file__).resolve().parents[1]


def makefile_defaults() -> dict[str, str]:
    text = (REPO / "Makefile").read_text()
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^([A-Z_]+)\s*\?=([^#\n]*)##", text, re.M)}


def test_the_makefile_defaults_are_the_python_ones() -> None:
    d = makefile_defaults()
    assert int(d["SEED"]) == DEFAULT_SEED
    assert (int(d["FOLDS"]), int(d["SEASONS"])) == (DEFAULT_FOLDS, DEFAULT_SEASONS)
    assert int(d["STORES"]) == SyntheticConfig.n_stores
    assert int(d["THREADS"]) == DEFAULT_THREADS == DEFAULT_JOBS
    assert d["MLP_MEMBERS"] == d["MLP_REFITS"] == d["MLP_PARAMS"] == d["LGBM_PARAMS"] == ""
    assert d["WINDOW_GAP"] == ""  # the windows take the test's own gap, as plan(gap=None)
