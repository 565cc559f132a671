"""Print what `make submit` produced: each model's pseudo-test RMSPE and the final file.

Before printing anything it checks that what it reports belongs to ``DATA_DIR``: every entry of
``reports/scores.json`` must have been made from the data in ``DATA_DIR`` (its fingerprint,
``competition.dataset``), and ``submission.csv`` must hold exactly the Ids of ``DATA_DIR``'s
sample submission, in its order, and be the file the ensembler recorded. Anything else stops with
exit 2 and the command that rebuilds it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from competition.data import is_synthetic, load_sample_submission
from competition.dataset import Dataset, identify, require_match
from competition.fetch import synthetic_banner
from core.errors import DataError
from core.io import sha256_of
from submissions.score_store import read_scores, scores_path


def check_entries(doc: dict[str, Any], dataset: Dataset, build_dir: Path, data_dir: Path) -> None:
    """Every recorded score must come from ``dataset``: a score of other data is not this build's."""
    for name, entry in sorted(doc.get("models", {}).items()):
        require_match(dataset, entry.get("dataset"), scores_path(build_dir),
                      f"`make submit BUILD_DIR={build_dir} DATA_DIR={data_dir}` remakes the {name!r} entry from "
                      f"the current data (or `make clean BUILD_DIR={build_dir}` to start afresh)")


def check_submission(path: Path, doc: dict[str, Any], data_dir: Path, build_dir: Path) -> int:
    """``submission.csv`` against DATA_DIR's sample submission (row count, Ids and their order) and
    against the file the ensembler recorded; returns its row count."""
    rerun = f"`make submit BUILD_DIR={build_dir} DATA_DIR={data_dir}` writes it again"
    try:
        ids = pd.read_csv(path, usecols=["Id"])["Id"].to_numpy()
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(f"not a submission file ({err})", file=path, fix=rerun) from None
    want = load_sample_submission(data_dir)["Id"].to_numpy()
    if len(ids) != len(want) or not np.array_equal(ids, want):
        raise DataError(f"holds {len(ids):,} rows, but {data_dir}'s sample_submission.csv has {len(want):,} Ids"
                        if len(ids) != len(want) else
                        f"its Ids are not those of {data_dir}'s sample_submission.csv, in its order",
                        file=path, column="Id", fix=rerun)
    recorded = doc.get("models", {}).get("ensemble", {}).get("submission_sha256")
    if recorded is not None and sha256_of(path) != recorded:
        raise DataError("is not the file the ensembler wrote (its sha256 differs from the one recorded in "
                        f"{scores_path(build_dir)})", file=path, fix=rerun)
    return len(ids)


def _expected(entry: dict[str, Any]) -> str:
    if "estimate" not in entry:
        return f"pseudo-test RMSPE {entry['rmspe']:.4f} (mean of the windows)"
    return f"expected {entry['estimate']:.4f} ({entry['estimate_low']:.4f}..{entry['estimate_high']:.4f})"


def _per_window(name: str, entry: dict[str, Any], doc: dict[str, Any]) -> str:
    """``   windows 0.0996 0.1047 0.1102   last 7 days 0.1014`` for a model or the ensemble."""
    if name == "ensemble":
        scores = [w["models"]["ensemble"]["rmspe"] for w in entry.get("windows", [])]
    else:
        scores = [w["rmspe"] for w in entry.get("windows", [])]
    text = ("   windows " + " ".join(f"{v:.4f}" for v in scores)) if scores else ""
    return text + (f"   last 7 days {entry['rmspe_last7']:.4f}" if "rmspe_last7" in entry else "")


def summary(build_dir: Path, data_dir: Path) -> str:
    doc = read_scores(build_dir)
    dataset = identify(data_dir)
    check_entries(doc, dataset, build_dir, data_dir)
    lines = []
    windows = (doc.get("pseudo_test") or {}).get("windows", [])
    if windows:
        lines.append(f"{len(windows)} pseudo-test windows, each shaped like the test: "
                     + ", ".join(f"w{w['index']} {w.get('label', '')} {w['start']}..{w['end']}" for w in windows))
        lines.append("expected test RMSPE (interval: as wide as the windows disagree), then each window's score, "
                     "out-of-window (models trained before each window's gap; the ensemble decided and fitted on "
                     "the windows before each one):")
    models = doc.get("models", {})
    if not models:
        lines.append(f"no model has been scored yet ({scores_path(build_dir)} is empty)")
    for name, entry in sorted(models.items(), key=lambda kv: kv[1].get("estimate", kv[1]["rmspe"])):
        lines.append(f"  {name:<10} {_expected(entry)}{_per_window(name, entry, doc)}")
    final = build_dir / "submissions" / "submission.csv"
    if final.exists():
        n = check_submission(final, doc, data_dir, build_dir)
        lines.append(f"submission: {final} ({n} rows, the Ids of {data_dir}/sample_submission.csv; "
                     f"made from {dataset.describe()})")
    text = "\n".join(lines)
    if is_synthetic(data_dir):
        text = f"{synthetic_banner(data_dir)}\n{text}\n(SYNTHETIC data: these numbers are not Rossmann's)"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    parser.add_argument("--data-dir", type=Path, default=Path("data/raw"))
    args = parser.parse_args(argv)
    print(summary(args.build_dir, args.data_dir), file=sys.stdout)
    return 0


if __name__ == "__main__":
    from core.cli import run_cli

    run_cli(main)
