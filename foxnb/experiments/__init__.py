"""Experiments over many runs: sweeps, comparisons, reports, and exports to MLflow and W&B."""
