"""Blend the models' prediction files, report where they fail, backtest the whole pipeline."""
