"""The MLP's embeddings as 2-D maps: the tables, the map agreement against chance, the command."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from models.mlp import MLPConfig, MLPRegressor, embedding_table, project, save_embedding_maps
from models.mlp.cli import main
from models.mlp.embeddings import STATE_CENTRES, map_agreement, map_positions
from tests.models.feature_build import write_feature_build

REPO = Path(__file__).resolve().parents[2]
STATES = ["BE", "BW", "BY", "HB,NI", "HE", "HH", "NW", "RP", "SH", "SN", "ST", "TH"]


@pytest.fixture(scope="module")
def fitted() -> MLPRegressor:
    """A small network on rows with every column the maps draw."""
    rng = np.random.default_rng(0)
    n = 3000
    df = pd.DataFrame({"Store": rng.integers(1, 30, n), "State": rng.choice(STATES, n),
                       "DayOfWeek": rng.integers(1, 8, n), "Month": rng.integers(1, 13, n),
                       "Promo": rng.integers(0, 2, n).astype(float)})
    df["Sales"] = (5000 * (1 + 0.3 * df["Promo"]) * (1 + 0.1 * df["DayOfWeek"])).round()
    df["Customers"] = (df["Sales"] / 9).round()
    config = MLPConfig(cat_cols=["Store", "State", "DayOfWeek", "Month"], cont_cols=["Promo"], layers=[32, 16],
                       ps=[0.0, 0.0], epochs=1, batch_size=256, min_steps=10, progress=False, threads=1, seed=0)
    return MLPRegressor(config).fit(df)


def test_embedding_table_holds_the_networks_vectors_by_category(fitted: MLPRegressor) -> None:
    table = embedding_table(fitted, "DayOfWeek")
    assert list(table.index) == [1, 2, 3, 4, 5, 6, 7]  # the data's values, not the preprocessor's floats
    j = fitted.cat_cols_.index("DayOfWeek")
    weights = fitted.model_.embeds.table(j).detach().numpy()
    np.testing.assert_array_equal(table.to_numpy(), weights[1:8])  # row 0 is the unknown code
    assert sorted(embedding_table(fitted, "State").index) == sorted(STATES)
    with pytest.raises(ValueError, match="not one of the network's embedded columns"):
        embedding_table(fitted, "Promo")


def test_an_embedding_that_is_the_map_is_found_and_a_random_one_is_not() -> None:
    where = map_positions(pd.Index(STATES, name="State"))
    rng = np.random.default_rng(1)
    # The map rotated, scaled and shifted into 6 dimensions, with a little noise.
    rotation = np.linalg.qr(rng.normal(size=(6, 6)))[0][:2]
    as_map = pd.DataFrame(3 * where.to_numpy() @ rotation + 0.01 * rng.normal(size=(len(where), 6)) + 5,
                          index=where.index)
    found = map_agreement(as_map, project(as_map, "pca"), seed=0)
    assert found["procrustes_disparity"] < 0.01 and found["procrustes_p"] <= 0.002
    assert found["mantel_r"] > 0.99 and found["mantel_p"] <= 0.002
    noise = pd.DataFrame(rng.normal(size=(len(where), 6)), index=where.index)
    chance = map_agreement(noise, project(noise, "pca"), seed=0)
    assert chance["procrustes_p"] > 0.05 and chance["procrustes_disparity"] > 0.3
    assert set(found["states"]) == set(STATES) and all(s in STATE_CENTRES for s in STATES)


def test_the_maps_and_their_numbers_are_written(fitted: MLPRegressor, tmp_path: Path) -> None:
    written = save_embedding_maps(fitted, tmp_path, store_types={s: "abcd"[s % 4] for s in range(1, 30)}, seed=0)
    assert set(written) == {"states", "stores", "weekdays", "months", "json"}
    assert all(p.exists() for p in written.values())
    record = json.loads(written["json"].read_text())
    assert record["method"] == "pca" and record["columns"]["State"]["categories"] == len(STATES)
    assert 0 <= record["states"]["procrustes_disparity"] <= 1 and 0 < record["states"]["procrustes_p"] <= 1
    assert save_embedding_maps(fitted, tmp_path / "tsne", method="tsne", seed=0)["weekdays"].exists()


@pytest.fixture(scope="module")
def feature_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_feature_build(tmp_path_factory.mktemp("emb-features"), n_stores=12, n_days=200)


def test_the_command_draws_a_trained_build_and_refuses_an_untrained_one(build_dir: Path, tmp_path: Path,
                                                                       capsys) -> None:
    out = tmp_path / "maps"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # Untrained: exit 2, nothing written, and the fix says how to train.
    result = subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-m", "models.mlp", "--build-dir",
                             str(build_dir), "--embeddings", str(out)], capture_output=True, text=True, env=env,
                            cwd=REPO)
    assert result.returncode == 2 and "make train-mlp" in result.stderr and not out.exists()
    torch.manual_seed(0)
    assert main(["--build-dir", str(build_dir), "--seed", "1", "--epochs", "1", "--threads", "1", "--no-progress",
                 "--params", json.dumps({"layers": [32, 16], "batch_size": 64})]) == 0
    assert main(["--build-dir", str(build_dir), "--embeddings", str(out)]) == 0
    # The hand-made features have no State: stores (coloured by type), weekdays and months only.
    assert {p.name for p in out.iterdir()} == {"stores.png", "weekdays.png", "months.png", "embeddings.json"}
    assert "embedding maps (pca)" in capsys.readouterr().out


def test_make_embeddings_only_reads_the_build_and_make_report_draws_them(tmp_path: Path) -> None:
    def dry_run(*args: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
        return subprocess.run(["make", "--no-print-directory", "-n", *args, f"BUILD_DIR={tmp_path / 'b'}",
                               f"DATA_DIR={tmp_path / 'd'}"], cwd=REPO, capture_output=True, text=True,
                              env=env).stdout
    plan = dry_run("embeddings", f"EMBEDDINGS_DIR={tmp_path / 'maps'}", "EMBEDDINGS_METHOD=tsne")
    assert f"-m models.mlp --build-dir {tmp_path / 'b'} --embeddings {tmp_path / 'maps'} --embeddings-method tsne" \
        in plan
    assert "-m features" not in plan and "--members" not in plan  # nothing is built or trained
    assert f"--embeddings {tmp_path / 'b'}/reports/embeddings/" in dry_run("report")
    assert "--embeddings" not in dry_run("report", "MODELS=baseline lgbm")
