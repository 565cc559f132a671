"""``python -m features --data-dir D --build-dir B [--valid-start YYYY-MM-DD]``."""
from core.cli import run_cli
from features.cli import main

if __name__ == "__main__":
    run_cli(main)
