"""Disentanglement metrics on a tiny synthetic ground-truth dataset (observations = factors)."""

import numpy as np
import pytest

from infovaegan_plugin.metrics.disentanglement import (
    DISENTANGLEMENT_LIB_DEFAULTS,
    FACTOR_VAE_PRUNE_THRESHOLD,
    dci_completeness,
    dci_disentanglement,
    evaluate_disentanglement,
    factor_vae_metric,
    mig,
    mig_from_codes,
    scores_by_factor,
)

NUM_VALUES = [5, 6, 8, 10]
K = len(NUM_VALUES)
SCALE = 0.05  # 500 train / 250 eval points; GBT stays around a second per representation


class ToyFactors:
    """Independent uniform factors; an observation is the factor vector itself (float)."""

    factors_num_values = NUM_VALUES

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, v, size=n) for v in self.factors_num_values], axis=1)

    def sample_observations_from_factors(self, factors, rng):
        return factors.astype(np.float64)


def perfect(obs):
    return obs


ROTATION = np.linalg.qr(np.random.default_rng(1).normal(size=(K, K)))[0]


def entangled(obs):
    return obs @ ROTATION


def make_random_representation(seed=2):
    noise = np.random.default_rng(seed)
    return lambda obs: noise.normal(size=(len(obs), K))


@pytest.fixture(scope="module")
def data():
    return ToyFactors()


@pytest.fixture(scope="module")
def perfect_scores(data):
    return evaluate_disentanglement(data, perfect, rng_seed=0, scale=SCALE)


@pytest.fixture(scope="module")
def random_scores(data):
    return evaluate_disentanglement(data, make_random_representation(), rng_seed=0, scale=SCALE)


class BrokenFactors(ToyFactors):
    """A ground-truth source that breaks the protocol in one configurable way."""

    def __init__(self, num_values=NUM_VALUES, drop_column=False):
        self.factors_num_values = num_values
        self.drop_column = drop_column

    def sample_factors(self, n, rng):
        factors = super().sample_factors(n, rng)
        return factors[:, :-1] if self.drop_column else factors


def test_any_object_with_the_protocol_methods_is_scored_with_fresh_observations(data):
    """Duck typing: a plain class with the GroundTruthData methods is enough, and each metric
    draws observations of the factors it samples (every factor value shows up)."""
    seen = []

    def recording(obs):
        seen.append(obs)
        return obs

    scores = mig(data, recording, np.random.default_rng(0), num_train=400)
    observed = np.concatenate(seen)
    assert observed.shape == (400, K)
    assert [len(np.unique(observed[:, k])) for k in range(K)] == NUM_VALUES
    assert scores["discrete_mig"] == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (BrokenFactors(num_values=[]), "non-empty list of positive ints"),
        (BrokenFactors(num_values=[3, 0]), "non-empty list of positive ints"),
        (BrokenFactors(drop_column=True), r"returned shape \(50, 3\), expected \(50, 4\)"),
    ],
)
def test_sources_that_break_the_protocol_are_refused(source, message):
    with pytest.raises(ValueError, match=message):
        mig(source, perfect, np.random.default_rng(0), num_train=50)


def test_perfect_representation_scores_near_one(perfect_scores):
    assert perfect_scores["beta_vae"]["eval_accuracy"] >= 0.95
    assert perfect_scores["factor_vae"]["eval_accuracy"] >= 0.95
    assert perfect_scores["factor_vae"]["num_active_dims"] == K
    assert perfect_scores["mig"]["discrete_mig"] >= 0.9
    assert perfect_scores["dci"]["disentanglement"] >= 0.9
    assert perfect_scores["dci"]["completeness"] >= 0.9
    assert perfect_scores["dci"]["informativeness_test"] >= 0.95


def test_random_representation_scores_near_chance(random_scores):
    chance = 1.0 / K
    assert abs(random_scores["beta_vae"]["eval_accuracy"] - chance) < 0.12
    assert abs(random_scores["factor_vae"]["eval_accuracy"] - chance) < 0.12
    assert random_scores["mig"]["discrete_mig"] < 0.1
    assert random_scores["dci"]["disentanglement"] < 0.3
    assert random_scores["dci"]["informativeness_test"] < 0.3


def test_entangled_rotation_scores_clearly_lower(data, perfect_scores):
    scores = evaluate_disentanglement(
        data, entangled, rng_seed=0, metrics=("mig", "dci"), scale=SCALE
    )
    assert scores["mig"]["discrete_mig"] < perfect_scores["mig"]["discrete_mig"] - 0.4
    assert scores["dci"]["disentanglement"] < perfect_scores["dci"]["disentanglement"] - 0.4
    assert scores["dci"]["completeness"] < perfect_scores["dci"]["completeness"] - 0.4
    # the rotation loses no information: factors remain predictable
    assert scores["dci"]["informativeness_train"] > 0.9


def test_fixed_seed_is_reproducible_and_metric_independent(data):
    metrics = ("beta_vae", "factor_vae", "mig")
    a = evaluate_disentanglement(data, entangled, rng_seed=3, metrics=metrics, scale=SCALE)
    b = evaluate_disentanglement(data, entangled, rng_seed=3, metrics=metrics, scale=SCALE)
    only_mig = evaluate_disentanglement(data, entangled, rng_seed=3, metrics=("mig",), scale=SCALE)
    assert a == b
    assert only_mig["mig"] == a["mig"]


def test_scale_one_uses_disentanglement_lib_defaults(data):
    assert DISENTANGLEMENT_LIB_DEFAULTS == {
        "beta_vae": {"batch_size": 64, "num_train": 10000, "num_eval": 5000},
        "factor_vae": {
            "batch_size": 64,
            "num_train": 10000,
            "num_eval": 5000,
            "num_variance_estimate": 10000,
        },
        "mig": {"num_train": 10000, "num_bins": 20},
        "dci": {"num_train": 10000, "num_test": 5000},
    }
    full = evaluate_disentanglement(data, perfect, metrics=("mig",), scale=1.0)
    assert full["settings"]["sizes"]["mig"] == {"num_train": 10000, "num_bins": 20}
    small = evaluate_disentanglement(data, perfect, metrics=("mig",), scale=SCALE)
    assert small["settings"]["sizes"]["mig"] == {"num_train": 500, "num_bins": 20}


def test_dci_scores_of_known_importance_matrices():
    assert dci_disentanglement(np.eye(3)) == pytest.approx(1.0)
    assert dci_completeness(np.eye(3)) == pytest.approx(1.0)
    assert dci_disentanglement(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-9)
    assert dci_completeness(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-9)
    # one code explains both factors: completeness perfect, disentanglement zero
    one_code = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert dci_completeness(one_code) == pytest.approx(1.0)
    assert dci_disentanglement(one_code) == pytest.approx(0.0, abs=1e-9)


def test_mig_from_codes_edge_cases():
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, 4, 2000), np.zeros(2000, dtype=int)], axis=1)
    # the constant second factor is left out of the mean, a single code dimension works
    result = mig_from_codes(factors[:, :1].astype(float), factors, num_bins=20)
    assert result["discrete_mig"] == pytest.approx(1.0)
    assert np.isnan(result["per_factor"][1])
    with pytest.raises(ValueError, match="pair up"):
        mig_from_codes(np.zeros((5, 2)), np.zeros((4, 2), dtype=int))


def _factor_vae_small(data, represent, **kwargs):
    return factor_vae_metric(
        data,
        represent,
        np.random.default_rng(0),
        num_train=200,
        num_eval=200,
        num_variance_estimate=500,
        **kwargs,
    )


def test_factor_vae_ignores_dead_dimensions(data):
    def with_dead_dim(obs):
        return np.concatenate([obs, np.zeros((len(obs), 1))], axis=1)

    scores = _factor_vae_small(data, with_dead_dim, prune_threshold=0.0)
    assert scores["num_active_dims"] == K
    assert scores["eval_accuracy"] == 1.0
    assert scores["per_factor_accuracy"] == [1.0] * K
    assert scores["dim_factor"] == [0, 1, 2, 3, None]


def test_factor_vae_breakdown_without_an_active_dimension(data):
    scores = _factor_vae_small(data, lambda obs: np.zeros((len(obs), 2)))
    assert scores["eval_accuracy"] == 0.0 and scores["num_active_dims"] == 0
    assert scores["per_factor_accuracy"] == [None] * K
    assert scores["dim_factor"] == [None, None]
    assert scores["eval_votes"] == [[0, 0]] * K


def test_invalid_arguments_raise(data):
    with pytest.raises(ValueError, match="non-empty subset"):
        evaluate_disentanglement(data, perfect, metrics=("sap",))
    with pytest.raises(ValueError, match="scale"):
        evaluate_disentanglement(data, perfect, metrics=("mig",), scale=0)
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        evaluate_disentanglement(data, lambda obs: obs[:, 0], metrics=("mig",), scale=SCALE)


def _factor0_in_a_tiny_dimension(obs):
    """Factors 1..3 as they are; factor 0 only in a dimension of global std ~0.0014 (< 0.05)."""
    return np.concatenate([obs[:, 1:], 1e-3 * obs[:, :1]], axis=1)


def test_factor_vae_prunes_dimensions_below_the_study_threshold(data):
    """disentanglement_lib's study prunes codes with std < 0.05 (factor_vae_metric.gin):
    factor 0, carried only by such a code, can no longer win the vote."""
    assert FACTOR_VAE_PRUNE_THRESHOLD == 0.05
    pruned = _factor_vae_small(data, _factor0_in_a_tiny_dimension)
    assert pruned["prune_threshold"] == 0.05
    assert pruned["num_active_dims"] == K - 1
    # factors 1..3 are still read perfectly; factor 0's votes land on another factor's code
    assert 0.6 <= pruned["eval_accuracy"] <= 0.85
    assert pruned["per_factor_accuracy"] == [0.0, 1.0, 1.0, 1.0]
    assert pruned["dim_factor"] == [1, 2, 3, None]  # the pruned dimension never wins a vote
    votes = np.array(pruned["eval_votes"])
    assert votes.shape == (K, K) and votes[:, 3].sum() == 0
    assert votes.sum() == 200  # one vote per evaluation point
    read = np.array(pruned["per_factor_accuracy"]) @ votes.sum(axis=1) / votes.sum()
    assert read == pytest.approx(pruned["eval_accuracy"])  # the score is their vote-weighted mean
    kept = _factor_vae_small(data, _factor0_in_a_tiny_dimension, prune_threshold=0.0)
    assert kept["num_active_dims"] == K
    assert kept["eval_accuracy"] == 1.0
    # the threshold is a parameter: at 1e-4 the ~0.0014-std code is active again
    assert _factor_vae_small(data, _factor0_in_a_tiny_dimension, prune_threshold=1e-4) == {
        **kept,
        "prune_threshold": 1e-4,
    }
    with pytest.raises(ValueError, match="prune_threshold"):
        _factor_vae_small(data, perfect, prune_threshold=-0.1)


def test_factor_vae_threshold_zero_is_the_unpruned_metric(data):
    """A code just above the threshold is kept, and with nothing below it the threshold does not
    change the score: 0 reproduces the metric as it was before pruning."""
    def scaled(obs):
        return obs * np.array([0.1, 1.0, 1.0, 1.0])  # factor 0's code std ~0.14 >= 0.05

    default = _factor_vae_small(data, scaled)
    unpruned = _factor_vae_small(data, scaled, prune_threshold=0.0)
    assert default["num_active_dims"] == unpruned["num_active_dims"] == K
    assert {**default, "prune_threshold": 0.0} == unpruned
    assert unpruned["eval_accuracy"] == 1.0


def test_scores_by_factor_names_the_factors_and_drops_undefined_values():
    scores = {"factor_vae": {"per_factor_accuracy": [0.25, None, 1.0],
                             "dim_factor": [2, None, 0, 2]},
              "mig": {"per_factor": [0.125, float("nan"), 0.5]}, "settings": {}}
    assert scores_by_factor(scores, ("shape", "scale", "posX")) == {
        "factor_vae": {"shape": 0.25, "scale": None, "posX": 1.0},
        "factor_vae_dim_factor": ["posX", None, "shape", "posX"],
        "mig": {"shape": 0.125, "scale": None, "posX": 0.5}}
    assert scores_by_factor({"mig": scores["mig"]}, ("a", "b", "c")) == {
        "mig": {"a": 0.125, "b": None, "c": 0.5}}  # metrics not run are absent
    with pytest.raises(ValueError, match="3 per-factor values for 2 factor names"):
        scores_by_factor(scores, ("shape", "scale"))


def test_evaluate_disentanglement_reports_by_factor(data):
    """On the toy data a perfect representation reads every factor; the names follow the
    factors' order."""
    scores = evaluate_disentanglement(data, perfect, metrics=("factor_vae", "mig"), scale=SCALE)
    by = scores_by_factor(scores, ("a", "b", "c", "d"))
    assert by["factor_vae"] == {"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0}
    assert by["factor_vae_dim_factor"] == ["a", "b", "c", "d"]
    assert all(gap > 0.5 for gap in by["mig"].values())
