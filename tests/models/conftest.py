"""Fixtures of the model tests: a shared read-only feature folder and a private copy per test.

A module that wants smaller data overrides `feature_build` with its own (module-scoped) fixture;
`build_dir` then copies that one.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.models.feature_build import write_feature_build


@pytest.fixture(scope="session")
def feature_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only feature build shared by the tests (copy it before writing into it)."""
    return write_feature_build(tmp_path_factory.mktemp("features"))


@pytest.fixture()
def build_dir(feature_build: Path, tmp_path: Path) -> Path:
    """A private build dir holding a copy of the feature files."""
    shutil.copytree(feature_build / "features", tmp_path / "features")
    return tmp_path
