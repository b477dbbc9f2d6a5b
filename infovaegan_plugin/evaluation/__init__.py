"""Evaluation of trained models and the comparison of InfoVAEGAN with the paper's baselines.

- :mod:`.adapters`: one interface (represent / cluster / reconstruct / sample / traversal) over
  InfoVAEGAN and pythae's VAE family, so every model is scored the same way.
- :mod:`.evaluate`: all metrics of one model on held-out data, grids, the cached classifier.
- :mod:`.baselines`: beta-VAE, FactorVAE, beta-TCVAE and VAEGAN with InfoVAEGAN's networks.
- :mod:`.comparison`: the resumable benchmark (train every model on one budget, score all).
- :mod:`.report` / :mod:`.charts`: mean +/- std tables, paper targets, bar charts.
"""

from .adapters import InfoVAEGANAdapter, ModelAdapter, PythaeVAEAdapter, adapter_for
from .baselines import BASELINE_NAMES, build_baseline, matched_latent_dim
from .comparison import (
    DATASETS,
    INFOVAEGAN_VARIANTS,
    MODEL_NAMES,
    BenchmarkError,
    BenchmarkSettings,
    run_benchmark,
)
from .dsprites_ground_truth import DSpritesGroundTruth
from .evaluate import (
    METRICS,
    EvaluationSettings,
    evaluate_adapter,
    load_or_train_classifier,
    planned_steps,
    sample_images,
    write_grids,
)
from .report import (
    by_factor_markdown,
    by_factor_rows,
    check_targets,
    hardware_info,
    markdown_table,
    summarize,
)

__all__ = [
    "ModelAdapter",
    "InfoVAEGANAdapter",
    "PythaeVAEAdapter",
    "adapter_for",
    "BASELINE_NAMES",
    "build_baseline",
    "matched_latent_dim",
    "MODEL_NAMES",
    "INFOVAEGAN_VARIANTS",
    "DATASETS",
    "BenchmarkError",
    "BenchmarkSettings",
    "run_benchmark",
    "DSpritesGroundTruth",
    "METRICS",
    "EvaluationSettings",
    "evaluate_adapter",
    "load_or_train_classifier",
    "planned_steps",
    "sample_images",
    "write_grids",
    "check_targets",
    "hardware_info",
    "by_factor_markdown",
    "by_factor_rows",
    "markdown_table",
    "summarize",
]
