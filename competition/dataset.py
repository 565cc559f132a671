"""Which dataset a build was made from, and the check every stage runs before it reads.

``make`` decides by file dates alone, and dates say nothing about *which* data a file holds: a
Kaggle zip unzipped or restored from a copy keeps its old dates, so a build made from synthetic
data would look up to date for it. So every build records its dataset in ``BUILD_DIR/dataset.json``
(``make data`` writes it, and rewrites it only when it changes): the resolved ``DATA_DIR``, a
fingerprint of its input files' contents (sha256, cheap even for Kaggle's zip) and whether the
data is synthetic. A new path or a new fingerprint makes ``make`` call the features stage, which
decides from its own input hash (data fingerprint + code, not the path) whether anything must be
rebuilt; the same data under another path reuses everything.

Every stage output carries the fingerprint of the data it was made from (``features/meta.json``,
the predictions' parquet metadata, each ``reports/scores.json`` entry), and each stage refuses,
with exit 2 and the command to run, to combine outputs of different datasets.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from competition.data import fingerprint, has_competition_data, is_synthetic
from core.errors import DataError
from core.io import parquet_metadata, write_json_atomic

RECORD_NAME = "dataset.json"
# The key under which a parquet file (core.io.write_parquet) records the fingerprint of its data.
PARQUET_KEY = "dataset"


@dataclass(frozen=True)
class Dataset:
    """A dataset's identity: where it is, what its files hold, and whether it is synthetic."""

    data_dir: str  # resolved path, for messages (the fingerprint, not the path, decides reuse)
    fingerprint: str  # sha256 over the names and bytes of the input files
    source: str  # "kaggle" or "synthetic"

    @property
    def short(self) -> str:
        return self.fingerprint[:12]

    def describe(self) -> str:
        return f"{self.source} data {self.short} from {self.data_dir}"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Dataset:
        return cls(str(d["data_dir"]), str(d["fingerprint"]), str(d["source"]))


def identify(data_dir: str | Path) -> Dataset:
    """The identity of the data in ``data_dir`` (which must hold competition data)."""
    data_dir = Path(data_dir)
    if not has_competition_data(data_dir):
        raise DataError(f"no competition data in {data_dir}", file=data_dir,
                        fix="run `make data DATA_DIR=...` (it downloads or generates the data) or point DATA_DIR "
                            "at a folder holding rossmann-store-sales.zip or its four CSVs")
    return Dataset(str(data_dir.resolve()), fingerprint(data_dir),
                   "synthetic" if is_synthetic(data_dir) else "kaggle")


def record_path(build_dir: str | Path) -> Path:
    return Path(build_dir) / RECORD_NAME


def read_record(build_dir: str | Path) -> Dataset | None:
    """``BUILD_DIR/dataset.json`` (what ``make data`` last recorded), or None where there is none."""
    path = record_path(build_dir)
    if not path.exists():
        return None
    try:
        return Dataset.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(f"not a dataset record ({err})", file=path,
                        fix="delete it; `make data` writes it again") from None


def write_record(build_dir: str | Path, dataset: Dataset) -> bool:
    """Write ``BUILD_DIR/dataset.json`` only when it changes (its date is what ``make`` follows);
    returns whether it changed."""
    if read_record(build_dir) == dataset:
        return False
    write_json_atomic(record_path(build_dir), dataset.to_dict())
    return True


def current(build_dir: str | Path, data_dir: str | Path | None = None) -> Dataset | None:
    """The dataset a stage must match: ``data_dir``'s when given, else the build's record."""
    if data_dir is not None:
        return identify(data_dir)
    return read_record(build_dir)


def parquet_dataset(path: str | Path) -> str | None:
    """The data fingerprint a parquet file records (None when it records none)."""
    return parquet_metadata(path).get(PARQUET_KEY)


def require_match(expected: Dataset | None, found: str | None, file: str | Path, rerun: str) -> None:
    """Refuse a file made from another dataset than ``expected`` (exit 2 via DataError).

    ``found`` is the fingerprint the file records (None: it records none, i.e. it predates
    dataset records, and is refused too, since nothing says which data made it). ``rerun`` is
    the command that remakes the file from ``expected``.
    """
    if expected is None or found == expected.fingerprint:
        return
    made = f"was made from dataset {found[:12]}" if found else "records no dataset (made by an older version)"
    raise DataError(f"{made}, but the current dataset is {expected.describe()}; files made from different "
                    "datasets are never combined", file=file, fix=rerun)
