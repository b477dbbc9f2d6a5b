"""Evaluation metrics: clustering, reconstruction, disentanglement, Frechet distances.

See each module for definitions and references. ``clustering`` needs no torch.
"""

from infovaegan_plugin.metrics.clustering import (
    ari,
    cluster_to_label_map,
    clustering_report,
    nmi,
    unsupervised_accuracy,
)
from infovaegan_plugin.metrics.dataset_classifier import (
    MIN_HELD_OUT_ACCURACY,
    OutdatedClassifierError,
    UntrustworthyClassifierError,
    require_trustworthy,
)
from infovaegan_plugin.metrics.disentanglement import (
    DISENTANGLEMENT_LIB_DEFAULTS,
    FACTOR_VAE_PRUNE_THRESHOLD,
    METRIC_NAMES,
    GroundTruthData,
    beta_vae_metric,
    dci,
    dci_completeness,
    dci_disentanglement,
    dci_from_codes,
    dci_importance_matrix,
    evaluate_disentanglement,
    factor_vae_metric,
    mig,
    mig_from_codes,
    scores_by_factor,
)
from infovaegan_plugin.metrics.frechet import (
    DatasetClassifier,
    classifier_features,
    classifier_frechet_distance,
    classifier_frechet_report,
    feature_statistics,
    frechet_distance,
    inception_fid,
    train_feature_classifier,
)
from infovaegan_plugin.metrics.reconstruction import (
    evaluate_reconstruction,
    reconstruction_errors,
)

__all__ = [
    # clustering
    "unsupervised_accuracy",
    "cluster_to_label_map",
    "nmi",
    "ari",
    "clustering_report",
    # reconstruction
    "reconstruction_errors",
    "evaluate_reconstruction",
    # disentanglement
    "GroundTruthData",
    "DISENTANGLEMENT_LIB_DEFAULTS",
    "FACTOR_VAE_PRUNE_THRESHOLD",
    "METRIC_NAMES",
    "beta_vae_metric",
    "factor_vae_metric",
    "mig",
    "mig_from_codes",
    "dci",
    "dci_from_codes",
    "dci_importance_matrix",
    "dci_disentanglement",
    "dci_completeness",
    "evaluate_disentanglement",
    "scores_by_factor",
    # Frechet distances
    "frechet_distance",
    "feature_statistics",
    "DatasetClassifier",
    "MIN_HELD_OUT_ACCURACY",
    "OutdatedClassifierError",
    "UntrustworthyClassifierError",
    "require_trustworthy",
    "train_feature_classifier",
    "classifier_features",
    "classifier_frechet_distance",
    "classifier_frechet_report",
    "inception_fid",
]
