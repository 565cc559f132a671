"""``python -m experiments.ablation`` on small synthetic data: every family's columns exist, variants
are scored on each window and seed, and a rerun resumes instead of refitting."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from competition.synthetic import SyntheticConfig, write_dataset
from core.errors import DataError
from experiments.ablation import DEFAULT_BASE, FAMILIES, main, proposal, summarize, variants
from experiments.candidates import CANDIDATE_FAMILIES


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("synthetic")
    write_dataset(d, SyntheticConfig(n_stores=8, seed=4))
    return d


def test_variants_add_and_remove_whole_families() -> None:
    out = variants(["store_history", "closures"])
    base_cats, base_conts = out["base"]
    assert "HistSalesMean" in base_conts and "HistSales91Mean" not in base_conts
    assert not set(FAMILIES["store_history"][1]) & set(out["base - store_history"][1])
    assert set(FAMILIES["history_spans"][1]) <= set(out["base + history_spans"][1])
    assert out["base + promo2_month"][0] == base_cats + ["IsPromo2Month"]
    name, (cats, conts) = proposal("+day_counters,-weather", ["store_history", "closures"])
    assert name == "base +day_counters,-weather" and cats == base_cats
    assert "DaysToPromo" in conts and "Max_TemperatureC" not in conts and "HistSalesMean" in conts
    with pytest.raises(DataError, match="not \\+FAMILY"):
        proposal("day_counters", ["store_history"])


def test_default_base_is_what_make_submit_fits() -> None:
    # A family that left the defaults (lagged_level) must not stay in the base it is removed from.
    assert not set(DEFAULT_BASE) & {f.name for f in CANDIDATE_FAMILIES}
    assert {"store_history", "closures", "day_counters", "weather"} <= set(DEFAULT_BASE)
    assert "base + lagged_level" in variants(DEFAULT_BASE) and "base - lagged_level" not in variants(DEFAULT_BASE)


def test_ablation_scores_each_window_and_seed_and_resumes(synthetic_dir: Path, tmp_path: Path, capsys) -> None:
    args = ["--data-dir", str(synthetic_dir), "--build-dir", str(tmp_path), "--folds", "2", "--seasons", "1",
            "--seeds", "0", "1", "--rounds", "20", "--threads", "1",
            "--only", "base", "base + history_spans", "base - day_counters"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(args) == 0
    results = json.loads((tmp_path / "ablation" / "results.json").read_text())
    assert set(results) == {"base", "base + history_spans", "base - day_counters"}
    # Two recent windows and the same-season one, each variant judged by the rule.
    assert all(set(by_seed) == {"0", "1"} and set(by_seed["0"]) == {"w1", "w2", "w3"} for by_seed in results.values())
    rows = {r["variant"]: r for r in summarize(results, ["w3"])}
    assert 0 < rows["base"]["mean"] < 0.5 and rows["base"]["sd"] > 0 and "vs_base" not in rows["base"]
    verdict = rows["base + history_spans"]["vs_base"]
    assert verdict["mean"] == pytest.approx(rows["base + history_spans"]["mean"] - rows["base"]["mean"])
    assert verdict["season_mean"] == pytest.approx(rows["base + history_spans"]["w3"] - rows["base"]["w3"])
    assert isinstance(verdict["passes"], bool)
    md = (tmp_path / "ablation" / "results.md").read_text()
    assert "| base - day_counters |" in md and "pass" in md
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(args) == 0
    assert "RMSPE" not in capsys.readouterr().out.split("| variant")[0]  # nothing refitted
    # Scores from another fit must not be mixed in: other settings are refused, the scores kept.
    before = (tmp_path / "ablation" / "results.json").read_text()
    with pytest.raises(DataError, match="other settings"):
        main([*args, "--learning-rate", "0.05"])
    assert (tmp_path / "ablation" / "results.json").read_text() == before
