"""`python -m models.lgbm`: see models/lgbm/cli.py."""
from models.lgbm.cli import run

if __name__ == "__main__":
    run()
