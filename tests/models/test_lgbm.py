"""LightGBM on log(Sales): quality, the RMSPE feval, determinism, refit, files, tuned params, errors.

The data are small hand-made feature tables in the ARCHITECTURE.md layout (``tests/models/feature_build.py``,
shared with the MLP and tuning tests), so every test here takes about a second.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from competition.metric import rmspe
from core.cli import run_cli
from core.errors import DataError
from features.columns import ORDINAL_CAT_COLS
from models.baseline import MedianBaseline
from models.common import load_feature_tables, run_windows, training_frames
from models.lgbm import (
    DEFAULT_PARAMS,
    LGBMSalesRegressor,
    feature_columns,
    lgb_frame,
    main,
    make_preprocessor,
    resolve_params,
    tree_columns,
)


@pytest.fixture(scope="session")
def frames(feature_build: Path) -> dict[str, object]:
    train, _test, meta = load_feature_tables(feature_build)
    fit_df, valid_df = training_frames(train, meta)
    cats, conts = feature_columns(fit_df)
    pre = make_preprocessor(cats, conts, fit_df)
    return {"fit": fit_df, "valid": valid_df, "cats": cats,
            "X_fit": lgb_frame(pre, fit_df, cats), "X_valid": lgb_frame(pre, valid_df, cats)}


FAST = {"learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 20}


def fit_fast(frames: dict, seed: int = 0, **params: object):
    # One thread: the test machine's cores are shared, and OpenMP threads that wait on each other
    # under contention make a 1-second fit take a minute.
    model = LGBMSalesRegressor({**DEFAULT_PARAMS, **FAST, **params}, seed=seed, num_boost_round=150, num_threads=1)
    return model.fit(frames["X_fit"], frames["fit"]["Sales"])


def test_categoricals_reach_lightgbm_as_category_dtype(frames: dict) -> None:
    X = frames["X_fit"]
    for col in frames["cats"]:
        assert isinstance(X[col].dtype, pd.CategoricalDtype), col
    # pandas 3 strings (StoreType, StateHoliday) must never reach LightGBM as `str`.
    assert not any(pd.api.types.is_string_dtype(X[c].dtype) for c in X.columns
                   if not isinstance(X[c].dtype, pd.CategoricalDtype))


def test_ordered_categories_reach_lightgbm_as_their_numbers(frames: dict) -> None:
    """Day, Week, DayOfWeek, ... are thresholds for a tree, not sets of values: numeric columns
    holding the raw values (an unseen later Year or Week still falls on the right side of a split)."""
    X, fit = frames["X_fit"], frames["fit"]
    present = [c for c in ORDINAL_CAT_COLS if c in fit.columns]
    assert {"DayOfWeek", "Day", "Month"} <= set(present)
    for col in present:
        assert col not in frames["cats"] and pd.api.types.is_numeric_dtype(X[col].dtype), col
        np.testing.assert_array_equal(X[col].to_numpy(np.float64), fit[col].to_numpy(np.float64))
    assert "Store" in frames["cats"] and isinstance(X["Store"].dtype, pd.CategoricalDtype)
    # The same split for any column lists (the ablation passes its own).
    assert tree_columns(["Store", "Week"], ["Promo"]) == (["Store"], ["Week", "Promo"])


def test_beats_the_median_baseline_by_far(frames: dict) -> None:
    model = fit_fast(frames)
    valid = frames["valid"]
    score = rmspe(valid["Sales"], model.predict(frames["X_valid"]))
    baseline = rmspe(valid["Sales"], MedianBaseline().fit(frames["fit"]).predict(valid))
    # The noise is 4% (lognormal sigma 0.04): a good model gets close to it.
    assert score < 0.06
    assert score < 0.7 * baseline
    # Every round is kept: the windows and the final fit train the same fixed count.
    assert model.rounds_ == 150 == model.booster_.num_trees()


def test_callbacks_see_every_round(frames: dict) -> None:
    rounds: list[int] = []
    LGBMSalesRegressor({**DEFAULT_PARAMS, **FAST}, seed=0, num_boost_round=7, num_threads=1).fit(
        frames["X_fit"], frames["fit"]["Sales"], callbacks=[lambda env: rounds.append(env.iteration)])
    assert rounds == list(range(7))


def test_same_seed_same_predictions_other_seed_differs(frames: dict) -> None:
    a = fit_fast(frames, seed=3).predict(frames["X_valid"])
    b = fit_fast(frames, seed=3).predict(frames["X_valid"])
    c = fit_fast(frames, seed=4).predict(frames["X_valid"])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)  # bagging and feature_fraction use the seed


def test_reproducibility_params_are_forced(frames: dict) -> None:
    model = fit_fast(frames, seed=7)
    p = model.params_
    assert p["deterministic"] is True and p["seed"] == 7 and p["num_threads"] == 1
    assert p.get("force_row_wise") is True  # long, narrow data
    assert "force_col_wise" not in p


def test_non_positive_sales_is_a_user_error(frames: dict) -> None:
    sales = frames["fit"]["Sales"].to_numpy().copy()
    sales[0] = 0
    with pytest.raises(DataError, match="Sales > 0"):
        LGBMSalesRegressor(seed=0).fit(frames["X_fit"], sales)


def test_cli_writes_every_output_and_uses_tuned_params(build_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tuned = {"model": "lgbm", "params": {"num_leaves": 15, "min_data_in_leaf": 10}, "value": 0.05}
    (build_dir / "tuning").mkdir()
    (build_dir / "tuning" / "lgbm.json").write_text(json.dumps(tuned))
    assert main(["--build-dir", str(build_dir), "--seed", "1", "--threads", "1",
                 "--params", json.dumps({"learning_rate": 0.2, "num_boost_round": 300})]) == 0
    out = capsys.readouterr().out
    assert "using tuned parameters" in out

    for rel in ("submissions/lgbm.csv", "predictions/lgbm.oof.parquet", "predictions/lgbm.test.parquet",
                "models/lgbm/importance.png", "models/lgbm/model.txt", "models/lgbm/config.json",
                "reports/scores.json"):
        assert (build_dir / rel).stat().st_size > 0, rel
    config = json.loads((build_dir / "models/lgbm/config.json").read_text())
    assert config["params_source"].endswith("tuning/lgbm.json + --params")
    assert config["params"]["num_leaves"] == 15 and config["params"]["learning_rate"] == 0.2
    assert config["num_boost_round"] == 300
    entry = json.loads((build_dir / "reports/scores.json").read_text())["models"]["lgbm"]
    assert entry["rmspe"] == pytest.approx(config["pseudo_test_rmspe"])
    assert [w["index"] for w in entry["windows"]] == [1, 2]
    assert all(w["rounds"] == 300 for w in entry["windows"]) and entry["final"]["rounds"] == 300
    assert entry["rmspe"] < 0.07

    oof = pd.read_parquet(build_dir / "predictions/lgbm.oof.parquet")
    test = pd.read_parquet(build_dir / "predictions/lgbm.test.parquet")
    assert {"Window", "Store", "Date", "Sales", "prediction"} <= set(oof.columns)
    assert {"Id", "Store", "Date", "prediction"} <= set(test.columns)
    assert (test.loc[test["Open"] == 0, "prediction"] == 0).all()
    assert (test.loc[test["Open"] == 1, "prediction"] > 0).all()
    # The recorded score is the mean of the windows' scores, each from its own out-of-window rows.
    per_window = [rmspe(g["Sales"], g["prediction"]) for _, g in oof.groupby("Window")]
    assert entry["rmspe"] == pytest.approx(np.mean(per_window))
    assert [w["rmspe"] for w in entry["windows"]] == pytest.approx(per_window)


def test_window_predictions_never_see_their_window(build_dir: Path) -> None:
    """A window's fit ends before the window: its rows are not in the data it trains on."""
    seen = []

    def recipe(train, test, meta):
        seen.append((train["Date"].max(), test["Date"].min(), "Sales" in test.columns))
        return np.full(len(test), 5000.0), {}

    oof, records = run_windows(build_dir, "probe", recipe, log=lambda _: None)
    assert [r["index"] for r in records] == [1, 2] and len(seen) == 2
    for train_end, test_start, has_sales in seen:
        assert train_end < test_start and not has_sales
    assert oof["Window"].nunique() == 2


def test_cli_without_tuning_says_defaults(build_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params, loop, source = resolve_params(build_dir, None)
    assert source == "defaults" and "using the default parameters" in capsys.readouterr().out
    assert loop == {"num_boost_round": 600}
    assert params["objective"] == "regression"


def test_bad_params_json_exits_2(build_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_cli(main, ["--build-dir", str(build_dir), "--params", "{num_leaves: 3"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--params is neither a file nor valid JSON" in err and "Traceback" not in err


def test_early_stopping_in_params_is_refused_not_ignored(build_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_cli(main, ["--build-dir", str(build_dir), "--params", '{"early_stopping_rounds": 50}'])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "'early_stopping_rounds'" in err and "set num_boost_round" in err and "Traceback" not in err


def test_params_from_a_file(build_dir: Path, tmp_path: Path) -> None:
    """`make ... LGBM_PARAMS=file.json` passes a file: no JSON quoting through make and the shell."""
    path = tmp_path / "params.json"
    path.write_text('{"num_leaves": 7, "num_boost_round": 5}')
    params, loop, source = resolve_params(build_dir, str(path), log=lambda _: None)
    assert params["num_leaves"] == 7 and loop["num_boost_round"] == 5 and source == "defaults + --params"
    path.write_text("[1, 2]")
    with pytest.raises(DataError, match="must be a JSON object"):
        resolve_params(build_dir, str(path), log=lambda _: None)


def test_missing_features_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_cli(main, ["--build-dir", str(tmp_path)])
    assert exc.value.code == 2
    assert "make features" in capsys.readouterr().err
