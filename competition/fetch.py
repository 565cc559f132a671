"""`make data`: make sure DATA_DIR holds competition data.

1. Competition files already there: nothing to do.
2. Kaggle credentials configured: download with the kaggle CLI (a 403 means: accept the rules).
3. Otherwise: generate the synthetic Rossmann-shaped dataset, and say so loudly.

Then it validates the data (empty files, a train period too short for one pseudo-test window and
every check of ``competition.data`` stop here, with exit 2) and, given ``--build-dir``, records
which dataset the build is made from (``competition.dataset``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from competition.data import (
    COMPETITION_FILES,
    ZIP_NAME,
    CompetitionData,
    has_competition_data,
    is_synthetic,
    load_competition,
)
from competition.dataset import identify, read_record, write_record
from competition.pseudo_test import period_shape, windows
from competition.synthetic import SyntheticConfig, write_dataset
from core.errors import DataError
from core.kaggle_cli import COMPETITION, credentials_configured, explain_failure, run_kaggle
from core.seed import DEFAULT_SEED

BANNER = "#" * 78


def synthetic_banner(data_dir: Path) -> str:
    return (f"{BANNER}\n# SYNTHETIC DATA: {data_dir} holds generated Rossmann-shaped data, not Kaggle's.\n"
            "# Every score below is for the synthetic data. For the real competition put\n"
            "# rossmann-store-sales.zip into DATA_DIR or configure Kaggle credentials.\n"
            f"{BANNER}")


def ensure_data(data_dir: Path, seed: int, stores: int, download: bool = True) -> str:
    """Return where the data came from: "present", "downloaded" or "synthetic"."""
    if has_competition_data(data_dir):
        if is_synthetic(data_dir):
            print(synthetic_banner(data_dir), file=sys.stderr)
        return "present"
    partial = [f for f in COMPETITION_FILES if (data_dir / f).exists()]
    if partial:
        # Some of the user's files are here: generating data next to them would mix the two.
        missing = [f for f in COMPETITION_FILES if f not in partial]
        raise DataError(f"found {partial} but not {missing}", file=data_dir / missing[0],
                        fix=f"add the missing file(s) or put {ZIP_NAME} into {data_dir}")
    if download and credentials_configured():
        data_dir.mkdir(parents=True, exist_ok=True)
        print(f"downloading {COMPETITION} into {data_dir} with the kaggle CLI ...")
        result = run_kaggle(["competitions", "download", COMPETITION, "-p", str(data_dir)])
        if result.returncode != 0:
            raise DataError(explain_failure(result), file=data_dir / "rossmann-store-sales.zip",
                            fix="fix the Kaggle access above, or remove the credentials to use synthetic data")
        print(result.stdout.strip())
        return "downloaded"
    print(synthetic_banner(data_dir), file=sys.stderr)
    print(f"no competition data in {data_dir} and no Kaggle credentials: generating SYNTHETIC data "
          f"({stores} stores, seed {seed})", file=sys.stderr)
    write_dataset(data_dir, SyntheticConfig(n_stores=stores, seed=seed))
    return "synthetic"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data/raw"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--stores", type=int, default=SyntheticConfig.n_stores,
                        help="size of the synthetic dataset (only used when it is generated)")
    parser.add_argument("--no-download", action="store_true", help="never call the kaggle CLI")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="record the dataset in BUILD_DIR/dataset.json (rewritten only when it changes)")
    args = parser.parse_args(argv)
    ensure_data(args.data_dir, args.seed, args.stores, download=not args.no_download)
    dataset = identify(args.data_dir)
    if args.build_dir is not None and read_record(args.build_dir) == dataset:
        # Validated when it was recorded, and not a byte has changed since: nothing to read.
        print(f"{dataset.describe()}: unchanged since {args.build_dir} recorded it")
        return 0
    data = load_competition(args.data_dir)
    check_one_window(data)
    print(describe(data))
    if args.build_dir is not None:
        write_record(args.build_dir, dataset)
        print(f"{args.build_dir / 'dataset.json'}: this build is now made from {dataset.describe()}")
    return 0


def check_one_window(data: CompetitionData) -> None:
    """A train period too short for one pseudo-test window stops here, not in `make features`."""
    shape = period_shape(data.train["Date"], data.test["Date"])
    windows(data.train["Date"], shape, 1, where=str(data.data_dir / "train.csv"))


def describe(data: CompetitionData) -> str:
    """A few lines on what was loaded: rows, stores, date ranges, source."""
    tr, te = data.train, data.test
    ext = "with" if data.external is not None else "WITHOUT"
    return (f"{data.source} data in {data.data_dir}: train {len(tr):,} rows, {tr['Store'].nunique()} stores, "
            f"{tr['Date'].min().date()}..{tr['Date'].max().date()}; test {len(te):,} rows, "
            f"{te['Store'].nunique()} stores, {te['Date'].min().date()}..{te['Date'].max().date()}; "
            f"{ext} external tables")


if __name__ == "__main__":
    from core.cli import run_cli

    run_cli(main)
