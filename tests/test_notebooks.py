"""The notebooks: executed top to bottom on small data (synthetic Rossmann, a few photos per breed),
as `make notebooks` runs them; the committed ones carry no outputs; the runner reports a failing cell."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from core.notebooks import execute, has_outputs, main, strip_outputs

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# Settings that would change what the notebooks read: each test says what it wants.
OWN = ("DATA_DIR", "PETS_DIR", "NOTEBOOK_DIR", "NOTEBOOK_STORES", "PETS_PER_BREED", "TRIALS", "STUDY_ROWS", "SEED")


def env_for(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OWN and not k.startswith(("KAGGLE", "MAKE"))}
    return {**env, "NOTEBOOK_DIR": str(tmp_path / "work"), "THREADS": "1", "OMP_NUM_THREADS": "1",
            "OMP_WAIT_POLICY": "PASSIVE", **settings}


def outputs(path: Path) -> tuple[str, int]:
    """All text a notebook printed, and how many pictures it shows."""
    nb = nbformat.read(path, as_version=4)
    text, images = [], 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                text.append(out.text)
            elif out.output_type in ("display_data", "execute_result"):
                images += "image/png" in out.data
                text.append(out.data.get("text/plain", ""))
            elif out.output_type == "error":
                text.append(f"{out.ename}: {out.evalue}")
    return "\n".join(text), images


def write_notebook(path: Path, *sources: str) -> Path:
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_the_committed_notebooks_carry_no_outputs() -> None:
    assert [p.name for p in NOTEBOOKS] == ["pets.ipynb", "rossmann.ipynb"]
    dirty = [p.name for p in NOTEBOOKS if has_outputs(nbformat.read(p, as_version=4))]
    assert dirty == [], f"run `.venv/bin/python -m core.notebooks --strip notebooks/*.ipynb` on {dirty}"


def test_execute_runs_this_python_in_the_notebooks_folder_and_reports_the_failing_cell(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "t.ipynb", "import os, sys\nprint(sys.executable, os.getcwd(), os.environ['X'])",
                          "1 / 0", "print('never')")
    run = execute(path, tmp_path / "out", env={**os.environ, "X": "from-env"})
    assert run.error == "cell 1: ZeroDivisionError: division by zero"
    text, _ = outputs(run.notebook)
    assert f"{sys.executable} {tmp_path.resolve()} from-env" in text and "never" not in text
    assert "ZeroDivisionError" in run.html.read_text()
    # The command line says which notebook failed and exits non-zero; the executed copy is kept.
    assert main([str(path), "--out", str(tmp_path / "cli")]) == 1
    assert (tmp_path / "cli" / "t.ipynb").exists()


def test_strip_removes_outputs_and_keeps_the_code(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "t.ipynb", "print(1 + 1)")
    run = execute(path, tmp_path / "out")
    assert run.error is None and has_outputs(nbformat.read(run.notebook, as_version=4))
    assert strip_outputs(run.notebook) and not strip_outputs(run.notebook)
    stripped = nbformat.read(run.notebook, as_version=4)
    assert not has_outputs(stripped) and stripped.cells[0].source == "print(1 + 1)"


@pytest.mark.slow
def test_rossmann_notebook_runs_on_synthetic_data(tmp_path: Path) -> None:
    run = execute(REPO / "notebooks" / "rossmann.ipynb", tmp_path / "out",
                  env=env_for(tmp_path, TRIALS="3"))
    assert run.error is None, run.error
    text, images = outputs(run.notebook)
    assert "SYNTHETIC data" in text
    # store days, windows, importances, LR finder, loss curves, 4 embedding maps, 4 Optuna plots
    assert images >= 13, images
    for stage in ("baseline", "lgbm", "mlp"):
        assert re.search(rf"{stage}: expected test RMSPE 0\.\d+", text), stage
    assert "RMSPE on the synthetic test itself" in text and "all valid" in text
    work = tmp_path / "work" / "rossmann"
    assert (work / "build" / "submissions" / "submission.csv").exists()
    assert (work / "build" / "tuning" / "lgbm.json").exists()
    assert {p.name for p in (work / "figures" / "embeddings").iterdir()} >= {
        "states.png", "stores.png", "weekdays.png", "months.png", "embeddings.json"}
    assert run.html.read_text().count("data:image/png;base64") >= 13


@pytest.mark.slow
def test_pets_notebook_runs_on_a_few_photos_per_breed(tmp_path: Path, shared_pets: Path) -> None:
    run = execute(REPO / "notebooks" / "pets.ipynb", tmp_path / "out",
                  env=env_for(tmp_path, PETS_DIR=str(shared_pets), PETS_PER_BREED="2"))
    assert run.error is None, run.error
    text, images = outputs(run.notebook)
    assert "74 photos of 37 breeds" in text
    # augmentations (2), most confused, top losses, 3 heatmaps, the hand-made convolution
    assert images >= 8, images
    accuracy = float(re.search(r"held-out accuracy (\d\.\d+)", text).group(1))
    assert accuracy > 5 / 37, accuracy  # chance is 1/37 on 37 held-out photos
    assert "frozen" in text and "unfrozen" in text  # the history table of both stages


def test_pets_notebook_without_photos_says_how_to_get_them(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    run = execute(REPO / "notebooks" / "pets.ipynb", tmp_path / "out",
                  env=env_for(tmp_path, PETS_DIR=str(tmp_path / "empty")))
    assert run.error is not None and "SystemExit: No photos to work on" in run.error
    assert "robots.ox.ac.uk" in run.error and "--download" in run.error
