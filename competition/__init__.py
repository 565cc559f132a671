"""Rossmann competition data: loading and validation, synthetic data, the time split and RMSPE."""
