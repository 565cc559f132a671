"""A model's stage keeps its predictions when nothing it reads changed (models.inputs, kept_stage)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.registry import DEFAULT_FAMILIES, family_columns
from models import baseline
from models.common import kept_stage, run_stage
from models.inputs import BASE_COLS, StageInputs, record_path
from models.lgbm.recipe import LGBMRecipe
from models.mlp.config import MLPConfig
from models.mlp.recipe import MLPRecipe
from submissions.score_store import read_scores


def _quiet() -> tuple[list[str], object]:
    lines: list[str] = []
    return lines, lines.append


def _rewrite(path: Path, change) -> None:
    df = pd.read_parquet(path)
    change(df)
    df.to_parquet(path, index=False)


def _age(build_dir: Path, seconds: float) -> None:
    """Every file of the build ``seconds`` older, so that a touch shows in the timestamps."""
    for path in build_dir.rglob("*"):
        if path.is_file():
            st = path.stat()
            os.utime(path, (st.st_atime - seconds, st.st_mtime - seconds))


def test_an_unchanged_stage_keeps_its_predictions_and_records_its_scores_again(build_dir: Path) -> None:
    first = baseline.train_and_predict(build_dir, log=lambda _: None)
    predictions = build_dir / "predictions" / "baseline.test.parquet"
    written = predictions.read_bytes()
    (build_dir / "reports" / "scores.json").unlink()
    _age(build_dir, 100)
    before = predictions.stat().st_mtime

    lines, log = _quiet()
    again = baseline.train_and_predict(build_dir, log=log)
    assert again == first
    assert any("kept its predictions" in line for line in lines), lines
    assert predictions.read_bytes() == written
    # Touched: `make` sees the predictions newer than the tables they were made from.
    assert predictions.stat().st_mtime > before
    assert read_scores(build_dir)["models"]["baseline"]["rmspe"] == first["rmspe"]


def test_a_column_the_model_does_not_read_keeps_it_one_it_reads_retrains_it(build_dir: Path) -> None:
    """The case it is for: a family added for another model rewrites every table."""
    baseline.train_and_predict(build_dir, log=lambda _: None)
    windows = build_dir / "features" / "windows"
    for table in [*windows.glob("w*/*.parquet"), *(build_dir / "features").glob("t*.parquet")]:
        if table.name != "labels.parquet":
            _rewrite(table, lambda df: df.insert(len(df.columns), "OtherModelsColumn", 1.0))
    # ... and the features stage lists it in each meta.json.
    for meta in [*windows.glob("w*/meta.json"), build_dir / "features" / "meta.json"]:
        doc = json.loads(meta.read_text())
        meta.write_text(json.dumps({**doc, "cont_cols": [*doc.get("cont_cols", []), "OtherModelsColumn"]}))
    lines, log = _quiet()
    assert baseline.train_and_predict(build_dir, log=log) is not None
    assert any("kept its predictions" in line for line in lines), lines

    def flip_promo(df: pd.DataFrame) -> None:
        df["Promo"] = 1 - df["Promo"]

    _rewrite(windows / "w2" / "train.parquet", flip_promo)
    lines, log = _quiet()
    baseline.train_and_predict(build_dir, log=log)
    assert any("training: window w2's tables changed" in line for line in lines), lines
    assert not any("kept" in line for line in lines)


@pytest.mark.parametrize("what", ["labels", "meta", "competition", "settings", "code"])
def test_labels_meta_the_competition_settings_and_code_each_retrain(build_dir: Path, what: str) -> None:
    runs = []

    def recipe(train: pd.DataFrame, test: pd.DataFrame, meta: dict) -> tuple[np.ndarray, dict]:
        runs.append(len(train))
        return np.full(len(test), 5000.0), {}

    inputs = StageInputs(("DayOfWeek",), {"k": 1}, code=("models/baseline.py",))
    run_stage(build_dir, "m", recipe, log=lambda _: None, inputs=inputs)
    assert kept_stage(build_dir, "m", inputs, log=lambda _: None) is not None
    w1 = build_dir / "features" / "windows" / "w1"
    if what == "labels":
        _rewrite(w1 / "labels.parquet", lambda df: df.__setitem__("Sales", df["Sales"] + 1))
    elif what == "meta":
        (w1 / "meta.json").write_text((w1 / "meta.json").read_text().replace('"valid_start": "', '"valid_start": "1'))
    elif what == "competition":
        _rewrite(build_dir / "features" / "test.parquet", lambda df: df.__setitem__("DayOfWeek", 1))
    elif what == "settings":
        inputs = StageInputs(("DayOfWeek",), {"k": 2}, code=("models/baseline.py",))
    else:
        inputs = StageInputs(("DayOfWeek",), {"k": 1}, code=("models/common.py",))
    lines, log = _quiet()
    assert kept_stage(build_dir, "m", inputs, log=log) is None
    assert lines and "changed since" in lines[0]


def test_a_recipe_sees_only_the_columns_it_states(build_dir: Path) -> None:
    seen: list[set[str]] = []

    def recipe(train: pd.DataFrame, test: pd.DataFrame, meta: dict) -> tuple[np.ndarray, dict]:
        seen.append(set(train.columns))
        return np.full(len(test), 5000.0), {}

    run_stage(build_dir, "m", recipe, log=lambda _: None, inputs=StageInputs(("Promo",)))
    present = set(pd.read_parquet(build_dir / "features" / "train.parquet").columns)
    assert seen and all(cols == ({"Promo", *BASE_COLS} & present) for cols in seen), seen
    assert record_path(build_dir, "m").exists()

    def reads_more(train: pd.DataFrame, test: pd.DataFrame, meta: dict) -> tuple[np.ndarray, dict]:
        return np.full(len(test), float(train["DayOfWeek"].mean())), {}

    with pytest.raises(KeyError, match="DayOfWeek"):
        run_stage(build_dir, "m2", reads_more, log=lambda _: None, inputs=StageInputs(("Promo",)))


def test_code_must_name_files_of_the_repository() -> None:
    with pytest.raises(FileNotFoundError, match="models/nonexistent"):
        StageInputs(("Promo",), code=("models/nonexistent",)).code_digest()


def test_each_model_states_its_own_family_columns_and_not_the_others() -> None:
    """A LightGBM-only family (carnival) is LightGBM's input and not the MLP's, and vice versa."""
    lgbm_only = set(sum(family_columns([f for f in DEFAULT_FAMILIES if f.models == ("lgbm",)]), []))
    assert lgbm_only, "no LightGBM-only family in the defaults any more: pick another example"
    lgbm = LGBMRecipe({}, seed=0, num_boost_round=10).stage_inputs()
    mlp = MLPRecipe(MLPConfig(threads=1)).stage_inputs()
    assert lgbm_only <= set(lgbm.columns) and not lgbm_only & set(mlp.columns)
    shared = set(sum(family_columns(DEFAULT_FAMILIES, "mlp"), []))
    assert shared <= set(mlp.columns) and shared & set(lgbm.columns)
    # What changes predictions changes the digest; a progress bar does not.
    assert MLPRecipe(MLPConfig(threads=1, progress=False)).stage_inputs().settings_digest() == mlp.settings_digest()
    assert MLPRecipe(MLPConfig(threads=1, seed=7)).stage_inputs().settings_digest() != mlp.settings_digest()
    assert LGBMRecipe({}, seed=0, num_boost_round=11).stage_inputs().settings_digest() != lgbm.settings_digest()


def test_the_code_digest_ignores_comments_docstrings_and_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    monkeypatch.setattr("models.inputs.ROOT", tmp_path)
    monkeypatch.setattr("models.inputs.SHARED_CODE", ())
    source = tmp_path / "m.py"
    inputs = StageInputs(("Promo",), code=("m.py",))

    def digest(text: str) -> str:
        source.write_text(text)
        return inputs.code_digest()

    first = digest('"""Module."""\ndef f(x):\n    """Doc."""\n    return x * 2  # why\n')
    assert digest('def f(x):\n\n    # another comment\n    return (x *\n            2)\n') == first
    assert digest('def f(x):\n    return x * 3\n') != first
    assert digest('def f(x):\n    return "x * 2"\n') != first


def test_a_failed_run_or_a_broken_record_never_keeps_predictions(build_dir: Path) -> None:
    inputs = StageInputs(("DayOfWeek",))
    calls = []

    def recipe(train: pd.DataFrame, test: pd.DataFrame, meta: dict) -> tuple[np.ndarray, dict]:
        calls.append(1)
        if len(calls) == 6:  # the second run's competition fit, after its windows
            raise RuntimeError("killed")
        return np.full(len(test), 5000.0), {}

    run_stage(build_dir, "m", recipe, log=lambda _: None, inputs=inputs)
    with pytest.raises(RuntimeError, match="killed"):
        run_stage(build_dir, "m", recipe, log=lambda _: None, inputs=inputs)
    assert not record_path(build_dir, "m").exists()
    assert kept_stage(build_dir, "m", inputs, log=lambda _: None) is None

    run_stage(build_dir, "m", recipe, log=lambda _: None, inputs=inputs)
    record_path(build_dir, "m").write_text(json.dumps({"version": 1, "digests": {}}))
    assert kept_stage(build_dir, "m", inputs, log=lambda _: None) is None
