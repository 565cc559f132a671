"""Optuna tuning: resume without repeating start-up trials, best params + plots, MLP and LightGBM
objectives, and the heartbeat that fails (and retries) the trial of a killed worker.

The two-worker PostgreSQL test is in test_tune_postgres.py.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import optuna
import pytest

from core.cli import run_cli
from models.common import tuned_params
from models.lgbm import resolve_params
from models.mlp import MLPConfig
from models.tune.cli import main, within
from models.tune.results import varied_params
from models.tune.storage import make_sampler, redact
from tests.models.feature_build import write_feature_build

REPO = Path(__file__).resolve().parents[2]
PLOTS = ("optimization_history", "param_importances", "parallel_coordinate", "intermediate_values")


def tune(build_dir: Path, *args: str) -> None:
    assert main(["--build-dir", str(build_dir), "--seed", "7", *args]) == 0


def load(build_dir: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{build_dir / 'tuning' / 'optuna.db'}")


def states(study: optuna.Study) -> list[str]:
    return [t.state.name for t in study.get_trials(deepcopy=False)]


def running_states(build_dir: Path) -> list[str] | None:
    """The trial states a worker has written, read without touching the database: an
    ``optuna.load_study`` here would create the schema while the worker is creating it too."""
    path = build_dir / "tuning" / "optuna.db"
    if not path.exists():
        return None
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as db:
            return [row[0] for row in db.execute("SELECT state FROM trials ORDER BY number")]
    except sqlite3.Error:  # the worker is still creating its tables
        return None


def finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if t.state.is_finished() and t.state.name != "FAIL"]


@pytest.fixture(scope="module")
def feature_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_feature_build(tmp_path_factory.mktemp("tune-features"), n_stores=15, n_days=200)


def test_resume_continues_the_study_without_repeating_startup_trials(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    tune(a, "--model", "quadratic", "--trials", "3", "--no-plots")
    tune(a, "--model", "quadratic", "--trials", "2", "--no-plots")
    tune(b, "--model", "quadratic", "--trials", "5", "--no-plots")
    resumed, single = load(a, "rossmann-quadratic"), load(b, "rossmann-quadratic")
    assert len(resumed.trials) == 5 and len(finished(resumed)) == 5
    params = [tuple(sorted(t.params.items())) for t in resumed.trials]
    assert len(set(params)) == 5, "a resumed run redrew earlier trials' parameters"
    # Seeded per trial number: 3 + 2 trials are exactly the 5 trials of one uninterrupted run.
    assert params == [tuple(sorted(t.params.items())) for t in single.trials]


def test_plain_seeded_tpe_would_repeat_its_startup_trials() -> None:
    """Why TrialSeededTPESampler exists: a plain TPESampler(seed) restarts its random stream."""
    storage = optuna.storages.InMemoryStorage()
    objective = lambda t: t.suggest_float("x", 0, 1)  # noqa: E731
    for _ in range(2):
        study = optuna.create_study(storage=storage, study_name="s", load_if_exists=True,
                                    sampler=optuna.samplers.TPESampler(seed=1))
        study.optimize(objective, n_trials=2)
    xs = [t.params["x"] for t in study.trials]
    assert xs[:2] == xs[2:]
    storage = optuna.storages.InMemoryStorage()
    for _ in range(2):
        study = optuna.create_study(storage=storage, study_name="s", load_if_exists=True,
                                    sampler=make_sampler(1))
        study.optimize(objective, n_trials=2)
    assert len({t.params["x"] for t in study.trials}) == 4


def test_best_params_json_and_plots(tmp_path: Path) -> None:
    tune(tmp_path, "--model", "quadratic", "--trials", "4")
    study = load(tmp_path, "rossmann-quadratic")
    best = json.loads((tmp_path / "tuning" / "quadratic.json").read_text())
    assert best["params"] == study.best_params and best["value"] == pytest.approx(study.best_value)
    assert best["study"] == "rossmann-quadratic" and best["n_finished"] == 4
    for name in PLOTS:
        assert (tmp_path / "tuning" / f"{name}.png").stat().st_size > 1000, name


def test_mlp_study_3_then_2_trials_tunes_dropout_and_weight_decay(build_dir: Path) -> None:
    small = ["--model", "mlp", "--fix", "epochs=1", "--rows", "3000", "--threads", "1"]
    tune(build_dir, *small, "--trials", "3")
    tune(build_dir, *small, "--trials", "2")
    study = load(build_dir, "rossmann-mlp")
    assert len(study.trials) == 5
    assert all(s in ("COMPLETE", "PRUNED") for s in states(study)), states(study)
    n_layers = len(MLPConfig().layers)
    for t in study.trials:
        assert {"emb_drop", "weight_decay", *(f"ps_{i}" for i in range(n_layers))} <= set(t.params)
        # The running mean RMSPE reported after each window's fit (fewer when pruned).
        assert 1 <= len(t.intermediate_values) <= 2
    for t in study.trials:
        if t.state.name == "COMPLETE":
            # The value is the mean of the windows' scores, the number `make submit` reports.
            assert t.value == pytest.approx(sum(t.user_attrs["window_rmspe"].values()) / 2)
    assert len({t.params["weight_decay"] for t in study.trials}) == 5
    # The training CLI reads the JSON through models.common.tuned_params into MLPConfig.
    config = MLPConfig().with_params(tuned_params(build_dir, "mlp"))
    assert config.weight_decay == study.best_params["weight_decay"]
    assert config.ps == [study.best_params[f"ps_{i}"] for i in range(n_layers)]


def test_lgbm_study_on_the_windows_feeds_training(build_dir: Path) -> None:
    tune(build_dir, "--model", "lgbm", "--trials", "4", "--startup-trials", "2", "--threads", "1",
         "--trial-seeds", "2")
    study = load(build_dir, "rossmann-lgbm")
    assert len(finished(study)) == 4
    space = {"num_leaves", "min_data_in_leaf", "feature_fraction", "bagging_fraction",
             "bagging_freq", "lambda_l2", "learning_rate", "num_boost_round"}
    assert all(set(t.params) == space for t in study.trials)
    # 2 windows x 2 seeds: four window fits, the running mean reported after each.
    first = study.trials[0]
    assert len(first.intermediate_values) == 4 and set(first.user_attrs["window_rmspe"]) == {"w1", "w2"}
    assert first.value == pytest.approx(first.intermediate_values[3])
    assert study.best_value < 0.1
    best = json.loads((build_dir / "tuning" / "lgbm.json").read_text())
    assert best["metric"] == "mean pseudo-test RMSPE over windows" and best["budget"]["seeds"] == 2
    # The round count travels with the parameters into the training CLI's recipe.
    params, loop, source = resolve_params(build_dir, None, log=lambda _m: None)
    assert source.endswith("tuning/lgbm.json") and params["num_leaves"] == study.best_params["num_leaves"]
    assert loop["num_boost_round"] == study.best_params["num_boost_round"] and "num_boost_round" not in params


def test_a_study_on_some_windows_reads_only_those(build_dir: Path) -> None:
    tune(build_dir, "--model", "lgbm", "--trials", "1", "--threads", "1", "--windows", "w2",
         "--study", "only-w2", "--no-plots")
    trial = load(build_dir, "only-w2").trials[0]
    assert set(trial.user_attrs["window_rmspe"]) == {"w2"}
    assert trial.value == pytest.approx(trial.user_attrs["window_rmspe"]["w2"])


def test_killed_worker_trial_is_failed_then_retried(tmp_path: Path) -> None:
    """SIGKILL leaves no chance to clean up: the heartbeat must catch it."""
    storage = f"sqlite:///{tmp_path / 'tuning' / 'optuna.db'}"
    hb = ["--heartbeat", "1", "--grace", "3"]
    worker = subprocess.Popen(
        [sys.executable, "-m", "models.tune", "--model", "quadratic", "--trials", "1",
         "--build-dir", str(tmp_path), "--smoke-step-seconds", "60", "--no-plots", *hb],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while running_states(tmp_path) != ["RUNNING"]:
            assert time.monotonic() < deadline, "the worker never started its trial"
            time.sleep(0.2)
        time.sleep(1.5)  # let at least one heartbeat land
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    study = optuna.load_study(study_name="rossmann-quadratic", storage=storage)
    assert states(study) == ["RUNNING"], "a SIGKILLed trial stays RUNNING until a heartbeat check"
    time.sleep(3.5)  # past the grace period
    tune(tmp_path, "--model", "quadratic", "--trials", "2", "--no-plots", *hb)
    trials = load(tmp_path, "rossmann-quadratic").trials
    assert trials[0].state.name == "FAIL"
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == 0]
    assert len(retried) == 1 and retried[0].state.name in ("COMPLETE", "PRUNED")
    assert retried[0].params == trials[0].params  # the retry re-runs the dead trial's point
    assert "RUNNING" not in states(load(tmp_path, "rossmann-quadratic"))


def test_sigterm_fails_the_running_trial_at_once(tmp_path: Path) -> None:
    worker = subprocess.Popen(
        [sys.executable, "-m", "models.tune", "--model", "quadratic", "--trials", "1",
         "--build-dir", str(tmp_path), "--smoke-step-seconds", "60", "--no-plots"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    storage = f"sqlite:///{tmp_path / 'tuning' / 'optuna.db'}"
    try:
        deadline = time.monotonic() + 60
        while running_states(tmp_path) != ["RUNNING"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        # The trial row exists a moment before optuna enters the objective; a signal in between
        # is left to the heartbeat (the killed-worker test), so let the objective start first.
        time.sleep(1.5)
        worker.terminate()
        _out, err = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    # run_cli's exit code for an interrupt (optuna itself logs the interrupted trial).
    assert worker.returncode == 130 and err.rstrip().endswith("interrupted")
    assert states(optuna.load_study(study_name="rossmann-quadratic", storage=storage)) == ["FAIL"]


@pytest.mark.parametrize("args, message", [
    (["--worker"], "no study 'rossmann-quadratic'"),
    (["--heartbeat", "10", "--grace", "5"], "--grace"),
    (["--trials", "0", "--timeout", "0"], "give --trials, --timeout or both"),
    (["--fix", "z=1"], "the quadratic study has no parameter 'z'"),
    (["--fix", "x=50"], "outside the study's range"),
    (["--fix", "x"], "--fix takes NAME=VALUE"),
])
def test_user_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                            message: str) -> None:
    base = ["--model", "quadratic", "--build-dir", str(tmp_path)]
    if "--trials" not in args:
        base += ["--trials", "1"]
    with pytest.raises(SystemExit) as exc:
        run_cli(main, base + args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_within_follows_each_distributions_range_step_and_type() -> None:
    d = optuna.distributions
    assert within(d.IntDistribution(16, 256), 255) and not within(d.IntDistribution(16, 256), 2.5)
    assert not within(d.IntDistribution(0, 10, step=2), 3) and within(d.IntDistribution(0, 10, step=2), 4)
    assert not within(d.IntDistribution(0, 10), True)  # a JSON true is no integer here
    assert within(d.FloatDistribution(1e-4, 1e-1, log=True), 0.01) and not within(d.FloatDistribution(0, 1), 1.5)
    stepped = d.FloatDistribution(0.0, 0.5, step=0.1)
    assert within(stepped, 0.3) and not within(stepped, 0.25)
    assert within(d.FloatDistribution(0, 1), 1) and not within(d.FloatDistribution(0, 1), "0.5")
    batch = d.CategoricalDistribution([512, 1024])
    assert within(batch, 1024) and not within(batch, 2048)


def test_a_bad_fix_is_refused_before_any_window_is_read_or_study_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # tmp_path has no feature files: reading a window would fail with another message.
    with pytest.raises(SystemExit) as exc:
        run_cli(main, ["--model", "lgbm", "--trials", "1", "--build-dir", str(tmp_path), "--fix", "num_leaves=2.5"])
    assert exc.value.code == 2 and "outside the study's range" in capsys.readouterr().err
    assert not (tmp_path / "tuning").exists()


def test_fixed_parameters_hold_in_every_trial_and_the_rest_are_tuned(tmp_path: Path) -> None:
    tune(tmp_path, "--model", "quadratic", "--trials", "4", "--startup-trials", "2", "--no-plots",
         "--fix", "x=2")
    trials = load(tmp_path, "rossmann-quadratic").trials
    assert [t.params["x"] for t in trials] == [2.0] * 4
    assert len({t.params["y"] for t in trials}) == 4
    assert varied_params(load(tmp_path, "rossmann-quadratic")) == ["y"]  # what the plots show


def test_a_fixed_parameter_overrides_the_default_trial(build_dir: Path) -> None:
    tune(build_dir, "--model", "lgbm", "--trials", "1", "--threads", "1", "--study", "fixed-rounds", "--no-plots",
         "--fix", "num_boost_round=300", "num_leaves=63")
    first = load(build_dir, "fixed-rounds").trials[0]
    assert first.params["num_boost_round"] == 300 and first.params["num_leaves"] == 63
    assert first.params["min_data_in_leaf"] == 40  # the other defaults stay


def test_a_study_keeps_its_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tune(tmp_path, "--model", "quadratic", "--trials", "1", "--no-plots", "--study", "s")
    with pytest.raises(SystemExit) as exc:
        run_cli(main, ["--model", "lgbm", "--trials", "1", "--build-dir", str(tmp_path), "--study", "s"])
    assert exc.value.code == 2 and "tunes 'quadratic', not 'lgbm'" in capsys.readouterr().err


def test_password_never_reaches_logs_or_json() -> None:
    shown = redact("postgresql+psycopg2://alice:s3cret@db.example:5432/optuna")
    assert "s3cret" not in shown and "alice" in shown and "db.example" in shown


def test_a_new_study_tries_the_default_settings_first(build_dir: Path) -> None:
    tune(build_dir, "--model", "lgbm", "--trials", "1", "--threads", "1", "--study", "defaults-first", "--no-plots")
    first = load(build_dir, "defaults-first").trials[0]
    assert first.params["num_boost_round"] == 600 and first.params["num_leaves"] == 255
    assert first.params["learning_rate"] == pytest.approx(0.05)
