"""`python -m models.tune`: see models/tune/cli.py."""
from models.tune.cli import run

if __name__ == "__main__":
    run()
