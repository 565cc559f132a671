"""Print what `make submit` produced: each model's pseudo-test RMSPE and the final file."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from competition.data import is_synthetic
from competition.fetch import synthetic_banner
from submissions.report import read_validation, validation_path


def summary(build_dir: Path, data_dir: Path) -> str:
    doc = read_validation(build_dir)
    lines = []
    windows = (doc.get("validation") or {}).get("windows", [])
    if windows:
        lines.append(f"{len(windows)} pseudo-test windows, each shaped like the test: "
                     + ", ".join(f"{w['start']}..{w['end']}" for w in windows))
        lines.append("RMSPE = mean over the windows, out-of-window (models trained before each window's gap; "
                     "the ensemble's blend fitted on the other windows):")
    models = doc.get("models", {})
    if not models:
        lines.append(f"no model has been scored yet ({validation_path(build_dir)} is empty)")
    for name, entry in sorted(models.items(), key=lambda kv: kv[1]["rmspe"]):
        spread = f" +/- {entry['rmspe_sd']:.4f}" if "rmspe_sd" in entry else ""
        last = f"   last 7 days {entry['rmspe_last7']:.4f}" if "rmspe_last7" in entry else ""
        lines.append(f"  {name:<10} pseudo-test RMSPE {entry['rmspe']:.4f}{spread}{last}")
    final = build_dir / "submissions" / "submission.csv"
    if final.exists():
        n = sum(1 for _ in final.open()) - 1
        lines.append(f"submission: {final} ({n} rows)")
    text = "\n".join(lines)
    if is_synthetic(data_dir):
        text = f"{synthetic_banner(data_dir)}\n{text}\n(SYNTHETIC data: these numbers are not Rossmann's)"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    parser.add_argument("--data-dir", type=Path, default=Path("data/raw"))
    args = parser.parse_args(argv)
    print(summary(args.build_dir, args.data_dir), file=sys.stdout)
    return 0


if __name__ == "__main__":
    from core.cli import run_cli

    run_cli(main)
