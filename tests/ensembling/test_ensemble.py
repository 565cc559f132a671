"""The ensembling stage end to end on tiny prediction files: outputs, report entry, user errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from core.errors import DataError
from ensembling.ensemble import run_ensemble
from submissions.report import record_model

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

    entry = json.loads((build / "reports" / "validation.json").read_text())["models"]["ensemble"]
    assert entry["space"] in ("linear", "geometric")
    assert sum(entry["weights"].values()) == pytest.approx(1.0)
    assert min(entry["weights"].values()) >= 0
    assert entry["factor"] < 1.0
    # The reported score is leave-one-window-out, and still beats every model here.
    assert entry["rmspe"] < min(entry["models_rmspe"].values())
    assert (entry["rmspe_in_sample"] <= entry["rmspe"] + 1e-9
            or entry["rmspe_in_sample"] < min(entry["models_rmspe"].values()))
    assert [w["window"] for w in entry["windows"]] == [1, 2, 3]
    assert [f["held_out_window"] for f in entry["held_out_fits"]] == [1, 2, 3]
    per_window = [w["models"]["ensemble"]["rmspe"] for w in entry["windows"]]
    assert entry["rmspe"] == pytest.approx(sum(per_window) / 3)
    assert decision["rmspe"] == entry["rmspe"]


def test_rerun_does_not_blend_its_own_output(build_factory, data_dir, synth):
    build = build_factory(_models(synth))
    first = run_ensemble(build, data_dir)
    before = (build / "submissions" / "submission.csv").read_bytes()
    second = run_ensemble(build, data_dir)
    assert first["models"] == second["models"] == ["baseline", "lgbm", "mlp"]
    assert (build / "submissions" / "submission.csv").read_bytes() == before


def test_merges_into_existing_validation_json(build_factory, data_dir, synth):
    build = build_factory(_models(synth))
    record_model(build, "lgbm", 0.123, {"n_trees": 10})
    run_ensemble(build, data_dir)
    models = json.loads((build / "reports" / "validation.json").read_text())["models"]
    assert models["lgbm"] == {"rmspe": 0.123, "n_trees": 10}
    assert "ensemble" in models


def test_models_covering_different_rows_is_a_data_error(build_factory, data_dir, synth):
    build = build_factory(_models(synth))
    path = build / "predictions" / "mlp.oof.parquet"
    pd.read_parquet(path).iloc[5:].to_parquet(path, index=False)
    with pytest.raises(DataError, match="covers different rows"):
        run_ensemble(build, data_dir)


def test_one_window_is_a_data_error(build_factory, data_dir, synth):
    build = build_factory(_models(synth))
    for path in (build / "predictions").glob("*.oof.parquet"):
        df = pd.read_parquet(path)
        df[df["Window"] == 1].to_parquet(path, index=False)
    with pytest.raises(DataError, match="at least 2"):
        run_ensemble(build, data_dir)


def test_cli_user_error_exits_2_without_traceback(tmp_path, data_dir):
    (tmp_path / "empty" / "predictions").mkdir(parents=True)
    res = subprocess.run([sys.executable, "-m", "ensembling", "--build-dir", str(tmp_path / "empty"),
                          "--data-dir", str(data_dir)], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 2
    assert "no prediction files" in res.stderr and "Traceback" not in res.stderr


def test_cli_missing_column(build_factory, data_dir, synth):
    build = build_factory(_models(synth))
    path = build / "predictions" / "lgbm.test.parquet"
    pd.read_parquet(path).drop(columns="prediction").to_parquet(path, index=False)
    res = subprocess.run([sys.executable, "-m", "ensembling", "--build-dir", str(build), "--data-dir", str(data_dir)],
                         cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 2
    assert "lgbm.test.parquet" in res.stderr and "'prediction'" in res.stderr and "Traceback" not in res.stderr
