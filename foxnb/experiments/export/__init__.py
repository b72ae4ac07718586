"""Exports of an experiment to where teams already look: MLflow and Weights & Biases, or files.

    fx.export_mlflow("dusk-vs-storm")                               # pip install 'foxnb[mlflow]'
    fx.export_wandb("dusk-vs-storm", project="video-extension")     # pip install 'foxnb[wandb]'
    fx.export(fx.runs().query("pick == 'star'"), "keep")            # MP4s + runs.json (files)

``mlflow`` and ``wandb`` hold one exporter each, ``rows`` what both send for a run. The
exporters take plain inputs (a DataFrame of runs, the experiment's name, its ``fx.report``
folder and the runs folder) so they work the same from a ``Session`` or from a script.
Neither imports its library until called.
"""

from .files import Export, export_runs
from .mlflow import MlflowExport, export_mlflow
from .rows import select_runs
from .wandb import WandbExport, export_wandb

__all__ = [
    "Export",
    "MlflowExport",
    "WandbExport",
    "export_mlflow",
    "export_runs",
    "export_wandb",
    "select_runs",
]
