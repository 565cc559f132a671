"""Build ``B/features/{train,test}.parquet`` and ``meta.json``, cached by inputs + code.

The cache key is a hash of the raw input files, the source of the modules that shape the tables
(``CODE_FILES``) and the requested validation start. An unchanged
rerun only hashes ~9 MB of files and returns; any change rebuilds. ``meta.json`` is written last,
so a crash mid-build never leaves a key that claims stale parquet files are current.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

FEATURES_SUBDIR = "features"
META_VERSION = 1
# The modules whose source shapes the feature tables (the loader decides what the frames hold,
# the split decides the default validation start). Tools that only read the tables (bench,
# ablation, preprocess) are left out so that editing them does not invalidate the cache.
CODE_FILES = ("features/__init__.py", "features/families.py", "features/pipeline.py",
              "features/columns.py", "features/cli.py", "competition/data.py",
              "competition/split.py", "competition/errors.py", "competition/io.py")


def code_hash() -> str:
    """sha256 over the source of CODE_FILES."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for rel in CODE_FILES:
        path = root / rel
        h.update(rel.encode())
        h.update(path.read_bytes() if path.exists() else b"<missing>")
    return h.hexdigest()


def cache_key(data_dir: Path, valid_start: str | None) -> dict[str, str]:
    from competition.data import fingerprint, has_competition_data, load_competition

    if not has_competition_data(data_dir):
        load_competition(data_dir)  # raises the loader's DataError, which says what to do
    parts = {"data": fingerprint(data_dir), "code": code_hash(), "valid_start": valid_start or "auto",
             "version": str(META_VERSION)}
    parts["key"] = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return parts


def is_current(out_dir: Path, key: str) -> bool:
    meta = out_dir / "meta.json"
    if not (meta.exists() and (out_dir / "train.parquet").exists() and (out_dir / "test.parquet").exists()):
        return False
    try:
        return json.loads(meta.read_text()).get("input_hash") == key
    except (OSError, ValueError):
        return False


def build(data_dir: Path, build_dir: Path, valid_start: str | None = None, force: bool = False
          ) -> dict[str, Any]:
    """Build (or reuse) the feature files; returns the meta dict."""
    out_dir = build_dir / FEATURES_SUBDIR
    parts = cache_key(data_dir, valid_start)
    if not force and is_current(out_dir, parts["key"]):
        # Touch the outputs so make's timestamp check is satisfied after e.g. a no-op code touch.
        for name in ("train.parquet", "test.parquet", "meta.json"):
            os.utime(out_dir / name)
        return json.loads((out_dir / "meta.json").read_text()) | {"cached": True}

    import pandas as pd

    from competition.data import load_competition
    from competition.io import write_json_atomic, write_with
    from competition.split import validation_split
    from features.columns import CAT_COLS, CONT_COLS
    from features.pipeline import build_features

    t0 = time.perf_counter()
    data = load_competition(data_dir)
    split = validation_split(data.train["Date"], data.test["Date"])
    vs = pd.Timestamp(valid_start) if valid_start else split.valid_start
    train, test = build_features(data, vs)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_with(out_dir / "train.parquet", lambda p: train.to_parquet(p, index=False))
    write_with(out_dir / "test.parquet", lambda p: test.to_parquet(p, index=False))
    meta = {
        "input_hash": parts["key"],
        "data_fingerprint": parts["data"],
        "code_hash": parts["code"],
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
    return meta | {"cached": False}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m features", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data/raw"))
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    parser.add_argument("--valid-start", default=None,
                        help="first validation date YYYY-MM-DD (default: competition.split)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the cache is current")
    args = parser.parse_args(argv)
    if args.valid_start is not None:
        try:
            import pandas as pd

            args.valid_start = pd.Timestamp(args.valid_start).date().isoformat()
        except ValueError:
            from competition.errors import DataError

            raise DataError(f"--valid-start {args.valid_start!r} is not a date",
                            fix="give it as YYYY-MM-DD") from None
    t0 = time.perf_counter()
    meta = build(args.data_dir, args.build_dir, args.valid_start, args.force)
    out = args.build_dir / FEATURES_SUBDIR
    how = "up to date" if meta["cached"] else "built"
    print(f"features {how}: {out}/train.parquet ({meta['n_train']:,} rows, valid from "
          f"{meta['valid_start']}), test.parquet ({meta['n_test']:,} rows) in "
          f"{time.perf_counter() - t0:.1f}s")
    return 0
