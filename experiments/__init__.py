"""Measurement tools that ``make submit`` never runs: the feature ablation
(``python -m experiments.ablation``), the candidate feature families, and the MLP's window score
against the number of members (``python -m experiments.mlp_members``). They use the product's
packages; no product module imports them (``tests/test_import_graph.py``)."""
