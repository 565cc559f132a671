"""The kaggle command line, called through subprocess.

The ``kaggle`` package authenticates as soon as it is imported and exits when it finds no
credentials, so the package is never imported here: we look for the credentials ourselves and
run the CLI as a child process.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

COMPETITION = "rossmann-store-sales"
CREDENTIALS_HELP = (
    "Kaggle credentials are not configured. Either\n"
    "  - download an API token from https://www.kaggle.com/settings (section 'API', 'Create New Token')\n"
    "    and save it as ~/.kaggle/kaggle.json (chmod 600), or\n"
    "  - export KAGGLE_API_TOKEN=<token>, or KAGGLE_USERNAME=<user> and KAGGLE_KEY=<key>.\n"
    "You must also accept the competition rules once on\n"
    f"  https://www.kaggle.com/competitions/{COMPETITION}/rules"
)


def kaggle_executable() -> str:
    """``$KAGGLE``, else the ``kaggle`` next to this Python (the venv's), else the one on PATH."""
    if os.environ.get("KAGGLE"):
        return os.environ["KAGGLE"]
    beside = Path(sys.executable).parent / "kaggle"
    if beside.exists():
        return str(beside)
    return shutil.which("kaggle") or "kaggle"


def credentials_configured(env: dict[str, str] | None = None) -> bool:
    """True when the kaggle 2.x CLI will find credentials, wherever the user put them.

    Environment variables (``KAGGLE_API_TOKEN``, or ``KAGGLE_USERNAME`` + ``KAGGLE_KEY``),
    ``kaggle.json`` / ``access_token`` / ``access_token.txt`` in ``$KAGGLE_CONFIG_DIR`` or
    ``~/.kaggle``, the OAuth cache ``credentials.json`` that ``kaggle auth login`` writes, and
    ``$XDG_CONFIG_HOME/kaggle/kaggle.json``.
    """
    env = dict(os.environ) if env is None else env
    if env.get("KAGGLE_API_TOKEN") or (env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY")):
        return True
    home = Path(env.get("HOME", str(Path.home())))
    config_dir = Path(env["KAGGLE_CONFIG_DIR"]) if env.get("KAGGLE_CONFIG_DIR") else home / ".kaggle"
    xdg = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    candidates = [config_dir / name for name in ("kaggle.json", "access_token", "access_token.txt", "credentials.json")]
    return any(p.exists() for p in [*candidates, xdg / "kaggle" / "kaggle.json"])


def run_kaggle(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run ``kaggle <args>``; output is captured as text and returned."""
    return subprocess.run([kaggle_executable(), *args], capture_output=True, text=True, check=False, **kwargs)


def explain_failure(result: subprocess.CompletedProcess[str]) -> str:
    """A message for a failed kaggle CLI call; a 403 means the rules were not accepted."""
    out = (result.stdout or "") + (result.stderr or "")
    if "403" in out or "Forbidden" in out:
        return (f"Kaggle answered 403 Forbidden: accept the competition rules on "
                f"https://www.kaggle.com/competitions/{COMPETITION}/rules with the account whose "
                f"credentials are configured, then run the command again.\n{out.strip()}")
    if "401" in out or "Unauthorized" in out:
        return (f"Kaggle answered 401 Unauthorized: the credentials are wrong or expired.\n"
                f"{CREDENTIALS_HELP}\n{out.strip()}")
    return f"the kaggle CLI failed with exit code {result.returncode}:\n{out.strip()}"
