"""Two tuning workers on one study in a real PostgreSQL server (loopback, thrown away afterwards).

This is the multi-machine recipe in miniature: the study is created once (``make tune``), then
worker processes (``make tune-worker``) started at the same time share it through the database.
Skips only where no PostgreSQL server can be started (binaries missing, no ``postgres`` user);
with ``REQUIRE_POSTGRES=1`` (set by CI, which installs the server) that is a failure instead.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from core.cli import run_cli
from models.tune.cli import main
from tests.models.feature_build import write_feature_build
from tests.models.pg_server import PostgresServer, PostgresUnavailable

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer().__enter__()
    except PostgresUnavailable as err:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REQUIRE_POSTGRES=1 but no PostgreSQL server could be started: {err}")
        pytest.skip(f"no PostgreSQL server could be started: {err}")
    try:
        yield server
    finally:
        server.stop()


def tune_cmd(build_dir: Path, url: str, trials: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "models.tune", "--model", "lgbm", "--trials", str(trials),
            "--storage", url, "--study", "two-workers", "--build-dir", str(build_dir),
            "--seed", "3", "--threads", "1", "--rows", "2000", "--startup-trials", "3",
            "--no-plots", *extra]


def test_two_workers_share_one_study(postgres: PostgresServer, tmp_path: Path) -> None:
    build = write_feature_build(tmp_path / "build", n_stores=10, n_days=150)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # 1. Create the study once (and run one trial, as `make tune` would).
    subprocess.run(tune_cmd(build, postgres.url, 1), cwd=REPO, env=env, check=True,
                   capture_output=True, timeout=300)
    # 2. Two workers at the same time.
    per_worker = 4
    workers = [subprocess.Popen(tune_cmd(build, postgres.url, per_worker, "--worker"), cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for _ in range(2)]
    outputs = []
    for w in workers:
        out, _ = w.communicate(timeout=300)
        outputs.append(out)
        assert w.returncode == 0, out[-3000:]

    study = optuna.load_study(study_name="two-workers", storage=postgres.url)
    trials = study.get_trials(deepcopy=False)
    states = [t.state.name for t in trials]
    assert len(trials) == 1 + 2 * per_worker, states
    assert all(s in ("COMPLETE", "PRUNED") for s in states), states  # none RUNNING, FAIL or lost
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    # Both workers really ran trials in parallel, and with different parameters (the sampler is
    # seeded per trial number, so workers with one --seed do not duplicate each other's draws).
    assert all("Trial " in out for out in outputs)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == len(trials)
    assert study.best_value < 0.2


def test_worker_cannot_join_a_missing_study(postgres: PostgresServer, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_cli(main, tune_cmd(tmp_path, postgres.url, 1, "--worker", "--study", "nope")[3:])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "no study 'nope'" in err and "Traceback" not in err
