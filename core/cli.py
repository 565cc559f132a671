"""Entry-point wrapper shared by every command line of the package."""
from __future__ import annotations

import sys
import warnings
from collections.abc import Callable

from core.errors import DataError

USER_ERROR_EXIT = 2


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> None:
    """Run ``main(argv)`` and exit; a :class:`DataError` becomes exit code 2 with a message.

    A traceback is for programming errors. A user who points the package at a broken file needs
    to read which file, column and line, and what to do, so that is all we print.
    """
    # Warnings of a command line are messages for its user: one line each, no source excerpt.
    warnings.showwarning = _show_warning
    try:
        code = main(argv)
    except DataError as err:
        print(f"error: {err.render()}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
