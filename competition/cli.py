"""Entry-point wrapper shared by every command line of the package."""
from __future__ import annotations

import sys
from collections.abc import Callable

from competition.errors import DataError

USER_ERROR_EXIT = 2


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> None:
    """Run ``main(argv)`` and exit; a :class:`DataError` becomes exit code 2 with a message.

    A traceback is for programming errors. A user who points the package at a broken file needs
    to read which file, column and line, and what to do, so that is all we print.
    """
    try:
        code = main(argv)
    except DataError as err:
        print(f"error: {err.render()}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
