import numpy as np
import pytest

from infovaegan_plugin.metrics.clustering import (
    ari,
    cluster_to_label_map,
    clustering_report,
    nmi,
    unsupervised_accuracy,
)


def test_permuted_clusters_score_perfectly():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    clusters = np.array([2, 2, 0, 0, 1, 1, 1])
    assert unsupervised_accuracy(labels, clusters) == 1.0
    assert cluster_to_label_map(labels, clusters) == {2: 0, 0: 1, 1: 2}
    assert nmi(labels, clusters) == pytest.approx(1.0)
    assert ari(labels, clusters) == pytest.approx(1.0)


def test_partial_match_counts_best_assignment():
    labels = [0, 0, 0, 1, 1, 1]
    clusters = [5, 5, 7, 7, 7, 7]
    # best: 5->0 (2 right), 7->1 (3 right) => 5/6
    assert unsupervised_accuracy(labels, clusters) == pytest.approx(5 / 6)
    assert cluster_to_label_map(labels, clusters) == {5: 0, 7: 1}


def test_surplus_clusters_count_as_errors():
    labels = [0, 0, 1, 1]
    clusters = [0, 1, 2, 3]  # four singleton clusters, only two can be matched
    assert unsupervised_accuracy(labels, clusters) == pytest.approx(0.5)
    mapping = cluster_to_label_map(labels, clusters)
    assert len(mapping) == 2 and sorted(mapping.values()) == [0, 1]


def test_fewer_clusters_than_classes():
    labels = [0, 1, 2, 3]
    clusters = [0, 0, 0, 0]
    assert unsupervised_accuracy(labels, clusters) == pytest.approx(0.25)


def test_integral_floats_accepted_and_report_keys():
    report = clustering_report([0.0, 1.0, 1.0, 0.0], np.array([1, 0, 0, 1]))
    assert report == {
        "accuracy": 1.0,
        "nmi": pytest.approx(1.0),
        "ari": pytest.approx(1.0),
        "n": 4,
        "n_clusters": 2,
        "n_classes": 2,
    }


def test_random_clusters_are_near_chance():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=5000)
    clusters = rng.integers(0, 10, size=5000)
    assert unsupervised_accuracy(labels, clusters) < 0.15
    assert abs(ari(labels, clusters)) < 0.01
    assert nmi(labels, clusters) < 0.01


@pytest.mark.parametrize(
    "labels, clusters, message",
    [
        ([0, 1, 2], [0, 1], "same length"),
        ([], [], "empty"),
        ([0.5, 1.0], [0, 1], "integers"),
        (["a", "b"], [0, 1], "integers"),
        ([[0, 1]], [[0, 1]], "1-D"),
        ([0, float("nan")], [0, 1], "integers"),
    ],
)
def test_invalid_inputs_raise(labels, clusters, message):
    with pytest.raises(ValueError, match=message):
        unsupervised_accuracy(labels, clusters)


def test_module_does_not_import_torch():
    import ast
    import inspect

    import infovaegan_plugin.metrics.clustering as module

    tree = ast.parse(inspect.getsource(module))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert "torch" not in imported


def test_code_information_values():
    from infovaegan_plugin.metrics.clustering import code_information

    confident_even = np.eye(4)[np.arange(40) % 4]
    assert code_information(confident_even) == pytest.approx(np.log(4))
    assert code_information(np.full((8, 4), 0.25)) == pytest.approx(0.0, abs=1e-12)
    one_category = np.eye(4)[np.zeros(10, dtype=int)]  # confident but unused categories
    assert code_information(one_category) == pytest.approx(0.0, abs=1e-9)
    half = np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]])
    assert code_information(half) == pytest.approx(np.log(4) - np.log(2))
    with pytest.raises(ValueError, match="probability vectors"):
        code_information(np.array([[0.7, 0.7]]))
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        code_information(np.ones(3))
