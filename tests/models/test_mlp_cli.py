"""`python -m models.mlp` end to end on small hand-made feature files: outputs, tuned params, LR finder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.models.feature_build import write_feature_build

FAST = ["--seed", "5", "--epochs", "6", "--threads", "1", "--no-progress",
        "--params", json.dumps({"layers": [64, 32], "batch_size": 64, "lr": 1e-2})]


@pytest.fixture(scope="module")
def feature_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_feature_build(tmp_path_factory.mktemp("mlp-features"), n_stores=12, n_days=200)


def run(build_dir: Path, *args: str) -> int:
    from models.mlp.cli import main

    return main(["--build-dir", str(build_dir), *args])


def test_cli_writes_predictions_submission_model_and_score(build_dir: Path, capsys) -> None:
    assert run(build_dir, *FAST) == 0
    out = capsys.readouterr().out
    assert "using the default parameters" in out and "validation RMSPE" in out
    valid = pd.read_parquet(build_dir / "predictions" / "mlp.valid.parquet")
    test = pd.read_parquet(build_dir / "predictions" / "mlp.test.parquet")
    assert {"Store", "Date", "Sales", "prediction"} <= set(valid.columns)
    assert {"Id", "Store", "Date", "prediction"} <= set(test.columns)
    assert np.isfinite(valid["prediction"]).all() and (test["prediction"] >= 0).all()
    sub = pd.read_csv(build_dir / "submissions" / "mlp.csv")
    assert list(sub.columns) == ["Id", "Sales"] and len(sub) == len(test)
    record = json.loads((build_dir / "reports" / "validation.json").read_text())["models"]["mlp"]
    from competition.metric import rmspe

    assert record["rmspe"] == pytest.approx(rmspe(valid["Sales"], valid["prediction"]))
    assert record["rmspe"] < 0.2  # a constant per store scores ~0.25 on this data
    mdir = build_dir / "models" / "mlp"
    for name in ("config.json", "weights.pt", "preprocessor.json", "loss_curves.png",
                 "validation/weights.pt"):
        assert (mdir / name).exists(), name
    # The saved model is the refit, and it reproduces the test predictions.
    from models.mlp import load

    tdf = pd.read_parquet(build_dir / "features" / "test.parquet")
    pred = load(mdir).predict(tdf)
    np.testing.assert_allclose(np.where(tdf["Open"] == 0, 0.0, pred), test["prediction"], rtol=1e-6)


def test_cli_uses_tuned_params_and_says_so(build_dir: Path, capsys) -> None:
    (build_dir / "tuning").mkdir()
    (build_dir / "tuning" / "mlp.json").write_text(json.dumps({"params": {"emb_drop": 0.1, "ps_1": 0.05}}))
    assert run(build_dir, *FAST, "--valid-only") == 0
    out = capsys.readouterr().out
    assert "using tuned parameters from" in out and "mlp.json" in out
    assert not (build_dir / "predictions").exists()  # --valid-only writes nothing


def test_cli_lr_find_saves_plot(build_dir: Path, capsys) -> None:
    assert run(build_dir, *FAST, "--lr-find") == 0
    assert (build_dir / "models" / "mlp" / "lr_find.png").stat().st_size > 1000
    assert "suggested peak LR" in capsys.readouterr().out
