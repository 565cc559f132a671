"""Models for Rossmann: the median baseline, LightGBM and the entity-embedding MLP, plus tuning."""
