"""``python -m ensembling.backtest --build-dir B``: the per-window table of a pipeline run.

``make backtest`` runs the very pipeline ``make submit`` runs, with more pseudo-test windows
(``BACKTEST_FOLDS``, into ``BUILD_DIR/backtest``), then this module turns its
``reports/validation.json`` into ``results.md``/``results.json``: every model's and the ensemble's
RMSPE on each window (the ensemble's fitted on the other windows), with mean +/- sd over windows,
overall and on each window's last days, where the test is hardest.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import DataError
from core.io import write_json_atomic, write_text_atomic
from ensembling.ensemble import LAST_DAYS
from ensembling.outputs import read_validation


def window_scores(doc: dict[str, Any]) -> dict[str, Any]:
    """``{"windows": [...], "summary": {name: {per_window, mean, sd, last_mean}}}`` from validation.json."""
    ens = doc.get("models", {}).get("ensemble")
    if not ens or "windows" not in ens:
        raise DataError("reports/validation.json has no ensemble entry with per-window scores",
                        fix="run the pipeline first (`make backtest` does: `make ensemble` with BACKTEST_FOLDS)")
    windows = ens["windows"]
    names = sorted(windows[0]["models"], key=lambda n: (n == "ensemble", n))
    summary = {}
    for n in names:
        v = np.array([w["models"][n]["rmspe"] for w in windows], dtype=np.float64)
        last = np.array([w["models"][n][f"rmspe_last{LAST_DAYS}"] for w in windows], dtype=np.float64)
        summary[n] = {"per_window": v.tolist(), "mean": float(v.mean()),
                      "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                      "last_per_window": last.tolist(), "last_mean": float(last.mean())}
    return {"windows": [{k: w[k] for k in ("window", "start", "end", "rows")} for w in windows],
            "summary": summary}


def results_markdown(result: dict[str, Any]) -> str:
    windows = result["windows"]
    head = ["model"] + [f"w{w['window']} ({w['start']}..{w['end']})" for w in windows] + \
        ["mean ± sd", f"last {LAST_DAYS} days, mean"]
    lines = [f"# Pseudo-test backtest ({len(windows)} windows)", "",
             "Each window is built like the test (same length, stores and gap after train); every model was "
             "trained on the data before the window's gap only. The ensemble's score on a window comes from a "
             "blend fitted on the other windows.", "",
             "| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for name, s in result["summary"].items():
        cells = [f"{v:.4f}" for v in s["per_window"]]
        lines.append(f"| {name} | " + " | ".join(cells)
                     + f" | {s['mean']:.4f} ± {s['sd']:.4f} | {s['last_mean']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ensembling.backtest", description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", type=Path, default=Path("build/backtest"))
    args = ap.parse_args(argv)
    result = window_scores(read_validation(args.build_dir))
    write_json_atomic(args.build_dir / "results.json", result)
    text = results_markdown(result)
    write_text_atomic(args.build_dir / "results.md", text)
    print(text)
    print(f"wrote {args.build_dir / 'results.md'} and results.json")
    return 0


if __name__ == "__main__":
    from core.cli import run_cli

    run_cli(main)
