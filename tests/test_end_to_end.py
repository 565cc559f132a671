"""`make submit` from nothing: synthetic data, every model, the ensemble, a valid submission.

Run twice with the same seed into two build folders, it must give byte-identical files.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from competition.data import load_competition
from competition.synthetic import SOLUTION_NAME
from submissions.score import score_submission

REPO = Path(__file__).resolve().parents[1]
# How far a model's expected test RMSPE (from the most recent window and the same season a year back) may lie
# from its real test RMSPE on the 8-store synthetic data (docs/RESULTS.md has the measured gaps).
TOLERANCE = 0.02


def make(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAGGLE", "MAKE"))}
    env.update(env_extra or {})
    env["HOME"] = env.get("HOME", "/tmp")
    # No credentials may leak in from the machine: `make data` must take the synthetic path.
    env["KAGGLE_CONFIG_DIR"] = "/nonexistent-kaggle-config"
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.mark.slow
def test_make_submit_on_synthetic_data_is_valid_and_reproducible(tmp_path: Path) -> None:
    """Also tracked: each build logs one run into a temporary store (checked in assert_tracked)."""
    data = tmp_path / "data"
    store = {"TRACKING": "1", "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"}
    outputs = []
    for run in ("a", "b"):
        result = make("submit", f"DATA_DIR={data}", f"BUILD_DIR={tmp_path / run}", "STORES=8", "SEED=3",
                      env_extra=store)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "SYNTHETIC" in result.stdout + result.stderr
        outputs.append((tmp_path / run / "submissions" / "submission.csv").read_bytes())
    assert outputs[0] == outputs[1], "same seed, different submission.csv"

    sub = pd.read_csv(tmp_path / "a" / "submissions" / "submission.csv")
    with pytest.warns(UserWarning, match="Open is blank"):
        competition = load_competition(data)
    assert list(sub.columns) == ["Id", "Sales"]
    assert sub["Id"].tolist() == competition.sample_submission["Id"].tolist()
    assert sub["Sales"].notna().all() and (sub["Sales"] >= 0).all()
    closed = competition.test.loc[competition.test["Open"] == 0, "Id"]
    assert (sub.set_index("Id").loc[closed, "Sales"] == 0).all()
    for model in ("baseline", "lgbm", "mlp", "ensemble"):
        assert (tmp_path / "a" / "submissions" / f"{model}.csv").exists(), model

    # The generator knows what the test days sold: each model's expected test RMSPE (with its
    # interval, in scores.json) must predict its real test score.
    reported = json.loads((tmp_path / "a" / "reports" / "scores.json").read_text())["models"]
    real = {m: score_submission(tmp_path / "a" / "submissions" / f"{m}.csv", data / SOLUTION_NAME)
            for m in ("baseline", "lgbm", "mlp", "ensemble")}
    for m, score in real.items():
        r = reported[m]
        assert r["estimate_low"] <= r["estimate"] <= r["estimate_high"], m
        assert r["estimate"] == pytest.approx(score, abs=TOLERANCE), (m, r["estimate"], score)
        assert len(r["windows"]) == 2  # the most recent window and the same season a year back
    assert real["ensemble"] < real["baseline"] and real["lgbm"] < real["baseline"]

    # Up to date: a second `make submit` in the same folder retrains nothing, and logs no second run.
    again = make("submit", f"DATA_DIR={data}", f"BUILD_DIR={tmp_path / 'a'}", "STORES=8", "SEED=3",
                 env_extra=store)
    assert again.returncode == 0
    assert "models.lgbm" not in again.stdout and "models.mlp" not in again.stdout
    assert "tracked: nothing changed since run" in again.stdout
    assert_tracked(store["MLFLOW_TRACKING_URI"], tmp_path / "a", data)

    # A column only LightGBM reads changes (a LightGBM-only family, as the features stage rewrites
    # every table): LightGBM trains again, the MLP and the baseline keep their predictions.
    for table in (tmp_path / "a" / "features").rglob("*.parquet"):
        t = pq.read_table(table)
        if "CarnivalDay" in t.column_names:
            pq.write_table(t.set_column(t.column_names.index("CarnivalDay"), "CarnivalDay",
                                        pa.array(range(t.num_rows), pa.float32())), table)
    mlp = (tmp_path / "a" / "predictions" / "mlp.test.parquet").read_bytes()
    lgbm_only = make("submit", f"DATA_DIR={data}", f"BUILD_DIR={tmp_path / 'a'}", "STORES=8", "SEED=3", "TRACKING=0")
    assert lgbm_only.returncode == 0, lgbm_only.stdout[-3000:] + lgbm_only.stderr[-3000:]
    assert "lgbm: training: window w1's tables changed" in lgbm_only.stdout
    for model in ("mlp", "baseline"):
        assert f"{model}: its columns, settings and code are unchanged" in lgbm_only.stdout, model
    assert (tmp_path / "a" / "predictions" / "mlp.test.parquet").read_bytes() == mlp


def assert_tracked(uri: str, build: Path, data: Path) -> None:
    """The run of `make submit`: its settings, data fingerprint, every model's score per window and
    mean, stage costs, the estimate, nested runs per model stage, and the files it made."""
    from mlflow.tracking import MlflowClient  # noqa: PLC0415  (heavy, and only this test reads the store)

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("rossmann").experiment_id])
    top = [r for r in runs if r.data.tags.get("command") == "submit"]
    assert len(top) == 2, "one run per build folder; the up-to-date rerun logs none"
    run = next(r for r in top if r.data.tags["build_dir"] == str(build))
    p, m = run.data.params, run.data.metrics
    assert {k: p[k] for k in ("SEED", "FOLDS", "THREADS", "MODELS", "synthetic")} == \
        {"SEED": "3", "FOLDS": "1", "THREADS": os.environ.get("THREADS", "2"), "MODELS": "baseline lgbm mlp",
         "synthetic": "true"}
    # MLP_MEMBERS was not set, so the run records the model's own default, from its config.
    assert "MLP_MEMBERS" not in p and p["mlp.members"] == "1" and p["mlp.refits"] == "['all', 'recent']"
    assert p["data_fingerprint"] == json.loads((build / "features" / "meta.json").read_text())["data_fingerprint"]
    assert len(p["git_commit"]) == 40 and p["git_dirty"] in ("true", "false")
    assert p["lgbm.num_boost_round"] == "600" and p["mlp.lr"] == "0.0085" and p["mlp.seed"] == "3"
    reported = json.loads((build / "reports" / "scores.json").read_text())["models"]
    for model in ("baseline", "lgbm", "mlp", "ensemble"):
        assert m[f"{model}.rmspe"] == pytest.approx(reported[model]["rmspe"])
        assert {f"{model}.w1.rmspe", f"{model}.w2.rmspe", f"{model}.rmspe_last7"} <= set(m)
    for model in ("baseline", "lgbm", "mlp"):
        assert m[f"{model}.seconds"] > 0 and m[f"{model}.peak_rss_mb"] > 0
    assert m["estimate"] == pytest.approx(reported["ensemble"]["estimate"])
    sub = build / "submissions" / "submission.csv"
    assert run.data.tags["submission_sha256"] == hashlib.sha256(sub.read_bytes()).hexdigest()
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == run.info.run_id}
    assert set(children) == {"baseline", "lgbm", "mlp", "ensemble"}
    assert children["mlp"].data.params["members"] == "1" and "w2.rmspe" in children["mlp"].data.metrics
    files = {f.path for folder in ("reports", "submissions", "settings", "models/mlp", "models/lgbm")
             for f in client.list_artifacts(run.info.run_id, folder)}
    assert {"reports/scores.json", "submissions/submission.csv", "settings/mlp.txt",
            "models/mlp/config.json", "models/lgbm/config.json"} <= files
    stored = Path(client.download_artifacts(run.info.run_id, "submissions/submission.csv", str(build.parent)))
    assert stored.read_bytes() == sub.read_bytes()


def test_mlp_settings_reach_the_mlp_command(tmp_path: Path) -> None:
    """`make -n` passes MLP_MEMBERS and MLP_REFITS to the MLP's command only when they are set (the
    defaults are MLPConfig's), and `make bench` passes the same settings, before anything runs."""
    paths = [f"DATA_DIR={tmp_path / 'data'}", f"BUILD_DIR={tmp_path / 'build'}"]
    default = make("-n", "train-mlp", *paths)
    assert "-m models.mlp --build-dir" in default.stdout and "--threads 2\n" in default.stdout
    assert "--members" not in default.stdout and "--refits" not in default.stdout
    chosen = make("-n", "train-mlp", *paths, "MLP_MEMBERS=6", "MLP_REFITS=all recent")
    assert "--members 6 --refits all recent\n" in chosen.stdout
    bench = make("-n", "bench", *paths, "MLP_MEMBERS=3", "MLP_REFITS=all recent")
    assert '--model-args "mlp=--seed 42 --threads 2 --members 3 --refits all recent"' \
        in bench.stdout and '--model-args "lgbm=--seed 42 --threads 2"' in bench.stdout
    assert not (tmp_path / "build").exists() and not (tmp_path / "data").exists()
