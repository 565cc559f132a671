"""What a model's predictions depend on, as digests, so that a stage whose inputs did not change
keeps its predictions instead of training again.

A model states its :class:`StageInputs`: the table columns its recipe reads, its settings and its
own code. ``models.common.run_stage`` hands the recipe only those columns (plus :data:`BASE_COLS`),
so a recipe cannot depend on a column it did not state, and records the digests of everything
the predictions came from in ``predictions/<name>.inputs.json``. ``models.common.kept_stage``
compares them with the build's current files: a feature family added for LightGBM only rewrites
every feature table, but leaves the MLP's columns, and so its predictions, as they were.
"""
from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.io import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
# Columns every stage reads besides a model's inputs: the keys, the targets and Open.
BASE_COLS = ("Id", "Store", "Date", "Open", "Sales", "Customers")
# The code every model's stage runs besides its own package; a change there retrains every model.
# The rest of features/ reaches a model only through the tables' values and the column lists the
# model states, which are digested themselves; the preprocessor runs inside the models.
SHARED_CODE = ("models/__init__.py", "models/common.py", "models/inputs.py", "core", "competition",
               "submissions/score_store.py", "submissions/writer.py", "features/preprocess.py")
# Entries of a feature table's meta.json that describe the whole table or the features run, not
# anything a recipe reads (the column lists name every model's columns).
META_NOT_READ = ("build_seconds", "code_hash", "input_hash", "columns", "cat_cols", "cont_cols", "data_dir")
RECORD_VERSION = 1


@dataclass(frozen=True)
class StageInputs:
    """What one model's predictions depend on besides the tables' values.

    ``columns``: the table columns its recipe reads (the stage adds :data:`BASE_COLS`), in the
    order it takes them; ``settings``: JSON-able values that change its predictions (the resolved
    parameters, seed, threads, library version, the column lists it takes from ``features``);
    ``code``: its own files or folders, relative to the repository root.
    """

    columns: tuple[str, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)
    code: tuple[str, ...] = ()

    def read_columns(self, present: Iterable[str]) -> list[str]:
        """The columns of a table (``present``, in its order) the stage loads for the recipe."""
        wanted = set(self.columns) | set(BASE_COLS)
        return [c for c in present if c in wanted]

    def settings_digest(self) -> str:
        return _json_digest({"columns": list(self.columns), "settings": dict(self.settings)})

    def code_digest(self) -> str:
        """Of the code as Python runs it: comments, docstrings and layout do not count."""
        h = hashlib.sha256()
        for path in _code_files(SHARED_CODE + tuple(self.code)):
            h.update(str(path.relative_to(ROOT)).encode() + b"\0" + _program(path).encode() + b"\0")
        return h.hexdigest()


def _program(path: Path) -> str:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def _code_files(entries: Iterable[str]) -> list[Path]:
    files: set[Path] = set()
    for entry in entries:
        path = ROOT / entry
        if path.is_dir():
            files.update(path.rglob("*.py"))
        elif path.exists():
            files.add(path)
        else:
            raise FileNotFoundError(f"StageInputs.code names {entry!r}, which is not under {ROOT}")
    return sorted(files)


def _json_digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def frame_digest(df: pd.DataFrame) -> str:
    """sha256 of a table's column names, dtypes and values (in row order)."""
    h = hashlib.sha256()
    for name in df.columns:
        s = df[name]
        h.update(f"{name}\0{s.dtype}\0".encode())
        if isinstance(s.dtype, pd.CategoricalDtype):
            h.update(pd.util.hash_pandas_object(s.cat.categories.to_series(), index=False).to_numpy().tobytes())
            values = s.cat.codes.to_numpy()
        elif s.dtype.kind in "biufcmM":
            values = s.to_numpy()
        else:  # strings and objects
            values = pd.util.hash_pandas_object(s, index=False).to_numpy()
        h.update(np.ascontiguousarray(values).view(np.uint8).data)
    return h.hexdigest()


def meta_digest(meta: Mapping[str, Any]) -> str:
    return _json_digest({k: v for k, v in meta.items() if k not in META_NOT_READ})


def tables_digest(*parts: pd.DataFrame | Mapping[str, Any]) -> str:
    """One digest of a window's (or the competition's) tables and meta."""
    return _json_digest([frame_digest(p) if isinstance(p, pd.DataFrame) else meta_digest(p) for p in parts])


def record_path(build_dir: str | Path, name: str) -> Path:
    return Path(build_dir) / "predictions" / f"{name}.inputs.json"


def write_stage_record(build_dir: str | Path, name: str, digests: dict[str, Any], summary: dict[str, Any]) -> None:
    """``predictions/<name>.inputs.json``: the digests the predictions came from, and the summary
    the stage recorded in scores.json (recorded again when the predictions are kept)."""
    doc = {"version": RECORD_VERSION, "digests": digests, "summary": summary}
    write_text_atomic(record_path(build_dir, name), json.dumps(doc, indent=1, default=str) + "\n")


def read_stage_record(build_dir: str | Path, name: str) -> dict[str, Any] | None:
    """The record of the last run, or None (none, unreadable, incomplete, another version: train again)."""
    try:
        doc = json.loads(record_path(build_dir, name).read_text())
    except (OSError, ValueError):
        return None
    if not (isinstance(doc, dict) and doc.get("version") == RECORD_VERSION and isinstance(doc.get("summary"), dict)
            and isinstance(doc.get("digests"), dict) and isinstance(doc["digests"].get("tables"), dict)):
        return None
    return doc
