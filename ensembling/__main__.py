"""``python -m ensembling --build-dir B --data-dir D``: blend predictions into submission.csv."""
from core.cli import run_cli
from ensembling.cli import main

if __name__ == "__main__":
    run_cli(main)
