"""Atomic file writes: a crash or a bad input never leaves a half-written output behind."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one step.

    The temporary file lives in the same directory so ``os.replace`` is a rename, which POSIX makes
    atomic: readers see either the old file or the new one, never a mix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; outputs are meant to be shared like any other file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_with(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result into place atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def sha256_of(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# Parquet files keep their own provenance in the schema's key-value metadata, under this prefix,
# so that it cannot be separated from the rows it describes.
METADATA_PREFIX = "rossmann:"


def write_parquet(df: Any, path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """``df`` (a DataFrame, without its index) as parquet, atomically, with ``metadata`` stored in
    the file (read back by :func:`parquet_metadata`)."""
    # pyarrow is imported with the first parquet written: pets and the commands that write no
    # parquet do not pay its import.
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    table = pa.Table.from_pandas(df, preserve_index=False)
    extra = {f"{METADATA_PREFIX}{k}".encode(): str(v).encode() for k, v in (metadata or {}).items()}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    write_with(path, lambda tmp: pq.write_table(table, tmp))


def parquet_metadata(path: str | Path) -> dict[str, str]:
    """The metadata :func:`write_parquet` stored in a parquet file ({} when it stored none)."""
    import pyarrow.parquet as pq  # noqa: PLC0415 - see write_parquet

    meta = pq.read_schema(path).metadata or {}
    return {k.decode()[len(METADATA_PREFIX):]: v.decode() for k, v in meta.items()
            if k.decode().startswith(METADATA_PREFIX)}


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend: plots are files, and build machines have no display.

    Selected here, at the first plot, rather than at import (importing a module changes no
    global state).
    """
    # matplotlib is imported at the first plot, after the backend is chosen; stages that plot
    # nothing do not pay its import.
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def save_png(fig: Any, path: str | Path, dpi: int = 110, **savefig_kwargs: Any) -> Path:
    """Write a matplotlib figure as a PNG atomically, then close it; returns the path.

    The temporary file has no .png suffix, so the format is named explicitly.
    """
    try:
        write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, **savefig_kwargs))
    finally:
        pyplot().close(fig)
    return Path(path)
