"""`python -m models.mlp` end to end on small hand-made feature files: outputs, tuned params, LR finder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from competition.metric import rmspe
from models.common import fit_frame, load_feature_tables, load_windows, training_frames
from models.mlp import MLPConfig, load
from models.mlp.cli import main
from models.mlp.recipe import MLPRecipe, recent_rows
from models.mlp.regressor import MLPRegressor
from models.mlp.training import TensorData, fit_network
from tests.models.feature_build import write_feature_build

FAST = ["--seed", "5", "--epochs", "6", "--threads", "1", "--no-progress",
        "--params", json.dumps({"layers": [64, 32], "batch_size": 64, "lr": 1e-2, "members": 1})]


@pytest.fixture(scope="module")
def feature_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_feature_build(tmp_path_factory.mktemp("mlp-features"), n_stores=12, n_days=200)


def run(build_dir: Path, *args: str) -> int:
    return main(["--build-dir", str(build_dir), *args])


def test_cli_writes_predictions_submission_model_and_score(build_dir: Path, capsys) -> None:
    assert run(build_dir, *FAST) == 0
    out = capsys.readouterr().out
    assert "using the default parameters" in out and "expected test RMSPE" in out
    valid = pd.read_parquet(build_dir / "predictions" / "mlp.oof.parquet")
    test = pd.read_parquet(build_dir / "predictions" / "mlp.test.parquet")
    assert {"Window", "Store", "Date", "Sales", "prediction"} <= set(valid.columns)
    assert {"Id", "Store", "Date", "prediction"} <= set(test.columns)
    assert np.isfinite(valid["prediction"]).all() and (test["prediction"] >= 0).all()
    sub = pd.read_csv(build_dir / "submissions" / "mlp.csv")
    assert list(sub.columns) == ["Id", "Sales"] and len(sub) == len(test)
    record = json.loads((build_dir / "reports" / "scores.json").read_text())["models"]["mlp"]

    per_window = [rmspe(g["Sales"], g["prediction"]) for _, g in valid.groupby("Window")]
    assert record["rmspe"] == pytest.approx(np.mean(per_window))
    assert record["rmspe"] < 0.2  # a constant per store scores ~0.25 on this data
    mdir = build_dir / "models" / "mlp"
    for name in ("config.json", "weights.pt", "preprocessor.json", "loss_curves.png"):
        assert (mdir / name).exists(), name
    # The saved models are the refits (by default two, "all" and "recent", of one first fit), and
    # their geometric mean reproduces the test predictions.
    assert record["final"]["networks"] == 2 and (mdir / "network1" / "weights.pt").exists()
    tdf = pd.read_parquet(build_dir / "features" / "test.parquet")
    nets = [load(mdir), load(mdir / "network1")]
    pred = np.exp(np.mean([net.predict_log(tdf) for net in nets], axis=0))
    np.testing.assert_allclose(np.where(tdf["Open"] == 0, 0.0, pred), test["prediction"], rtol=1e-6)


def test_cli_uses_tuned_params_and_says_so(build_dir: Path, capsys) -> None:
    (build_dir / "tuning").mkdir()
    (build_dir / "tuning" / "mlp.json").write_text(json.dumps({"params": {"emb_drop": 0.1, "ps_1": 0.05}}))
    assert run(build_dir, *FAST) == 0
    out = capsys.readouterr().out
    assert "using tuned parameters from" in out and "mlp.json" in out
    record = json.loads((build_dir / "reports" / "scores.json").read_text())["models"]["mlp"]
    assert "tuning/mlp.json" in record["params_source"]


def test_cli_lr_find_saves_plot(build_dir: Path, capsys) -> None:
    assert run(build_dir, *FAST, "--lr-find") == 0
    assert (build_dir / "models" / "mlp" / "lr_find.png").stat().st_size > 1000
    assert "suggested peak LR" in capsys.readouterr().out


def test_refit_trains_on_the_test_stores_only(build_dir: Path, capsys) -> None:
    test_path = build_dir / "features" / "test.parquet"
    test = pd.read_parquet(test_path)
    test = test[test["Store"] > 3]
    test.to_parquet(test_path, index=False)  # stores 1-3 have no test rows
    sample_path = build_dir / "features" / "sample_submission.parquet"
    sample = pd.read_parquet(sample_path)
    sample[sample["Id"].isin(test["Id"])].to_parquet(sample_path, index=False)
    assert run(build_dir, *FAST) == 0

    train_df, _, meta = load_feature_tables(build_dir)
    full = fit_frame(train_df)
    record = json.loads((build_dir / "reports" / "scores.json").read_text())["models"]["mlp"]
    assert record["final"]["refit_rows"] == int((full["Store"] > 3).sum()) < len(full)
    assert "on the 9 test stores'" in capsys.readouterr().out
    # The windows' tests hold stores 1-3 too (this fixture's windows cover every store).
    valid = pd.read_parquet(build_dir / "predictions" / "mlp.oof.parquet")
    assert set(valid["Store"]) >= {1, 2, 3}


def test_the_refit_continues_the_first_fit(build_dir: Path, capsys) -> None:
    assert run(build_dir, *FAST) == 0
    out = capsys.readouterr().out
    record = json.loads((build_dir / "reports" / "scores.json").read_text())["models"]["mlp"]
    assert "trains 2 more epoch(s)" in out and record["refit_epochs"] == 2 and record["refits"] == ["all", "recent"]
    history = json.loads((build_dir / "models" / "mlp" / "history.json").read_text())["epochs"]
    assert len(history) == record["refit_epochs"]


def test_members_average_networks_of_consecutive_seeds(build_dir: Path) -> None:
    """members=k submits the geometric mean of the networks of seeds s..s+k-1; the first member is
    exactly the single network of seed s, and the CLI saves every member."""
    fast = {"layers": [64, 32], "batch_size": 64, "lr": 1e-2, "epochs": 3, "threads": 1, "progress": False, "seed": 5,
            "refits": ["all"]}
    t = next(load_windows(build_dir))
    single, _ = MLPRecipe(MLPConfig().with_params({**fast, "members": 1}))(t.train, t.test, t.meta)
    recipe = MLPRecipe(MLPConfig().with_params({**fast, "members": 2}))
    pred, info = recipe(t.train, t.test, t.meta)
    first, second = recipe.member_predictions_
    assert first == pytest.approx(single, rel=1e-6) and not np.allclose(first, second)
    assert pred == pytest.approx(np.sqrt(first * second), rel=1e-9)
    assert info["members"] == 2 and len(info["monitor_rmspe"]) == 2
    params = json.dumps({"layers": [64, 32], "batch_size": 64, "lr": 1e-2, "members": 2, "refits": ["all"]})
    assert run(build_dir, "--seed", "5", "--epochs", "2", "--threads", "1", "--no-progress", "--params", params) == 0
    assert (build_dir / "models" / "mlp" / "weights.pt").exists()
    assert (build_dir / "models" / "mlp" / "network1" / "weights.pt").exists()
    record = json.loads((build_dir / "reports" / "scores.json").read_text())["models"]["mlp"]
    assert record["members"] == 2 and record["final"]["networks"] == 2
    assert all(w["networks"] == 2 for w in record["windows"])


def test_recent_rows_count_the_last_days_twice() -> None:
    dates = pd.date_range("2015-01-01", periods=10)
    rows = recent_rows(pd.DataFrame({"Date": dates, "Sales": np.arange(10)}), days=3)
    assert rows.tolist() == list(range(10)) + [7, 8, 9]


def test_refits_continue_copies_of_one_first_fit(build_dir: Path) -> None:
    """refits=[all, all, recent]: three final networks from one first fit. The first is
    the single-refit recipe's network; the "recent" one is exactly the first fit continued on the
    refit rows with the last days appended once more (the index rows of `fit_network`)."""
    fast = {"layers": [64, 32], "batch_size": 64, "lr": 1e-2, "epochs": 2, "refit_epochs": 1, "threads": 1,
            "progress": False, "seed": 5, "recent_days": 20, "members": 1}
    t = next(load_windows(build_dir))
    single, _ = MLPRecipe(MLPConfig().with_params({**fast, "refits": ["all"]}))(t.train, t.test, t.meta)
    recipe = MLPRecipe(MLPConfig().with_params({**fast, "refits": ["all", "all", "recent"]}))
    pred, info = recipe(t.train, t.test, t.meta)
    assert info["members"] == 1 and info["networks"] == 3 and recipe.member_of_ == [0, 0, 0]
    plain, again, recent = recipe.member_predictions_
    assert plain == pytest.approx(single, rel=1e-6)
    assert [f.config.seed for f in recipe.finals_] == [5, 105, 205]
    assert not np.allclose(plain, again, rtol=1e-3) and not np.allclose(plain, recent, rtol=1e-3)
    assert pred == pytest.approx(np.exp(np.log(np.stack(recipe.member_predictions_)).mean(axis=0)), rel=1e-9)
    # The "recent" refit by hand: the first fit of seed 5, continued with seed 205 on a frame
    # holding the last 20 days twice.
    fit_df, inner_df = training_frames(t.train, t.meta)
    rows = fit_frame(t.train)
    rows = rows[rows["Store"].isin(t.test["Store"].unique())].reset_index(drop=True)
    by_hand = MLPRegressor(MLPConfig().with_params(fast)).fit(fit_df, inner_df)
    by_hand.config = by_hand.config.with_params({"seed": 205})
    dates = rows["Date"]
    by_hand.fit_more(pd.concat([rows, rows[dates > dates.max() - pd.Timedelta(days=20)]], ignore_index=True), 1)
    assert recent == pytest.approx(by_hand.predict(t.test), rel=1e-5)
    assert len(recipe.curves_) == 4  # the first fit and three refits
    with pytest.raises(ValueError, match="refits must be"):
        MLPConfig(refits=["all", "bagged"])


def test_fit_network_rows_must_index_the_table() -> None:
    data = TensorData(torch.zeros(10, 1, dtype=torch.int32), torch.zeros(10, 2), torch.ones(10))
    with pytest.raises(IndexError, match="must index the 10 training rows"):
        fit_network(torch.nn.Linear(2, 1), data, MLPConfig(), rows=torch.tensor([0, 10]))
