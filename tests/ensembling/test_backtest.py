"""`make backtest`'s table: per-window scores of every model and the ensemble, mean +/- sd."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ensembling import backtest
from ensembling.ensemble import run_ensemble

REPO = Path(__file__).resolve().parents[2]


def test_table_from_a_windowed_build(build_factory, data_dir, synth):
    build = build_factory({"a": synth.noisy(0.08, 1.02), "b": synth.noisy(0.12)})
    run_ensemble(build, data_dir)
    res = subprocess.run([sys.executable, "-m", "ensembling.backtest", "--build-dir", str(build)],
                         cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    saved = json.loads((build / "results.json").read_text())
    s = saved["summary"]
    assert list(s) == ["a", "b", "ensemble"]
    assert [w["window"] for w in saved["windows"]] == [1, 2, 3]
    vals = s["a"]["per_window"]
    assert s["a"]["mean"] == pytest.approx(np.mean(vals)) and s["a"]["sd"] == pytest.approx(np.std(vals, ddof=1))
    assert s["ensemble"]["mean"] < min(s["a"]["mean"], s["b"]["mean"])
    md = (build / "results.md").read_text()
    assert "| ensemble |" in md and "±" in md and "last 7 days" in md


def test_no_ensemble_entry_is_a_user_error(tmp_path):
    res = subprocess.run([sys.executable, "-m", "ensembling.backtest", "--build-dir", str(tmp_path)],
                         cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 2
    assert "make backtest" in res.stderr and "Traceback" not in res.stderr
    assert backtest.LAST_DAYS == 7
