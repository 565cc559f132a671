"""User-facing errors: what was expected, what arrived, where, and how to fix it."""
from __future__ import annotations

from pathlib import Path


class DataError(Exception):
    """Bad input data. CLIs turn it into exit code 2 and a message, never a traceback.

    Every field is optional, but the more of them are filled the faster a user finds the problem:
    ``file`` and ``column`` say where, ``row`` is the 1-based line number in the CSV file (the header
    is line 1), ``fix`` says what to do.
    """

    def __init__(self, message: str, *, file: str | Path | None = None, column: str | None = None,
                 row: int | None = None, fix: str | None = None) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.column = column
        self.row = row
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if self.column:
            where.append(f"column {self.column!r}")
        if self.row is not None:
            where.append(f"line {self.row}")
        text = self.message
        if where:
            text = f"{', '.join(where)}: {text}"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text
