"""``python -m features`` on small synthetic data: outputs, caching, no external tables, errors."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from competition.synthetic import SyntheticConfig, write_dataset
from features.cli import CODE_FILES, build
from features.columns import CAT_COLS, CONT_COLS
from tests.test_import_graph import import_graph, loaded_by, project_modules

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("synthetic")
    write_dataset(d, SyntheticConfig(n_stores=12, seed=3))
    return d


def quiet_build(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build(*args, **kwargs)


def test_build_outputs_and_cache(synthetic_dir, tmp_path):
    meta = quiet_build(synthetic_dir, tmp_path)
    assert meta["cached"] is False
    out = tmp_path / "features"
    tr, te = pd.read_parquet(out / "train.parquet"), pd.read_parquet(out / "test.parquet")
    on_disk = json.loads((out / "meta.json").read_text())
    assert on_disk["n_train"] == len(tr) and on_disk["n_test"] == len(te)
    assert set(on_disk["cat_cols"]) == set(CAT_COLS) and set(on_disk["cont_cols"]) <= set(CONT_COLS)
    assert {"Store", "Date", "Sales", "Customers", "Open", "Closed"} <= set(tr.columns)
    assert "Id" in te.columns
    assert not list(out.glob(".*.tmp"))  # atomic writes left nothing behind
    assert quiet_build(synthetic_dir, tmp_path)["cached"] is True
    # a different validation start is a different build
    vs = (pd.Timestamp(on_disk["valid_start"]) - pd.Timedelta(days=7)).date().isoformat()
    again = quiet_build(synthetic_dir, tmp_path, vs)
    assert again["cached"] is False and again["valid_start"] == vs


def test_changed_input_rebuilds(synthetic_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(synthetic_dir, data)
    assert quiet_build(data, tmp_path / "b")["cached"] is False
    weather = data / "external" / "weather.csv"
    weather.write_text(weather.read_text().replace(",Rain,", ",Snow,", 1))
    assert quiet_build(data, tmp_path / "b")["cached"] is False


def test_without_external_warns_once_and_drops_columns(synthetic_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(synthetic_dir, data)
    shutil.rmtree(data / "external")
    with pytest.warns(UserWarning, match="no external tables") as rec:
        meta = build(data, tmp_path / "b")
    assert sum("no external tables" in str(w.message) for w in rec) == 1
    assert meta["external"] is False
    assert "State" not in meta["cat_cols"] and "trend" not in meta["cont_cols"]
    assert "Promo_fw" in meta["cat_cols"]


def test_cli_data_error_exit_code_2(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-m", "features", "--data-dir", str(tmp_path / "nothing"),
                        "--build-dir", str(tmp_path / "b")], cwd=REPO, env=env, capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "error:" in r.stderr


def test_the_cache_key_covers_every_module_the_feature_tables_come_from() -> None:
    """Editing a module that `features.pipeline` or the CLI loads must invalidate the cached tables:
    each such module of `features/` and `competition/` is in `CODE_FILES`."""
    modules = project_modules()
    edges, _ = import_graph(modules)
    loaded = loaded_by("features.pipeline", edges) | loaded_by("features.cli", edges)
    needed = {str(modules[m].relative_to(REPO)) for m in loaded if m.split(".")[0] in ("features", "competition")}
    # Tools that only read the tables may stay out.
    needed -= {"features/preprocess.py"}
    assert needed <= set(CODE_FILES), sorted(needed - set(CODE_FILES))
