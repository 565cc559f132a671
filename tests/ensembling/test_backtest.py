"""`make backtest`: per-window scores over seeds, and the rule a change must pass against the default."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from competition.metric import rmspe
from competition.pseudo_test import paired_difference
from ensembling import backtest
from ensembling.cli import run_ensemble

REPO = Path(__file__).resolve().parents[2]
WINDOWS = [(1, "recent", "2015-05-03"), (2, "recent", "2015-03-16"), (3, "recent", "2015-01-27"),
           (4, "season", "2014-08-02")]


def _fake_build(path: Path, scores: dict[str, list[float]]) -> None:
    """A build's scores.json as the ensembler writes it: each window's score per model."""
    rows = []
    for j, (index, kind, start) in enumerate(WINDOWS):
        rows.append({"window": index, "kind": kind, "label": f"{kind} {index}", "start": start, "end": start,
                     "train_end": "2013-06-01", "rows": 100,
                     "models": {n: {"rmspe": v[j], "rmspe_last7": v[j] + 0.01} for n, v in scores.items()}})
    (path / "reports").mkdir(parents=True)
    (path / "reports" / "scores.json").write_text(json.dumps({"models": {"ensemble": {"rmspe": 0.1,
                                                                                          "windows": rows}}}))


def _backtest(root: Path, per_seed: dict[int, dict[str, list[float]]]) -> Path:
    for seed, scores in per_seed.items():
        _fake_build(root / "backtest" / f"seed{seed}", scores)
    return root / "backtest"


BASE = {42: {"lgbm": [0.100, 0.104, 0.110, 0.120], "ensemble": [0.095, 0.099, 0.104, 0.115]},
        43: {"lgbm": [0.101, 0.103, 0.111, 0.121], "ensemble": [0.096, 0.098, 0.105, 0.114]}}


def test_summary_averages_seeds_and_weights_the_kinds(tmp_path):
    result = backtest.summarize(_backtest(tmp_path, BASE))
    s = result["summary"]["lgbm"]
    assert result["seeds"] == [42, 43] and list(s["per_window"]) == ["w1", "w2", "w3", "w4"]
    assert s["per_window"]["w1"] == pytest.approx(0.1005)
    assert s["mean"] == pytest.approx(np.mean([0.1005, 0.1035, 0.1105, 0.1205]))
    assert s["season_mean"] == pytest.approx(0.1205)
    # Recent windows half, the same-season window half.
    assert s["estimate"] == pytest.approx(0.5 * np.mean([0.1005, 0.1035, 0.1105]) + 0.5 * 0.1205)
    assert s["per_seed_mean"]["42"] == pytest.approx(np.mean(BASE[42]["lgbm"]))


def test_a_change_passes_only_beyond_the_noise_and_not_worse_in_season(tmp_path):
    base = backtest.summarize(_backtest(tmp_path / "base", BASE))
    # Better by 0.004 on every window and seed: passes.
    good = {s: {n: [x - 0.004 for x in v] for n, v in sc.items()} for s, sc in BASE.items()}
    cmp = backtest.compare(backtest.summarize(_backtest(tmp_path / "good", good)), base)
    m = cmp["models"]["lgbm"]
    assert m["mean"] == pytest.approx(-0.004) and m["better_windows"] == 4 and m["passes"]
    # Better on the mean but worse on the same-season window: does not pass.
    mixed = {s: {n: [v[0] - 0.01, v[1] - 0.01, v[2] - 0.01, v[3] + 0.002] for n, v in sc.items()}
             for s, sc in BASE.items()}
    m = backtest.compare(backtest.summarize(_backtest(tmp_path / "mixed", mixed)), base)["models"]["lgbm"]
    assert m["mean"] < 0 and m["season_mean"] == pytest.approx(0.002) and not m["passes"]
    # A gain smaller than the seed spread: noise.
    noisy = {42: {n: [x - 0.003 for x in v] for n, v in BASE[42].items()},
             43: {n: [x + 0.002 for x in v] for n, v in BASE[43].items()}}
    m = backtest.compare(backtest.summarize(_backtest(tmp_path / "noisy", noisy)), base)["models"]["lgbm"]
    assert m["mean"] == pytest.approx(-0.0005) and m["seed_sd"] > 0.0005 and not m["passes"]


def test_a_change_run_on_fewer_seeds_is_compared_on_the_common_ones(tmp_path):
    # Seed 42 alone, unchanged: no difference, also in the expected test RMSPE (which the default
    # averages over seeds 42 and 43).
    base = backtest.summarize(_backtest(tmp_path / "base", BASE))
    m = backtest.compare(backtest.summarize(_backtest(tmp_path / "one", {42: BASE[42]})), base)["models"]["lgbm"]
    assert m["mean"] == 0 and m["estimate_change"] == pytest.approx(0, abs=1e-12)


def test_cli_writes_the_table_and_the_comparison(tmp_path):
    base = _backtest(tmp_path / "base", BASE)
    change = _backtest(tmp_path / "change", {s: {n: [x - 0.004 for x in v] for n, v in sc.items()}
                                             for s, sc in BASE.items()})
    res = subprocess.run([sys.executable, "-m", "ensembling.backtest", "--build-dir", str(change), "--against",
                          str(base)], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    md = (change / "results.md").read_text()
    assert "| lgbm |" in md and "±" in md and "same season" in md
    verdict = (change / "compare.md").read_text()
    assert "| lgbm | -0.0040 |" in verdict and "passes" in verdict
    # Scores without prediction files: the rows the one-off verdict needs are not there.
    assert "no verdict without the one-off store-days" in verdict
    assert json.loads((change / "compare.json").read_text())["models"]["ensemble"]["passes"]


def test_backtests_with_other_windows_are_not_compared(tmp_path):
    base = backtest.summarize(_backtest(tmp_path / "base", BASE))
    other = backtest.summarize(_backtest(tmp_path / "other", BASE))
    other["windows"][0]["start"] = "2015-05-10"
    with pytest.raises(backtest.DataError, match="different windows"):
        backtest.compare(other, base)


def test_table_from_a_pipeline_build(build_factory, data_dir, synth, tmp_path):
    build = build_factory({"a": synth.noisy(0.08, 1.02), "b": synth.noisy(0.12)}, name="backtest/seed1")
    run_ensemble(build, data_dir)
    result = backtest.summarize(tmp_path / "backtest")
    assert list(result["summary"]) == ["a", "b", "ensemble"]
    assert [w["window"] for w in result["windows"]] == [1, 2, 3]


def test_no_builds_is_a_user_error(tmp_path):
    res = subprocess.run([sys.executable, "-m", "ensembling.backtest", "--build-dir", str(tmp_path)],
                         cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 2
    assert "make backtest" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow
def test_make_backtest_runs_every_seed_and_compares(tmp_path):
    """The Makefile's loop: one build per seed over recent and same-season windows, the table,
    and with AGAINST the paired difference (the same recipe twice: no difference, no pass)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAGGLE", "MAKE"))}
    env.update(KAGGLE_CONFIG_DIR="/nonexistent-kaggle-config", TRACKING="0")
    common = [f"DATA_DIR={tmp_path / 'data'}", "MODELS=baseline", "STORES=5", "BACKTEST_FOLDS=2",
              "BACKTEST_SEASONS=1", "BACKTEST_SEEDS=1 2"]
    for build, extra in (("a", []), ("b", [f"AGAINST={tmp_path / 'a'}"])):
        res = subprocess.run(["make", "--no-print-directory", "backtest", f"BUILD_DIR={tmp_path / build}",
                              *common, *extra], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    result = json.loads((tmp_path / "a" / "backtest" / "results.json").read_text())
    assert result["seeds"] == [1, 2] and [w["kind"] for w in result["windows"]] == ["recent", "recent", "season"]
    cmp = json.loads((tmp_path / "b" / "backtest" / "compare.json").read_text())
    assert cmp["models"]["baseline"]["mean"] == 0 and not cmp["models"]["baseline"]["passes"]
    assert "does not pass" in (tmp_path / "b" / "backtest" / "compare.md").read_text()


def test_an_ensembler_change_is_judged_without_retraining(build_factory, data_dir, synth, tmp_path):
    """`--procedures`: every seed's ensemble decided again with fewer procedures, judged by the rule
    against the default ensemble of the same builds."""
    for seed in (1, 2):
        build = build_factory({"a": synth.noisy(0.08, 1.02), "b": synth.noisy(0.12)}, name=f"backtest/seed{seed}",
                              seed=seed)
        run_ensemble(build, data_dir)
    res = subprocess.run([sys.executable, "-m", "ensembling.backtest", "--build-dir", str(tmp_path / "backtest"),
                          "--procedures", "equal+factor", "blend"], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    saved = json.loads((tmp_path / "backtest" / "procedures.json").read_text())
    assert saved["procedures"] == ["equal+factor", "blend"] and saved["n_windows"] == 3
    assert "against the default: mean difference" in res.stdout
    same = backtest.rescore_ensemble(tmp_path / "backtest", backtest.PROCEDURES)
    default = backtest.summarize(tmp_path / "backtest")["summary"]["ensemble"]["per_seed"]
    assert same.keys() == default.keys() and all(same[s] == pytest.approx(default[s]) for s in same)


def _oof_build(path: Path, preds: dict[str, np.ndarray], sales: np.ndarray) -> None:
    """A build's out-of-window prediction files: four windows of ``len(sales) // 4`` store-days."""
    n = len(sales)
    keys = {"Window": np.repeat([1, 2, 3, 4], n // 4), "Store": np.tile(np.arange(1, n // 4 + 1), 4),
            "Date": np.repeat(pd.to_datetime(["2015-05-03", "2015-03-16", "2015-01-27", "2014-08-02"]), n // 4)}
    (path / "predictions").mkdir(parents=True)
    for name, p in preds.items():
        pd.DataFrame({**keys, "Sales": sales, "prediction": p}).to_parquet(path / "predictions" / f"{name}.oof.parquet")
        pd.DataFrame({"Id": [1], "Store": [1], "Date": [pd.Timestamp("2015-08-01")], "prediction": [1.0]}) \
            .to_parquet(path / "predictions" / f"{name}.test.parquet")


def test_a_verdict_that_rests_on_one_off_days_is_shown(tmp_path):
    """The change is better on every ordinary day, but worse on the one day a store sold a tenth of its
    usual (w4, the same-season window): the rule refuses it, and without that day it would pass."""
    sales = np.full(40, 1000.0)
    sales[35] = 100.0  # w4: the default's baseline says 1000
    sign = np.where(np.arange(40) % 2 == 0, 1.0, -1.0)
    base_lgbm, change_lgbm = sales * (1 + 0.10 * sign), sales * (1 + 0.08 * sign)
    base_lgbm[35], change_lgbm[35] = 1000.0, 1500.0
    for seed in (1, 2):
        _oof_build(tmp_path / "base" / f"seed{seed}", {"baseline": np.full(40, 1000.0), "lgbm": base_lgbm}, sales)
        _oof_build(tmp_path / "change" / f"seed{seed}", {"baseline": np.full(40, 1000.0), "lgbm": change_lgbm}, sales)
    robust = backtest.without_one_off(tmp_path / "change", tmp_path / "base", [1, 2], ["w4"])
    assert robust["one_off_rows"] == {"w1": 0, "w2": 0, "w3": 0, "w4": 1}
    m = robust["models"]["lgbm"]
    assert m["per_window"]["w4"] == pytest.approx(-0.02) and m["passes"]
    def scores(pred: np.ndarray) -> dict[str, dict[str, float]]:
        per_window = {f"w{w}": rmspe(sales[(w - 1) * 10:w * 10], pred[(w - 1) * 10:w * 10]) for w in range(1, 5)}
        return {"1": per_window, "2": per_window}

    full = paired_difference(scores(change_lgbm), scores(base_lgbm), ["w4"])
    assert full["season_mean"] > 0 and not full["passes"]
    md = backtest.compare_markdown({"seeds": [1, 2], "models": {"lgbm": {**full, "estimate_change": 0.0}},
                                    "without_one_off": robust}, tmp_path / "change", tmp_path / "base")
    assert "| lgbm | -0.0200 |" in md.split("Without the one-off")[1] and "passes (differs)" in md
    assert "w4 1" in md


def test_without_a_baseline_there_is_no_one_off_verdict(tmp_path):
    sales = np.full(8, 1000.0)
    for side in ("base", "change"):
        _oof_build(tmp_path / side / "seed1", {"lgbm": sales * 1.1}, sales)
    assert backtest.without_one_off(tmp_path / "change", tmp_path / "base", [1], ["w4"]) is None
