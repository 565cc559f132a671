"""Measurement tools that ``make submit`` never runs: the feature ablation
(``python -m experiments.ablation``), the candidate feature families, the MLP's window score
against the number of members (``python -m experiments.mlp_members``), and the size of the
product and the numbers its comments quote (``python -m experiments.code_metrics``). They use the
product's packages; no product module imports them (``tests/test_import_graph.py``)."""
