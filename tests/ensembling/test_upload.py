"""`python -m submissions.upload` / `submissions.leaderboard` with a stand-in and with the real kaggle CLI."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import DataError
from submissions.leaderboard import against_estimates
from submissions.upload import read_log, upload

REPO = Path(__file__).resolve().parents[2]
REAL_KAGGLE = REPO / ".venv" / "bin" / "kaggle"

STAND_IN = """#!{python}
import json, os, sys
with open(os.environ["ARGV_LOG"], "a") as fh:
    fh.write(json.dumps(sys.argv[1:]) + "\\n")
if os.environ.get("STAND_IN_FAIL"):
    print(os.environ["STAND_IN_FAIL"], file=sys.stderr)
    sys.exit(1)
print("Successfully submitted to Rossmann Store Sales")
"""


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """A build dir where submission.csv is a copy of ensemble.csv, as the ensembler leaves it."""
    b = tmp_path / "build"
    (b / "submissions").mkdir(parents=True)
    body = "Id,Sales\n1,5000.000000\n2,0.000000\n"
    (b / "submissions" / "ensemble.csv").write_text(body)
    (b / "submissions" / "lgbm.csv").write_text("Id,Sales\n1,5100.000000\n2,0.000000\n")
    (b / "submissions" / "submission.csv").write_text(body)
    (b / "reports").mkdir()
    (b / "reports" / "scores.json").write_text(json.dumps(
        {"models": {"lgbm": {"rmspe": 0.12}, "ensemble": {"rmspe": 0.1034567, "weights": {"lgbm": 1.0}}}}))
    return b


@pytest.fixture
def stand_in(tmp_path: Path) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    exe = d / "kaggle"
    exe.write_text(STAND_IN.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment: a temp HOME, no KAGGLE_* settings from the developer's machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE") and k != "XDG_CONFIG_HOME"}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), PYTHONPATH=str(REPO), ARGV_LOG=str(tmp_path / "argv.log"), **extra)
    return env


def _run(module: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True, text=True)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_upload_with_stand_in_on_path(tmp_path, build, stand_in):
    sub = build / "submissions" / "submission.csv"
    before = sub.read_bytes()
    env = _env(tmp_path, KAGGLE="kaggle", KAGGLE_USERNAME="someone", KAGGLE_KEY="secret",
               PATH=f"{stand_in.parent}{os.pathsep}{os.environ['PATH']}")
    res = _run("submissions.upload", ["--build-dir", str(build), "--message", "blend v1, factor 0.98"], env)
    assert res.returncode == 0, res.stderr
    argv = [json.loads(line) for line in (tmp_path / "argv.log").read_text().splitlines()]
    assert argv == [["competitions", "submit", "rossmann-store-sales", "-f", str(sub), "-m", "blend v1, factor 0.98"]]
    assert sub.read_bytes() == before
    rows = list(csv.DictReader((build / "submissions" / "log.csv").open()))
    assert len(rows) == 1
    row = rows[0]
    assert row["file"] == str(sub) and row["sha256"] == _sha(sub)
    assert row["message"] == "blend v1, factor 0.98"
    assert row["validation_rmspe"] == "0.103457"  # the ensemble's: submission.csv is a copy of ensemble.csv
    assert row["estimate"] == ""  # this build recorded none
    assert row["time_utc"].endswith("+00:00")


def test_upload_with_stand_in_via_env_appends_log(tmp_path, build, stand_in):
    env = _env(tmp_path, KAGGLE=str(stand_in), KAGGLE_API_TOKEN="tok")
    for msg in ("first", "second"):
        assert _run("submissions.upload", ["--build-dir", str(build), "-m", msg], env).returncode == 0
    rows = list(csv.DictReader((build / "submissions" / "log.csv").open()))
    assert [r["message"] for r in rows] == ["first", "second"]


def test_upload_403_says_accept_the_rules(tmp_path, build, stand_in):
    sub = build / "submissions" / "submission.csv"
    before = sub.read_bytes()
    env = _env(tmp_path, KAGGLE=str(stand_in), KAGGLE_API_TOKEN="tok", STAND_IN_FAIL="403 Client Error: Forbidden")
    res = _run("submissions.upload", ["--build-dir", str(build), "-m", "x"], env)
    assert res.returncode == 2
    assert "rules" in res.stderr and "Traceback" not in res.stderr
    assert sub.read_bytes() == before
    assert not (build / "submissions" / "log.csv").exists()


def test_upload_without_credentials_real_cli(tmp_path, build):
    """The real kaggle CLI, no credentials anywhere: clear message, non-zero exit, file unchanged."""
    assert REAL_KAGGLE.exists(), "the venv's kaggle CLI is part of the pinned set-up"
    sub = build / "submissions" / "submission.csv"
    before = sub.read_bytes()
    env = _env(tmp_path, KAGGLE=str(REAL_KAGGLE))
    res = _run("submissions.upload", ["--build-dir", str(build), "-m", "x"], env)
    assert res.returncode != 0
    assert "credentials" in res.stderr and "kaggle.json" in res.stderr and "KAGGLE_API_TOKEN" in res.stderr
    assert "Traceback" not in res.stderr
    assert sub.read_bytes() == before
    assert not (build / "submissions" / "log.csv").exists()


def test_real_cli_failure_is_explained_when_precheck_is_skipped(tmp_path, build, monkeypatch):
    """Past our own check, the real CLI's "Authentication required" still becomes a clear error."""
    for k in [k for k in os.environ if k.startswith("KAGGLE")] + ["XDG_CONFIG_HOME"]:
        monkeypatch.delenv(k, raising=False)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAGGLE", str(REAL_KAGGLE))
    sub = build / "submissions" / "submission.csv"
    before = sub.read_bytes()
    with pytest.raises(DataError, match="no usable credentials"):
        upload(build, "x", check_credentials=False)
    assert sub.read_bytes() == before
    assert not (build / "submissions" / "log.csv").exists()


@pytest.mark.parametrize("recorded_by", ["validation entry", "build record"])
def test_upload_refuses_a_synthetic_submission_without_the_override(tmp_path, build, stand_in, recorded_by):
    """A file recorded as made from synthetic data (by the entry that recorded its sha256, or, for a
    file no entry recorded, by the build's dataset.json) is refused before the CLI runs;
    ALLOW_SYNTHETIC=1 sends it."""
    sub = build / "submissions" / "submission.csv"
    if recorded_by == "validation entry":
        doc = json.loads((build / "reports" / "scores.json").read_text())
        doc["models"]["ensemble"].update(data_source="synthetic", dataset="ab" * 32, submission_sha256=_sha(sub))
        (build / "reports" / "scores.json").write_text(json.dumps(doc))
    else:
        (build / "dataset.json").write_text(json.dumps({"data_dir": "/d", "fingerprint": "ab" * 32,
                                                        "source": "synthetic"}))
    before = sub.read_bytes()
    env = _env(tmp_path, KAGGLE=str(stand_in), KAGGLE_API_TOKEN="tok")
    res = subprocess.run(["make", "--no-print-directory", "upload", f"BUILD_DIR={build}", "MSG=x"], cwd=REPO, env=env,
                         capture_output=True, text=True)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "SYNTHETIC" in res.stderr and "ALLOW_SYNTHETIC=1" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "argv.log").exists() and not (build / "submissions" / "log.csv").exists()
    assert sub.read_bytes() == before
    res = subprocess.run(["make", "--no-print-directory", "upload", f"BUILD_DIR={build}", "MSG=x",
                          "ALLOW_SYNTHETIC=1"], cwd=REPO, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert len(list(csv.DictReader((build / "submissions" / "log.csv").open()))) == 1


def test_upload_missing_file_is_a_data_error(tmp_path, stand_in):
    env = _env(tmp_path, KAGGLE=str(stand_in), KAGGLE_API_TOKEN="tok")
    res = _run("submissions.upload", ["--build-dir", str(tmp_path / "nothing"), "-m", "x"], env)
    assert res.returncode == 2 and "make submit" in res.stderr
    assert not (tmp_path / "argv.log").exists()


def test_leaderboard_with_stand_in(tmp_path, stand_in):
    env = _env(tmp_path, KAGGLE=str(stand_in), KAGGLE_USERNAME="u", KAGGLE_KEY="k")
    res = _run("submissions.leaderboard", [], env)
    assert res.returncode == 0, res.stderr
    argv = json.loads((tmp_path / "argv.log").read_text())
    assert argv == ["competitions", "submissions", "rossmann-store-sales"]


def test_leaderboard_without_credentials(tmp_path):
    res = _run("submissions.leaderboard", [], _env(tmp_path, KAGGLE=str(REAL_KAGGLE)))
    assert res.returncode == 2 and "credentials" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("target", ["upload", "leaderboard"])
def test_make_upload_and_leaderboard_never_build(tmp_path, stand_in, target):
    """`make upload` without a submission exits 2 with the way to make one; neither target builds,
    trains or writes into DATA_DIR (an old DATA_DIR must not retrain every model on the way)."""
    data_dir, build_dir = tmp_path / "raw", tmp_path / "build"
    env = _env(tmp_path, KAGGLE=str(stand_in), KAGGLE_API_TOKEN="tok")
    res = subprocess.run(["make", "--no-print-directory", target, f"BUILD_DIR={build_dir}",
                          f"DATA_DIR={data_dir}", "MSG=x"], cwd=REPO, env=env, capture_output=True, text=True)
    assert not data_dir.exists() and not (build_dir / "features").exists()
    assert "models." not in res.stdout and "competition.fetch" not in res.stdout
    if target == "upload":
        assert res.returncode == 2, res.stdout + res.stderr
        assert "make submit" in res.stderr and "never builds" in res.stderr
        assert not (tmp_path / "argv.log").exists()
    else:
        assert res.returncode == 0, res.stdout + res.stderr


def test_upload_logs_the_estimate_and_leaderboard_sets_it_beside_the_score(tmp_path, build, stand_in):
    doc = json.loads((build / "reports" / "scores.json").read_text())
    doc["models"]["ensemble"].update(estimate=0.1012, estimate_low=0.0970, estimate_high=0.1054)
    (build / "reports" / "scores.json").write_text(json.dumps(doc))
    # A log written before the estimate columns existed keeps its rows.
    (build / "submissions" / "log.csv").write_text(
        "time_utc,file,sha256,message,validation_rmspe\n2026-12-01T08:00:00+00:00,old.csv,ab,first try,0.120000\n")
    env = _env(tmp_path, KAGGLE=str(stand_in), KAGGLE_API_TOKEN="tok")
    assert _run("submissions.upload", ["--build-dir", str(build), "-m", "blend v2"], env).returncode == 0
    rows = list(csv.DictReader((build / "submissions" / "log.csv").open()))
    assert [r["message"] for r in rows] == ["first try", "blend v2"]
    assert rows[0]["estimate"] == "" and rows[1]["estimate"] == "0.101200" and rows[1]["estimate_high"] == "0.105400"
    kaggle = ("fileName,date,description,status,publicScore,privateScore\n"
              f"submission.csv,{rows[1]['time_utc'][:19].replace('T', ' ')},blend v2,complete,0.10310,0.10902\n"
              "old.csv,2026-12-01 08:00:02,first try,complete,0.13000,0.14000\n")
    table = against_estimates(kaggle, read_log(build / "submissions" / "log.csv"))
    lines = table.splitlines()
    assert "0.1012 (0.0970..0.1054)" in lines[2] and "0.10310" in lines[2] and lines[2].endswith("inside")
    assert "0.120000" in lines[3] and "0.13000" in lines[3] and "first try" in lines[3]
