"""Session fixtures for the feature tests: the real data loaded once, and one cached build."""
from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from competition.data import load_competition
from features.cli import build


@pytest.fixture(scope="session")
def real_data(shared_rossmann: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loader's "Open is blank" note
        return load_competition(shared_rossmann)


@pytest.fixture(scope="session")
def real_build(shared_rossmann: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """One CLI build of ../shared/rossmann shared by every real-data test (~6 s)."""
    build_dir = tmp_path_factory.mktemp("features_build")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meta = build(shared_rossmann, build_dir)
    out = build_dir / "features"
    return SimpleNamespace(meta=meta, build_dir=build_dir,
                           train=pd.read_parquet(out / "train.parquet"),
                           test=pd.read_parquet(out / "test.parquet"))
