"""Print what `make submit` produced: each model's validation RMSPE and the final file."""
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
    window = doc.get("validation") or {}
    if window:
        lines.append(f"validation window {window.get('valid_start')}..{window.get('valid_end')} "
                     f"({window.get('n_days')} days)")
    models = doc.get("models", {})
    if not models:
        lines.append(f"no model has been scored yet ({validation_path(build_dir)} is empty)")
    for name, entry in sorted(models.items(), key=lambda kv: kv[1]["rmspe"]):
        lines.append(f"  {name:<10} validation RMSPE {entry['rmspe']:.4f}")
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
    from competition.cli import run_cli

    run_cli(main)
