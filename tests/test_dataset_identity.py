"""One build, one dataset: a build follows its data by content, never by file dates.

The README's own flow (a synthetic `make submit`, then the Kaggle data, downloaded earlier, into
the same build) once printed the synthetic scores and kept the synthetic submission.csv, because
every data file was older than the build. These tests replay it, and check that each stage
refuses to combine outputs of different datasets.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from competition.data import fingerprint, load_sample_submission
from competition.dataset import Dataset, identify, parquet_dataset, write_record
from competition.synthetic import SyntheticConfig, write_dataset
from core.errors import DataError
from models.common import run_stage, tuned_params
from submissions.summary import summary

REPO = Path(__file__).resolve().parents[1]
# The baseline alone: the DAG is the same for every model, and it trains in a fraction of a second.
ARGS = ("MODELS=baseline", "SEED=3", "STORES=5")


def make(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAGGLE", "MAKE"))}
    env["KAGGLE_CONFIG_DIR"] = "/nonexistent-kaggle-config"  # `make data` must never download
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


def submit(data: Path, build: Path) -> subprocess.CompletedProcess[str]:
    result = make("submit", f"DATA_DIR={data}", f"BUILD_DIR={build}", *ARGS)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def dataset_of(data: Path, seed: int, stores: int) -> Path:
    write_dataset(data, SyntheticConfig(n_stores=stores, seed=seed))
    return data


def age(path: Path, when: str = "2015-01-01") -> None:
    """Date every file under ``path`` years back, as unzip or a restored copy leaves them."""
    for p in [path, *path.rglob("*")]:
        subprocess.run(["touch", "-h", "-d", when, str(p)], check=True)


def outputs_made_from(build: Path, data: Path) -> None:
    """Everything downstream of the data comes from ``data``: features, predictions, scores and
    the submission's Ids."""
    fp = fingerprint(data)
    assert json.loads((build / "dataset.json").read_text())["fingerprint"] == fp
    assert json.loads((build / "features" / "meta.json").read_text())["data_fingerprint"] == fp
    for part in ("oof", "test"):
        assert parquet_dataset(build / "predictions" / f"baseline.{part}.parquet") == fp
    models = json.loads((build / "reports" / "scores.json").read_text())["models"]
    assert {e["dataset"] for e in models.values()} == {fp} and set(models) == {"baseline", "ensemble"}
    sub = pd.read_csv(build / "submissions" / "submission.csv")
    assert sub["Id"].tolist() == load_sample_submission(data)["Id"].tolist()


@pytest.mark.slow
def test_the_readme_flow_rebuilds_for_other_data_whatever_the_dates(tmp_path: Path) -> None:
    build = tmp_path / "build"
    first = tmp_path / "synthetic"
    submit(first, build)  # `make data` generates the synthetic set
    outputs_made_from(build, first)

    # Another dataset, its files dated years before the build: everything is rebuilt.
    other = dataset_of(tmp_path / "kaggle", seed=11, stores=7)
    age(other)
    result = submit(other, build)
    assert "models.baseline" in result.stdout and "features built" in result.stdout
    outputs_made_from(build, other)
    assert pd.read_csv(build / "submissions" / "submission.csv").shape[0] != \
        len(load_sample_submission(first))

    # A file replaced in place by an older copy with other content: rebuilt.
    dataset_of(tmp_path / "older-copy", seed=12, stores=5)
    shutil.copy2(tmp_path / "older-copy" / "rossmann-store-sales.zip", other / "rossmann-store-sales.zip")
    age(other, "2014-06-01")
    result = submit(other, build)
    assert "models.baseline" in result.stdout and "features built" in result.stdout
    outputs_made_from(build, other)

    # The same data under another path: the fingerprint, not the path, decides what is reused.
    moved = tmp_path / "moved"
    shutil.copytree(other, moved, symlinks=True)
    stamps = {p: p.stat().st_mtime_ns for p in (build / "predictions").iterdir()}
    result = submit(moved, build)
    assert "features up to date" in result.stdout
    assert "models.baseline" not in result.stdout and "python -m ensembling" not in result.stdout
    assert {p: p.stat().st_mtime_ns for p in (build / "predictions").iterdir()} == stamps
    assert json.loads((build / "dataset.json").read_text())["data_dir"] == str(moved.resolve())
    assert f"Ids of {moved}/sample_submission.csv" in result.stdout

    # And nothing to do: `make data` only hashes the files.
    result = submit(moved, build)
    assert "unchanged since" in result.stdout and "-m features" not in result.stdout


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dataset_of(tmp_path_factory.mktemp("identity") / "data", seed=4, stores=4)


@pytest.fixture(scope="module")
def feature_build(tmp_path_factory: pytest.TempPathFactory, small_data: Path) -> Path:
    build = tmp_path_factory.mktemp("identity") / "build"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "features", "--data-dir", str(small_data), "--build-dir", str(build)],
                   env=env, cwd=REPO, check=True, capture_output=True)
    return build


def _copy(build: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(build, tmp_path / "build"))


def test_model_stage_refuses_features_of_another_dataset(tmp_path: Path, feature_build: Path) -> None:
    build = _copy(feature_build, tmp_path)
    write_record(build, Dataset("/elsewhere", "c" * 64, "kaggle"))
    with pytest.raises(DataError, match="was made from dataset") as err:
        run_stage(build, "m", lambda train, test, meta: (test["Open"].to_numpy(float), {}))
    assert "make features" in err.value.render() and not (build / "predictions").exists()


def test_tuned_parameters_of_another_dataset_are_refused(tmp_path: Path, feature_build: Path,
                                                        small_data: Path) -> None:
    build = _copy(feature_build, tmp_path)
    (build / "tuning").mkdir()
    path = build / "tuning" / "lgbm.json"
    path.write_text(json.dumps({"params": {"num_leaves": 7}, "dataset": fingerprint(small_data)}))
    assert tuned_params(build, "lgbm") == {"num_leaves": 7}
    path.write_text(json.dumps({"params": {"num_leaves": 7}, "dataset": "d" * 64}))
    with pytest.raises(DataError, match="make tune MODEL=lgbm"):
        tuned_params(build, "lgbm")


def test_summary_refuses_what_does_not_belong_to_data_dir(tmp_path: Path, small_data: Path) -> None:
    build = tmp_path / "build"
    fp = identify(small_data).fingerprint
    sub = build / "submissions" / "submission.csv"
    sub.parent.mkdir(parents=True)
    ids = load_sample_submission(small_data)["Id"]
    pd.DataFrame({"Id": ids, "Sales": 1.0}).to_csv(sub, index=False)
    (build / "reports").mkdir()
    doc = {"models": {"lgbm": {"rmspe": 0.1, "dataset": fp}}}
    (build / "reports" / "scores.json").write_text(json.dumps(doc))
    assert f"{len(ids)} rows" in summary(build, small_data)

    doc["models"]["mlp"] = {"rmspe": 0.1, "dataset": "e" * 64}
    (build / "reports" / "scores.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="eeeeeeeeeeee") as err:
        summary(build, small_data)
    assert "make submit" in err.value.render()

    del doc["models"]["mlp"]
    doc["models"]["ensemble"] = {"rmspe": 0.1, "dataset": fp, "submission_sha256": "0" * 64}
    (build / "reports" / "scores.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="not the file the ensembler wrote"):
        summary(build, small_data)

    del doc["models"]["ensemble"]
    (build / "reports" / "scores.json").write_text(json.dumps(doc))
    pd.DataFrame({"Id": ids[:-1], "Sales": 1.0}).to_csv(sub, index=False)
    with pytest.raises(DataError, match=f"holds {len(ids) - 1:,} rows") as err:
        summary(build, small_data)
    assert err.value.column == "Id"
    pd.DataFrame({"Id": ids[::-1], "Sales": 1.0}).to_csv(sub, index=False)
    with pytest.raises(DataError, match="in its order"):
        summary(build, small_data)
