"""Exports of an experiment to where teams already look: MLflow and Weights & Biases.

    fx.export_mlflow("dusk-vs-storm")                               # pip install 'foxnb[mlflow]'
    fx.export_wandb("dusk-vs-storm", project="video-extension")     # pip install 'foxnb[wandb]'

``mlflow`` and ``wandb`` hold one exporter each, ``rows`` what both send for a run. The
exporters take plain inputs (a DataFrame of runs, the experiment's name, its ``fx.report``
folder and the runs folder) so they work the same from a ``Session`` or from a script.
Neither imports its library until called.
"""

from .mlflow import MlflowExport, export_mlflow
from .rows import select_runs
from .wandb import WandbExport, export_wandb

__all__ = [
    "MlflowExport",
    "WandbExport",
    "export_mlflow",
    "export_wandb",
    "select_runs",
]
