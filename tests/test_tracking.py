"""Run tracking (core.tracking, submissions.track, submissions.runs, models.tune.tracking).

Every test uses a temporary SQLite store; tests/conftest.py turns tracking off for all others.
The synthetic `make submit` that logs a full run is checked in test_end_to_end.py (it reuses
that test's build).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from core.tracking import RunRecord, Tracker, flatten, log_run
from models.tune.cli import main as tune_main
from pets.tracking import cv_record, photos_fingerprint, train_record
from submissions import leaderboard, runs, track
from submissions.upload import upload

REPO = Path(__file__).resolve().parents[1]
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused

# The kaggle CLI's two calls: `competitions submit` succeeds; `competitions submissions` prints
# its fixed-width table (KaggleApi.print_table's layout) with one scored submission per line of
# $SCORED ("description|publicScore|privateScore[|date]", date default now).
STAND_IN = """#!{python}
import datetime, os, sys
if sys.argv[1:3] == ["competitions", "submit"]:
    print("Successfully submitted to Rossmann Store Sales")
    sys.exit(0)
fields = ["ref", "fileName", "date", "description", "status", "publicScore", "privateScore"]
now = str(datetime.datetime.now(datetime.UTC).replace(tzinfo=None))
rows = [[str(50000 + i), "submission.csv", (f[3:] or [now])[0], f[0], "SubmissionStatus.COMPLETE", f[1], f[2]]
        for i, f in enumerate(line.split("|") for line in os.environ["SCORED"].splitlines())]
widths = [max(len(f), *(len(r[k]) for r in rows)) for k, f in enumerate(fields)]
fmt = "".join("{{:<" + str(w + 2) + "}}" for w in widths)
print(fmt.format(*[f + "  " for f in fields]))
print(fmt.format(*["-" * w + "  " for w in widths]))
for r in rows:
    print(fmt.format(*[v + "  " for v in r]))
"""


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow database, its schema created once (its migrations take seconds)."""
    db = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_store: Path) -> str:
    """Tracking on, into a SQLite store under tmp_path."""
    (tmp_path / "runs").mkdir()
    shutil.copyfile(empty_store, tmp_path / "runs" / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    monkeypatch.setenv("TRACKING", "1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def fake_build(root: Path, seed: int = 1, lgbm: float = 0.12) -> Path:
    """The files `make submit` leaves that tracking reads: two windows, lgbm and the ensemble."""
    b = root / f"build-{seed}"
    windows = [{"index": k, "start": f"2015-0{8 - k}-01", "end": f"2015-0{8 - k}-20", "n_days": 20} for k in (1, 2)]
    write = {
        "reports/scores.json": {"models": {
            "lgbm": {"rmspe": lgbm, "rmspe_sd": 0.01, "seconds": 12.5, "peak_rss_mb": 700, "params_source": "defaults",
                     "windows": [{**w, "rmspe": lgbm + d, "rmspe_last7": 0.2, "fit_seconds": 4.0}
                                 for w, d in zip(windows, (-0.01, 0.01))]},
            "ensemble": {"rmspe": lgbm - 0.01, "factor": 0.99, "weights": {"lgbm": 1.0}, "procedure": "blend",
                         "windows": [{"window": w["index"], "models": {"ensemble": {"rmspe": lgbm - 0.01},
                                                                       "lgbm": {"rmspe": lgbm}}} for w in windows]}}},
        "features/meta.json": {"data_fingerprint": "ab" * 32, "source": "synthetic", "windows": windows,
                               "build_seconds": 1.5},
        "models/lgbm/config.json": {"params": {"num_leaves": 255, "seed": seed}, "num_boost_round": 600,
                                    "pseudo_test_rmspe": lgbm},
    }
    for name, doc in write.items():
        (b / name).parent.mkdir(parents=True, exist_ok=True)
        (b / name).write_text(json.dumps(doc))
    (b / "settings").mkdir()
    (b / "settings" / "lgbm.txt").write_text(f"--seed {seed} --threads 1\n")
    (b / "submissions").mkdir()
    body = f"Id,Sales\n1,{5000 + seed}.000000\n2,0.000000\n"
    for name in ("ensemble.csv", "submission.csv"):
        (b / "submissions" / name).write_text(body)
    return b


def client_for(uri: str) -> MlflowClient:
    return MlflowClient(uri)


def all_runs(uri: str, experiment: str = "rossmann") -> list:
    client = client_for(uri)
    return client.search_runs([client.get_experiment_by_name(experiment).experiment_id])


def test_a_build_is_logged_with_nested_stages_and_once(tmp_path: Path, store: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    b = fake_build(tmp_path)
    settings = {"SEED": "1", "FOLDS": "2"}
    run_id = track.track_command("submit", b, None, settings)
    assert run_id and track.track_command("submit", b, None, settings) == run_id
    assert "nothing changed since run" in capsys.readouterr().out
    found = all_runs(store)
    top = next(r for r in found if r.info.run_id == run_id)
    assert top.data.params["SEED"] == "1" and top.data.params["lgbm.params.num_leaves"] == "255"
    assert "lgbm.pseudo_test_rmspe" not in top.data.params, "a config's measured fields are not settings"
    assert top.data.metrics["lgbm.w2.rmspe"] == pytest.approx(0.13)
    assert top.data.metrics["ensemble.w1.rmspe"] == pytest.approx(0.11)
    assert top.data.metrics["estimate"] == pytest.approx(0.11)
    assert top.data.tags["submission_model"] == "ensemble"
    children = {r.info.run_name: r for r in found if r.data.tags.get("mlflow.parentRunId") == run_id}
    assert set(children) == {"lgbm", "ensemble"}
    assert children["lgbm"].data.params["settings"] == "--seed 1 --threads 1"
    assert children["ensemble"].data.metrics["weight.lgbm"] == 1.0
    assert children["ensemble"].data.params["procedure"] == "blend"
    # Backtests get a nested run per window too, with every model's score on it.
    backtest = track.track_command("backtest", b, None, settings)
    windows = {r.info.run_name: r.data.metrics for r in all_runs(store)
               if r.data.tags.get("mlflow.parentRunId") == backtest and r.data.tags.get("window")}
    assert windows["w1"] == {"lgbm.rmspe": pytest.approx(0.11), "lgbm.rmspe_last7": 0.2,
                             "ensemble.rmspe": pytest.approx(0.11)}


def test_estimate_fields_of_validation_json_are_logged_when_present(tmp_path: Path, store: str) -> None:
    b = fake_build(tmp_path)
    doc = json.loads((b / "reports" / "scores.json").read_text())
    doc["models"]["ensemble"].update(estimate=0.105, estimate_low=0.1, estimate_high=0.11)
    (b / "reports" / "scores.json").write_text(json.dumps(doc))
    record = track.pipeline_record(b, None, "submit", {})
    assert {k: record.metrics[k] for k in ("estimate", "estimate_low", "estimate_high")} == \
        {"estimate": 0.105, "estimate_low": 0.1, "estimate_high": 0.11}
    assert record.metrics["ensemble.estimate_high"] == 0.11


def test_an_unreachable_store_only_warns_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TRACKING", "1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", UNREACHABLE)
    tracker = Tracker("rossmann")
    record = RunRecord("x", params={"a": 1}, metrics={"m": 1.0}, children=[RunRecord("child")])
    assert tracker.record(record) is None and tracker.record(record) is None
    assert tracker.search("") == []
    err = capsys.readouterr().err
    assert err.count("warning: run tracking failed") == 1 and "TRACKING=0" in err

    # The pipeline's own command exits 0 and leaves the build as it was.
    b = fake_build(tmp_path)
    before = {p: p.read_bytes() for p in b.rglob("*") if p.is_file()}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-m", "submissions.track", "submit", "--build-dir", str(b)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stderr.count("warning: run tracking failed") == 1, res.stderr
    assert before == {p: p.read_bytes() for p in b.rglob("*") if p.is_file()}


def test_a_failing_record_never_fails_the_command(tmp_path: Path, store: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    def broken() -> RunRecord:
        raise OSError("photo vanished")

    assert log_run("pets", broken, "make pets") is None
    assert capsys.readouterr().err.count("photo vanished") == 1


def write_stand_in(tmp_path: Path) -> Path:
    exe = tmp_path / "bin" / "kaggle"
    exe.parent.mkdir()
    exe.write_text(STAND_IN.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_upload_tags_the_run_and_leaderboard_writes_the_score_back(
        tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for k in [k for k in os.environ if k.startswith("KAGGLE")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("KAGGLE", str(write_stand_in(tmp_path)))
    monkeypatch.setenv("KAGGLE_API_TOKEN", "tok")
    first, second = fake_build(tmp_path, seed=1), fake_build(tmp_path, seed=2, lgbm=0.10)
    ids = [track.track_command("submit", b, None, {"SEED": s}) for b, s in ((first, "1"), (second, "2"))]
    upload(first, "blend v1")
    client = client_for(store)
    assert client.get_run(ids[0]).data.tags["kaggle_message"] == "blend v1"
    # The same message for two files (the default MSG is the commit + MODELS): Kaggle's time of
    # each submission tells them apart.
    for b, hour in ((first, "09"), (second, "10")):
        sha = track.file_sha256(b / "submissions" / "submission.csv")
        track.tag_upload({"sha256": sha, "file": "f", "message": "abc1234 lgbm",
                          "time_utc": f"2026-12-06T{hour}:00:00+00:00"})
    assert len(json.loads(client.get_run(ids[0]).data.tags["kaggle_uploads"])) == 2
    monkeypatch.setenv("SCORED", "abc1234 lgbm|0.10500|0.11800|2026-12-06 10:00:04.25\n"
                                 "abc1234 lgbm|0.11200|None|2026-12-06 09:00:03.5\n"
                                 "blend v1|0.11200|0.12000\n"
                                 "never tracked|0.3|0.3")
    assert leaderboard.main([]) == 0
    assert "wrote 3 Kaggle score(s)" in capsys.readouterr().out
    scored = [client.get_run(i).data.metrics for i in ids]
    assert (scored[0]["kaggle_public_score"], scored[0]["kaggle_private_score"]) == (0.112, 0.12)
    assert (scored[1]["kaggle_public_score"], scored[1]["kaggle_private_score"]) == (0.105, 0.118)
    table = runs.list_runs(runs.open_store("rossmann"), 10, None)
    assert "kaggle" in table.splitlines()[1] and "0.1050" in table


def test_upload_of_an_untracked_file_and_an_unreachable_store_still_upload(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for k in [k for k in os.environ if k.startswith("KAGGLE")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("KAGGLE", str(write_stand_in(tmp_path)))
    monkeypatch.setenv("KAGGLE_API_TOKEN", "tok")
    monkeypatch.setenv("TRACKING", "1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", UNREACHABLE)
    b = fake_build(tmp_path)
    row = upload(b, "x")
    assert (b / "submissions" / "log.csv").read_text().count(row["sha256"]) == 1
    assert capsys.readouterr().err.count("warning: run tracking failed") == 1


def test_parse_submissions_reads_the_cli_table_and_csv() -> None:
    table = ("ref    fileName        date                 description   status     publicScore  privateScore  \n"
             "-----  --------------  -------------------  ------------  ---------  -----------  ------------  \n"
             "12345  submission.csv  2026-12-06 04:00:00  blend v1, b   COMPLETE   0.11000      0.12000       \n"
             "12346  submission.csv  2026-12-06 05:00:00  pending       PENDING                               \n")
    rows = track.parse_submissions("Using competition: rossmann-store-sales\n" + table)
    assert rows[0] == {"ref": "12345", "fileName": "submission.csv", "date": "2026-12-06 04:00:00",
                       "description": "blend v1, b", "status": "COMPLETE", "publicScore": "0.11000",
                       "privateScore": "0.12000"}
    assert rows[1]["publicScore"] == ""
    csv_rows = track.parse_submissions('ref,fileName,date,description,status,publicScore,privateScore\n'
                                       '1,s.csv,2026-12-06,"a, b",COMPLETE,0.1,0.2\n')
    assert csv_rows[0]["description"] == "a, b" and csv_rows[0]["publicScore"] == "0.1"
    assert track.parse_submissions("No submissions found") == []


def test_optuna_trials_are_nested_runs_of_the_study_run(tmp_path: Path, store: str) -> None:
    assert tune_main(["--model", "quadratic", "--trials", "3", "--no-plots", "--build-dir", str(tmp_path),
                      "--seed", "7"]) == 0
    found = all_runs(store)
    study = [r for r in found if r.data.tags.get("command") == "tune"]
    assert len(study) == 1
    parent = study[0]
    assert parent.data.params["study"] == "rossmann-quadratic" and parent.data.metrics["finished"] == 3
    trials = [r for r in found if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.info.run_name for r in trials) == ["0", "1", "2"]
    assert all({"x", "y"} <= set(r.data.params) and "value" in r.data.metrics for r in trials)
    assert parent.data.metrics["best_value"] == min(r.data.metrics["value"] for r in trials)
    assert "tuning/quadratic.json" in {f.path for f in client_for(store).list_artifacts(parent.info.run_id, "tuning")}


def test_runs_table_shows_only_the_settings_that_differ_and_diff_shows_both(tmp_path: Path, store: str) -> None:
    a = track.track_command("submit", fake_build(tmp_path, seed=1), None, {"SEED": "1", "FOLDS": "2"})
    b = track.track_command("submit", fake_build(tmp_path, seed=2, lgbm=0.10), None, {"SEED": "2", "FOLDS": "2"})
    tracker = runs.open_store("rossmann")
    lines = runs.list_runs(tracker, 10, "submit").splitlines()
    head = lines[1].split()
    assert "SEED" in head and "FOLDS" not in head and {"lgbm", "ensemble", "estimate"} <= set(head)
    assert lines[2].startswith(b[:8]) and lines[3].startswith(a[:8]), "newest first"
    text = runs.diff_runs(runs.resolve(tracker, a[:6], 1), runs.resolve(tracker, None, 0))
    assert "SEED" in text and "lgbm.params.seed" in text and "FOLDS" not in text.split("metric")[0]
    assert "lgbm.rmspe" in text and "-0.0200" in text


def test_runs_commands_explain_a_missing_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'none' / 'mlflow.db'}")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run(["make", "--no-print-directory", "runs"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2 and "no tracked runs yet" in res.stderr and "make submit" in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "none").exists()


def test_tracking_off_writes_no_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKING", "0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    assert track.track_command("submit", fake_build(tmp_path), None, {}) is None
    assert log_run("pets", lambda: RunRecord("pets"), "make pets") is None
    assert not (tmp_path / "runs").exists()


def test_flatten_and_sha_helpers() -> None:
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": "x"}) == {"a.b": "1", "a.c": "[1, 2]", "d": "x"}
    assert track.window_name({"index": 3}) == "w3" and track.window_name({"window": 2}) == "w2"
    assert track.parse_time("2026-12-06 04:00:00.5") == datetime(2026, 12, 6, 4, 0, 0, 500000, tzinfo=UTC)
    path = Path(__file__)
    assert track.file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_bench_measurements_join_the_run(tmp_path: Path, store: str) -> None:
    b = tmp_path / "bench-build"
    shutil.copytree(fake_build(tmp_path), b / "bench" / "work" / "build")
    (b / "bench" / "results.json").write_text(json.dumps({
        "data_fingerprint": "cd" * 32, "machine": {"cpus": 2, "torch_threads": 2},
        "stages": {"features": {"wall_s": 29.0, "cpu_s": 29.3, "peak_rss_mb": 978, "repeats": 3},
                   "train lgbm": {"wall_s": 162.3, "cpu_s": 307.2, "peak_rss_mb": 3003, "rmspe": 0.1021}},
        "matmul": {"fp32_gflops": 359.0}, "scaling": {"fits": {"features": {"r2": 0.889}}}}))
    run_id = track.track_command("bench", b, None, {"SEED": "42"})
    run = client_for(store).get_run(run_id)
    assert run.data.metrics["lgbm.wall_s"] == 162.3 and run.data.metrics["features.peak_rss_mb"] == 978
    assert run.data.metrics["lgbm.rmspe"] == 0.1021 and run.data.metrics["scaling.features.r2"] == 0.889
    assert run.data.params["machine.cpus"] == "2" and run.data.tags["command"] == "bench"
    assert "bench/results.json" in {f.path for f in client_for(store).list_artifacts(run_id, "bench")}


def test_pets_runs_log_accuracy_history_config_and_photo_set(tmp_path: Path, store: str) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("Bengal_1.jpg", "Bengal_2.jpg", "Pug_1.jpg"):
        (photos / name).write_bytes(b"x" * len(name))
    paths = sorted(photos.iterdir())
    out = tmp_path / "pets"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    history = [{"stage": 0, "train_loss": 1.5, "valid_loss": 1.2, "error_rate": 0.4},
               {"stage": 1, "train_loss": 0.9, "valid_loss": 0.8, "error_rate": 0.2}]
    metrics = {"preset": "head", "held_out_accuracy": 0.8, "total_seconds": 5.0, "history": history}
    run_id = log_run("pets", lambda: train_record({"backbone": "efficientnet_lite2", "sizes": [192, 260]}, metrics,
                                                  photos, paths, out), "make pets")
    client = client_for(store)
    run = client.get_run(run_id)
    assert run.data.metrics["held_out_accuracy"] == 0.8 and run.data.params["sizes"] == "[192, 260]"
    assert [m.value for m in client.get_metric_history(run_id, "epoch.error_rate")] == [0.4, 0.2]
    assert run.data.params["data_fingerprint"] == photos_fingerprint(paths)
    (photos / "Pug_1.jpg").write_bytes(b"longer")
    assert photos_fingerprint(paths) != run.data.params["data_fingerprint"]

    result = {"backbone": "efficientnet_lite0", "mode": "probe", "n_folds": 5, "repeats": 1, "seed": 42,
              "summary": {"accuracy": {"mean": 0.851, "sd": 0.025, "n": 5}}, "seconds_per_fold": 1.5, "folds": []}
    cv_id = log_run("pets", lambda: cv_record([result], photos, paths, out), "make pets-cv")
    assert client.get_run(cv_id).data.metrics["efficientnet_lite0.probe.accuracy.mean"] == 0.851
    table = runs.list_runs(runs.open_store("pets"), 10, None)
    assert "held_out_accuracy" in table and "efficientnet_lite0.probe.accuracy" in table and "0.8510" in table
