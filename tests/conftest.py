"""Shared test fixtures: where the real data lives, and a small cached synthetic dataset."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHARED_DIR", REPO_ROOT.parent / "shared"))


def pytest_configure(config: pytest.Config) -> None:
    """No test logs into the repository's run store (runs/) or a team's tracking server: tracking
    is off, and the tests of tracking turn it on with a temporary store of their own."""
    os.environ["TRACKING"] = "0"
    os.environ.pop("MLFLOW_TRACKING_URI", None)


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.skip(f"{what} not found at {path}: real-data tests need ../shared next to the repo "
                    f"(or SHARED_DIR=...); users' machines do not have it")
    return path


@pytest.fixture(scope="session")
def shared_rossmann() -> Path:
    """The real competition data (`../shared/rossmann`)."""
    return _require(SHARED / "rossmann" / "rossmann-store-sales.zip", "Rossmann data").parent


@pytest.fixture(scope="session")
def shared_pets() -> Path:
    """The 296 real Oxford-IIIT Pet photos (`../shared/pets`)."""
    return _require(SHARED / "pets" / "oxford-iiit-pet", "Oxford-IIIT Pet photos").parent
