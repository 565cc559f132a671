"""Build ``B/features/{train,test}.parquet``, ``meta.json`` and the pseudo-test windows' tables
(``B/features/windows/w<k>/{train,test,labels}.parquet``), cached by inputs + code.

The cache key is a hash of the raw input files, the source of the modules that shape the tables
(``CODE_FILES``), the requested validation start and the number of windows. An unchanged
rerun only hashes ~9 MB of files and returns; any change rebuilds. ``meta.json`` is written last,
so a crash mid-build never leaves a key that claims stale parquet files are current.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from competition.data import fingerprint, has_competition_data, load_competition
from competition.pseudo_test import PeriodShape, Window, period_shape, plan, pseudo_test
from competition.split import validation_split
from core.errors import DataError
from core.io import write_json_atomic, write_with
from features.columns import CAT_COLS, CONT_COLS
from features.pipeline import build_features

FEATURES_SUBDIR = "features"
WINDOWS_SUBDIR = "windows"
META_VERSION = 3
# Pseudo-test windows built next to the test's features: recent ones (make submit FOLDS=...) and
# same-season ones, the test's dates a year back (SEASONS=...). One of each: on four real tests cut
# from ../shared their half-and-half estimate lay closest to the real score of every scheme tried
# (`make realtests`, docs/RESULTS.md).
DEFAULT_FOLDS = 1
DEFAULT_SEASONS = 1
# The competition's tables; sample_submission.parquet keeps Kaggle's Id order for every model's csv.
TABLES = ("train.parquet", "test.parquet", "sample_submission.parquet")
# LZ4, with dictionary pages for the categorical columns only (they carry the categories' order):
# written in half the time of the default (snappy, every column with a dictionary), for a file a
# third larger; the tables are rewritten on every build and read back whole.
PARQUET_COMPRESSION = "lz4"
# The tables are built in this many processes (make passes THREADS).
DEFAULT_JOBS = 2
# The modules whose source shapes the feature tables (the loader decides what the frames hold,
# the split decides the default validation start, the registry which families are built).
# Tools that only read the tables (the ablation, preprocess) are left out so that editing them
# does not invalidate the cache.
CODE_FILES = ("features/__init__.py", "features/families.py", "features/calendar.py", "features/grid.py",
              "features/registry.py", "features/pipeline.py", "features/columns.py", "features/cli.py",
              "competition/data.py", "competition/split.py", "core/errors.py", "core/io.py",
              "competition/pseudo_test.py")


def code_hash() -> str:
    """sha256 over the source of CODE_FILES."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for rel in CODE_FILES:
        path = root / rel
        h.update(rel.encode())
        h.update(path.read_bytes() if path.exists() else b"<missing>")
    return h.hexdigest()


def cache_key(data_dir: Path, valid_start: str | None, folds: int, seasons: int = DEFAULT_SEASONS,
              gap: int | None = None) -> dict[str, str]:
    if not has_competition_data(data_dir):
        load_competition(data_dir)  # raises the loader's DataError, which says what to do
    parts = {"data": fingerprint(data_dir), "code": code_hash(), "valid_start": valid_start or "auto",
             "folds": str(folds), "seasons": str(seasons), "version": str(META_VERSION)}
    if gap is not None:
        parts["window_gap"] = str(gap)
    parts["key"] = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return parts


def window_dir(build_dir: Path, name: str) -> Path:
    """Where window ``name`` (``w1``, ``w2``, ...) keeps its train/test/labels tables."""
    return build_dir / FEATURES_SUBDIR / WINDOWS_SUBDIR / name


def is_current(out_dir: Path, key: str) -> bool:
    meta = out_dir / "meta.json"
    if not (meta.exists() and all((out_dir / name).exists() for name in TABLES)):
        return False
    try:
        return json.loads(meta.read_text()).get("input_hash") == key
    except (OSError, ValueError):
        return False


def write_table(df: pd.DataFrame, path: Path) -> None:
    """One feature table as parquet (see PARQUET_COMPRESSION), atomically."""
    categorical = [str(c) for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)]
    write_with(path, lambda p: df.to_parquet(p, index=False, compression=PARQUET_COMPRESSION,
                                             use_dictionary=categorical))


def write_tables(data: Any, out_dir: Path, valid_start: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    """Features of one train/test pair (the competition's, or a window's) into ``out_dir``."""
    t0 = time.perf_counter()
    # The per-store history of train rows stops where the last test-length stretch of train
    # starts (models that want an inner validation split use it); test rows use all of train.
    split = validation_split(data.train["Date"], data.test["Date"])
    vs = pd.Timestamp(valid_start) if valid_start else split.valid_start
    train, test = build_features(data, vs)
    write_table(train, out_dir / "train.parquet")
    write_table(test, out_dir / "test.parquet")
    meta = {
        **extra,
        "source": data.source,
        "external": data.external is not None,
        "valid_start": vs.date().isoformat(),
        "valid_end": pd.Timestamp(train["Date"].max()).date().isoformat(),
        "test_start": pd.Timestamp(test["Date"].min()).date().isoformat(),
        "test_end": pd.Timestamp(test["Date"].max()).date().isoformat(),
        "n_train": int(len(train)),
        "n_train_sales_gt0": int((train["Sales"].to_numpy() > 0).sum()),
        "n_valid": int((train["Date"] >= vs).sum()),
        "n_test": int(len(test)),
        "cat_cols": [c for c in CAT_COLS if c in train.columns],
        "cont_cols": [c for c in CONT_COLS if c in train.columns],
        "columns": list(map(str, train.columns)),
        "closed_marker": "Closed (Open == 0); fast.ai's table is the rows with Sales > 0",
        "build_seconds": round(time.perf_counter() - t0, 2),
        "version": META_VERSION,
    }
    write_json_atomic(out_dir / "meta.json", meta)
    return meta


def build(data_dir: Path, build_dir: Path, valid_start: str | None = None, force: bool = False,
          folds: int = DEFAULT_FOLDS, seasons: int = DEFAULT_SEASONS, jobs: int = 1,
          gap: int | None = None) -> dict[str, Any]:
    """Build (or reuse) the feature files of the test and of its pseudo-test windows: ``folds``
    recent ones and up to ``seasons`` same-season ones (competition.pseudo_test.plan), each
    ``gap`` days after its train (default: the test's gap).

    ``B/features/{train,test}.parquet`` are the competition's; ``B/features/windows/w<k>/``
    hold window k's ``train``, ``test`` and ``labels`` (competition.pseudo_test). Returns the
    competition's meta dict, which lists the windows (with the test stores each one lacks).
    The tables are built in ``jobs`` processes.
    """
    out_dir = build_dir / FEATURES_SUBDIR
    parts = cache_key(data_dir, valid_start, folds, seasons, gap)
    if not force and is_current(out_dir, parts["key"]):
        # Only meta.json is touched, the Makefile's target for this stage: the tables keep their
        # dates, so the models (which follow train.parquet) retrain only when the tables changed,
        # and the same data under another path, or a touched source file, retrains nothing.
        os.utime(out_dir / "meta.json")
        return json.loads((out_dir / "meta.json").read_text()) | {"cached": True}

    t0 = time.perf_counter()
    data = load_competition(data_dir)
    shape = period_shape(data.train["Date"], data.test["Date"])
    wins, notes = plan(data.train["Date"], data.test["Date"], folds, seasons, where=str(data_dir / "test.csv"),
                       gap=gap)
    for note in notes:
        print(f"features: {note}")
    # A stale meta.json must never vouch for tables from an older build: it goes first.
    (out_dir / "meta.json").unlink(missing_ok=True)
    shutil.rmtree(out_dir / WINDOWS_SUBDIR, ignore_errors=True)
    write_with(out_dir / "sample_submission.parquet", lambda p: data.sample_submission.to_parquet(p, index=False))
    job = TableJob(data, build_dir, valid_start, shape,
                   {"data_fingerprint": parts["data"], "data_dir": str(Path(data_dir).resolve()),
                    "code_hash": parts["code"], "period_shape": shape.to_dict(),
                    "windows": [w.to_dict() for w in wins], "window_notes": notes})
    done = run_jobs(job, [None, *wins], jobs)
    meta, records = done[0], done[1:]
    # Without its input_hash until every window is written: a build that dies half-way is not current.
    meta = {"input_hash": parts["key"], **meta, "windows": records,
            "build_seconds": round(time.perf_counter() - t0, 2)}
    write_json_atomic(out_dir / "meta.json", meta)
    return meta | {"cached": False}


@dataclass(frozen=True)
class TableJob:
    """What every table of a build needs: the loaded data and where the tables go."""

    data: Any
    build_dir: Path
    valid_start: str | None
    shape: PeriodShape
    extra: dict[str, Any]

    def __call__(self, window: Window | None) -> dict[str, Any]:
        """The competition's tables (``window`` None: returns its meta) or a window's (returns its
        record for meta.json's window list)."""
        if window is None:
            return write_tables(self.data, self.build_dir / FEATURES_SUBDIR, self.valid_start, self.extra)
        pt = pseudo_test(self.data, window)
        # Stores without rows in the window (a same-season window in 2014's store gap) are left out.
        record = {**window.to_dict(), "n_stores": int(pt.labels["Store"].nunique()),
                  "missing_stores": len(pt.missing_stores)}
        wdir = window_dir(self.build_dir, window.name)
        write_with(wdir / "labels.parquet", lambda p: pt.labels.to_parquet(p, index=False))
        with warnings.catch_warnings():
            # The competition's build has said it once.
            warnings.filterwarnings("ignore", message="no external tables")
            write_tables(pt.data, wdir, None,
                         {"window": record, "period_shape": window_shape(self.shape, window).to_dict()})
        return record


# The job of the build in progress, for its forked worker processes: they inherit it, so the
# loaded data is never pickled. Set by run_jobs only, just before the workers fork.
_JOB: list[TableJob] = []


def _run_inherited(window: Window | None) -> dict[str, Any]:
    return _JOB[0](window)


def window_shape(test_shape: PeriodShape, window: Window) -> PeriodShape:
    """The shape ``window`` was cut in: the test's length, the window's own gap after its train."""
    return dataclasses.replace(test_shape, gap=(window.start - window.train_end).days - 1)


def run_jobs(job: TableJob, tasks: list[Window | None], jobs: int) -> list[dict[str, Any]]:
    """``job`` on every task, in ``jobs`` forked processes (in this one for 1), results in task order."""
    bar = tqdm(total=len(tasks), desc="features: tables", unit="table", leave=False)
    if jobs <= 1 or len(tasks) == 1:
        out = []
        for task in tasks:
            out.append(job(task))
            bar.update()
        bar.close()
        return out
    _JOB[:] = [job]
    try:
        with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=get_context("fork")) as pool:
            futures = [pool.submit(_run_inherited, task) for task in tasks]
            for _ in as_completed(futures):
                bar.update()
            return [f.result() for f in futures]
    finally:
        _JOB.clear()
        bar.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m features", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data/raw"))
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    parser.add_argument("--valid-start", default=None,
                        help="first validation date YYYY-MM-DD (default: competition.split)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the cache is current")
    parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS,
                        help="recent pseudo-test windows to build before the test (each shaped like it)")
    parser.add_argument("--seasons", type=int, default=DEFAULT_SEASONS,
                        help="same-season windows: the test's dates 1, 2, ... years (52 weeks) back")
    parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="processes building the tables")
    parser.add_argument("--gap", type=int, default=None,
                        help="days between each window's train and its start (default: the test's gap; "
                             "0: as a test right after the train, like Kaggle's full train)")
    args = parser.parse_args(argv)
    if args.valid_start is not None:
        try:
            args.valid_start = pd.Timestamp(args.valid_start).date().isoformat()
        except ValueError:
            raise DataError(f"--valid-start {args.valid_start!r} is not a date",
                            fix="give it as YYYY-MM-DD") from None
    t0 = time.perf_counter()
    meta = build(args.data_dir, args.build_dir, args.valid_start, args.force, args.folds, args.seasons, args.jobs,
                 args.gap)
    out = args.build_dir / FEATURES_SUBDIR
    how = "up to date" if meta["cached"] else "built"
    wins = ", ".join(f"{w['label']} {w['start']}..{w['end']}"
                     + (f" without {w['missing_stores']} stores" if w.get("missing_stores") else "")
                     for w in meta["windows"])
    test_shape = PeriodShape(**meta["period_shape"])
    gaps = sorted({window_shape(test_shape, Window.from_dict(w)).gap for w in meta["windows"]})
    test_gap = test_shape.gap
    print(f"features {how}: {out}/train.parquet ({meta['n_train']:,} rows), test.parquet "
          f"({meta['n_test']:,} rows) and {len(meta['windows'])} pseudo-test windows ({wins}; each "
          f"{test_shape.n_days} days, {', '.join(map(str, gaps))} days after its train"
          + ("" if gaps == [test_gap] else f"; the test: {test_gap} days") + f") in "
          f"{time.perf_counter() - t0:.1f}s")
    return 0
