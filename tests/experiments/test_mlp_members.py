"""`python -m experiments.mlp_members` on small hand-made feature files: the window score against
the number of MLP members."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from experiments.mlp_members import main as members_main
from experiments.mlp_members import member_curve, to_markdown
from models.mlp import MLPConfig
from tests.models.feature_build import write_feature_build


@pytest.fixture(scope="module")
def feature_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_feature_build(tmp_path_factory.mktemp("members-features"), n_stores=12, n_days=200)


@pytest.fixture()
def build_dir(feature_build: Path, tmp_path: Path) -> Path:
    shutil.copytree(feature_build / "features", tmp_path / "features")
    return tmp_path


def test_member_curve_scores_the_first_k_members(build_dir: Path) -> None:
    """`python -m experiments.mlp_members`: k=1 is the first network alone; every k is scored per window."""
    config = MLPConfig().with_params({"layers": [64, 32], "batch_size": 64, "lr": 1e-2, "epochs": 2, "threads": 1,
                                      "progress": False, "seed": 5, "members": 2, "refits": ["all"]})
    curve = member_curve(build_dir, config)
    assert set(curve) == {"w1", "w2"}
    for row in curve.values():
        assert row["1"] == pytest.approx(row["net0"]) and {"2", "2_last7", "net1"} <= set(row)
    assert "| 2 |" in to_markdown(curve, 2, "cmd")
    mixed = config.with_params({"refits": ["all", "recent"]})
    assert "seed 5 (refit all) 0." in to_markdown(curve, 2, "cmd", mixed).splitlines()[-1]


def test_members_cli_takes_refits_and_params(build_dir: Path, capsys) -> None:
    params = json.dumps({"layers": [32, 16], "batch_size": 64, "lr": 1e-2, "epochs": 1})
    args = ["--build-dir", str(build_dir), "--max-members", "2", "--seed", "5", "--threads", "1",
            "--refits", "all", "recent", "--params", params]
    assert members_main(args) == 0
    text = (build_dir / "models" / "mlp" / "members.md").read_text()
    assert "--refits all recent --params" in text and "| 2 |" in text
    # Each member gives two networks (its refits).
    assert "seed 5 (refit recent) 0." in text and "seed 6 (refit all) 0." in text
    curve = json.loads((build_dir / "models" / "mlp" / "members.json").read_text())["curve"]
    assert set(curve) == {"w1", "w2"} and all(0 < row["2"] < 1 for row in curve.values())
    assert all({"net0", "net1", "net2", "net3"} <= set(row) and "net4" not in row for row in curve.values())
    with pytest.raises(ValueError, match="unknown MLP parameter 'layer'"):
        members_main(["--build-dir", str(build_dir), "--params", '{"layer": [8]}'])
