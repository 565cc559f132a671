"""The ensembling stage end to end on tiny prediction files: outputs, report entry, user errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from competition.dataset import PARQUET_KEY, identify
from core.errors import DataError
from core.io import parquet_metadata, sha256_of, write_parquet
from ensembling.cli import run_ensemble
from ensembling.inputs import load_predictions

REPO = Path(__file__).resolve().parents[2]


def _models(synth):
    return {"lgbm": synth.noisy(0.08, 1.03), "mlp": synth.noisy(0.10, 0.98), "baseline": synth.noisy(0.2)}


def test_run_writes_submission_and_report_entry(build_factory, data_dir, synth):
    build = build_factory(_models(synth))
    decision = run_ensemble(build, data_dir)
    ens = build / "submissions" / "ensemble.csv"
    sub = build / "submissions" / "submission.csv"
    assert ens.read_bytes() == sub.read_bytes()
    out = pd.read_csv(sub)
    sample = pd.read_csv(data_dir / "sample_submission.csv")
    assert list(out.columns) == ["Id", "Sales"] and out["Id"].tolist() == sample["Id"].tolist()
    test = pd.read_csv(data_dir / "test.csv")
    closed = test.loc[test["Open"] == 0, "Id"]
    assert (out.set_index("Id").loc[closed, "Sales"] == 0).all()

    entry = json.loads((build / "reports" / "scores.json").read_text())["models"]["ensemble"]
    assert entry["space"] in ("linear", "geometric")
    assert sum(entry["weights"].values()) == pytest.approx(1.0)
    assert min(entry["weights"].values()) >= 0
    assert entry["factor"] < 1.0
    # The reference baseline is scored, never blended.
    assert entry["weights"]["baseline"] == 0.0 and entry["blended"] == ["lgbm", "mlp"]
    # The reported score is causal (each window from a blend decided on the windows before it), and
    # still beats every blended model here.
    assert entry["rmspe"] < min(entry["models_rmspe"][m] for m in ("lgbm", "mlp"))
    assert [w["window"] for w in entry["windows"]] == [1, 2, 3]
    assert [(h["window"], h["fitted_on"]) for h in entry["held_out"]] == [(3, []), (2, [3]), (1, [2, 3])]
    assert entry["held_out"][0]["procedure"] == "equal"  # the prior: nothing before window 3
    for name in ("lgbm", "mlp", "baseline", "ensemble"):
        est = entry["estimates"][name]
        assert est["estimate_low"] <= est["estimate"] <= est["estimate_high"]
    assert entry["estimate"] == entry["estimates"]["ensemble"]["estimate"]
    per_window = [w["models"]["ensemble"]["rmspe"] for w in entry["windows"]]
    assert entry["rmspe"] == pytest.approx(sum(per_window) / 3)
    assert decision.rmspe == entry["rmspe"]
    assert json.loads((build / "ensemble" / "decision.json").read_text())["rmspe"] == decision.rmspe


def test_rerun_does_not_blend_its_own_output(build_factory, data_dir, synth):
    build = build_factory(_models(synth))
    first = run_ensemble(build, data_dir)
    before = (build / "submissions" / "submission.csv").read_bytes()
    second = run_ensemble(build, data_dir)
    assert first.models == second.models == ["baseline", "lgbm", "mlp"]
    assert (build / "submissions" / "submission.csv").read_bytes() == before


def test_merges_into_existing_validation_json(build_factory, data_dir, synth):
    """Entries of the same dataset stay; one of another dataset (or of none) goes, so the file
    never mixes the scores of two datasets."""
    build = build_factory(_models(synth))
    fp = identify(data_dir).fingerprint
    (build / "reports").mkdir()
    (build / "reports" / "scores.json").write_text(json.dumps({"models": {
        "lgbm": {"rmspe": 0.123, "n_trees": 10, "dataset": fp}, "old": {"rmspe": 0.2, "dataset": "0" * 64}}}))
    run_ensemble(build, data_dir)
    models = json.loads((build / "reports" / "scores.json").read_text())["models"]
    assert models["lgbm"] == {"rmspe": 0.123, "n_trees": 10, "dataset": fp}
    assert "old" not in models
    assert models["ensemble"]["dataset"] == fp and models["ensemble"]["data_source"] == "synthetic"
    assert models["ensemble"]["submission_sha256"] == sha256_of(build / "submissions" / "submission.csv")


def _rewrite(path: Path, df: pd.DataFrame) -> None:
    """Replace a predictions file, keeping the dataset it records."""
    write_parquet(df, path, parquet_metadata(path))


def test_predictions_of_another_dataset_are_refused(build_factory, data_dir, synth, tmp_path):
    """A model retrained on other data (or an older file that records none) is never blended in."""
    build = build_factory(_models(synth))
    path = build / "predictions" / "mlp.oof.parquet"
    write_parquet(pd.read_parquet(path), path, {PARQUET_KEY: "f" * 64})
    with pytest.raises(DataError, match="was made from dataset ffffffffffff") as err:
        run_ensemble(build, data_dir)
    assert "mlp.oof.parquet" in err.value.render() and "make train-mlp" in err.value.render()
    pd.read_parquet(path).to_parquet(path, index=False)
    with pytest.raises(DataError, match="records no dataset"):
        run_ensemble(build, data_dir)
    # Without DATA_DIR (the report), files of two datasets are refused too.
    write_parquet(pd.read_parquet(path), path, {PARQUET_KEY: "f" * 64})
    with pytest.raises(DataError, match="different datasets"):
        load_predictions(build, ["baseline", "lgbm", "mlp"], "oof")
    # And the same models' files against other data in DATA_DIR.
    other = tmp_path / "other"
    synth.make_competition(other, seed=9)
    build2 = build_factory(_models(synth), name="build2")
    with pytest.raises(DataError, match="the current dataset is synthetic data"):
        run_ensemble(build2, other)


def test_models_covering_different_rows_is_a_data_error(build_factory, data_dir, synth):
    build = build_factory(_models(synth))
    path = build / "predictions" / "mlp.oof.parquet"
    _rewrite(path, pd.read_parquet(path).iloc[5:])
    with pytest.raises(DataError, match="covers different rows"):
        run_ensemble(build, data_dir)


def test_one_window_gives_the_prior(build_factory, data_dir, synth):
    """With a single window nothing can be learned causally: the ensemble is the blended models'
    geometric mean, for the window and for the test."""
    build = build_factory(_models(synth))
    for path in (build / "predictions").glob("*.oof.parquet"):
        df = pd.read_parquet(path)
        _rewrite(path, df[df["Window"] == 1])
    decision = run_ensemble(build, data_dir)
    assert decision.procedure == "equal" and decision.factor == 1.0
    assert decision.weights == {"baseline": 0.0, "lgbm": 0.5, "mlp": 0.5}


def test_cli_user_error_exits_2_without_traceback(tmp_path, data_dir):
    (tmp_path / "empty" / "predictions").mkdir(parents=True)
    res = subprocess.run([sys.executable, "-m", "ensembling", "--build-dir", str(tmp_path / "empty"),
                          "--data-dir", str(data_dir)], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 2
    assert "no prediction files" in res.stderr and "Traceback" not in res.stderr


def test_cli_missing_column(build_factory, data_dir, synth):
    build = build_factory(_models(synth))
    path = build / "predictions" / "lgbm.test.parquet"
    _rewrite(path, pd.read_parquet(path).drop(columns="prediction"))
    res = subprocess.run([sys.executable, "-m", "ensembling", "--build-dir", str(build), "--data-dir", str(data_dir)],
                         cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 2
    assert "lgbm.test.parquet" in res.stderr and "'prediction'" in res.stderr and "Traceback" not in res.stderr
