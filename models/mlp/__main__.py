"""`python -m models.mlp`: see models/mlp/cli.py."""
from models.mlp.cli import run

if __name__ == "__main__":
    run()
