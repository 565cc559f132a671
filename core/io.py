"""Atomic file writes: a crash or a bad input never leaves a half-written output behind."""
from __future__ import annotations

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
