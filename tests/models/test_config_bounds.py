"""Bounds of the config fields that size the networks: every real use fits, and a corrupt or
hostile value is a ``ValueError`` naming the field and the bound, found from the numbers alone
(before anything is allocated)."""

from __future__ import annotations

import itertools

import pytest

from infovaegan_plugin import InfoVAEGAN, InfoVAEGANConfig
from infovaegan_plugin.models.infovaegan.sizes import parameter_count
from infovaegan_plugin.models.infovaegan.infovaegan_config import MAX_PARAMETERS
from infovaegan_plugin.presets import model_config_for


@pytest.mark.parametrize(("dataset", "input_dim", "variant"), [
    *itertools.product(["digits"], [(1, 8, 8)], ["infovaegan", "ali"]),
    *itertools.product(["mnist"], [(1, 28, 28), (3, 64, 64), (3, 128, 128), (3, 1024, 1024)],
                       ["infovaegan", "infogan", "ali"]),
    *itertools.product(["dsprites"], [(1, 64, 64)], ["infovaegan", "ali"]),
    *itertools.product(["custom"], [(3, 128, 128), (3, 1024, 1024), (3, 2048, 2048)],
                       ["infovaegan", "ali"]),
])
def test_every_real_use_is_within_the_bounds(dataset, input_dim, variant):
    config = model_config_for(dataset, input_dim, variant)
    assert parameter_count(config) <= MAX_PARAMETERS // 2  # with room to spare


def test_the_largest_real_widths_fit_at_1024_pixels():
    config = model_config_for("mnist", (3, 1024, 1024), "ali", base_channels=128)
    assert 1.5e9 < parameter_count(config) <= MAX_PARAMETERS


BAD_FIELDS = [
    ({"input_dim": (1, 200_000, 200_000)},
     "input_dim (1, 200000, 200000): 200000x200000 pixels has a side above the limit of 4096."),
    ({"input_dim": (1, 8, 4097)},
     "input_dim (1, 8, 4097): 8x4097 pixels has a side above the limit of 4096."),
    ({"input_dim": (65, 8, 8)}, "input_dim (65, 8, 8): 65 channels is above the limit of 64."),
    ({"input_dim": (5, 4096, 4096)},
     "input_dim (5, 4096, 4096): 5 x 4096 x 4096 = 83,886,080 values per image is above the "
     "limit of 67,108,864 (256 MiB as float32)."),
    ({"categorical_dims": [10, 10_001]},
     "categorical_dims [10, 10001]: each code may have at most 10,000 values."),
    ({"continuous_dim": 1_001}, "continuous_dim must be <= 1,000, got 1001."),
    ({"noise_dim": 10**12}, "noise_dim must be <= 10,000, got 1000000000000."),
    ({"categorical_dims": [10_000] * 7},
     "categorical_dims, continuous_dim and noise_dim add up to 70,064 latent dimensions, above "
     "the limit of 65,536."),
    ({"hidden_dim": 16_385}, "hidden_dim must be in [1, 16,384], got 16385."),
    ({"hidden_dim": 0}, "hidden_dim must be in [1, 16,384], got 0."),
    ({"base_channels": 1_025}, "base_channels must be in [1, 1,024], got 1025."),
    ({"base_channels": 0}, "base_channels must be in [1, 1,024], got 0."),
    ({"input_dim": (3, 4096, 4096)},
     "the networks would have 8,603,094,158 parameters (32.0 GiB as float32), above the limit "
     "of 2,147,483,648; they grow with input_dim (3, 4096, 4096), hidden_dim 1024 and "
     "base_channels 64 (architecture 'dcgan64')."),
    ({"input_dim": (3, 1024, 1024), "base_channels": 256},  # each field in bounds
     "the networks would have 2,154,658,574 parameters (8.0 GiB as float32), above the limit "
     "of 2,147,483,648; they grow with input_dim (3, 1024, 1024), hidden_dim 1024 and "
     "base_channels 256 (architecture 'dcgan64')."),
]


@pytest.mark.parametrize(("fields", "message"), BAD_FIELDS,
                         ids=[next(iter(f)) + str(i) for i, (f, _) in enumerate(BAD_FIELDS)])
def test_a_field_beyond_its_bound_is_refused_naming_it(fields, message):
    with pytest.raises(ValueError) as refused:
        InfoVAEGANConfig(**{"input_dim": (1, 28, 28), **fields})
    assert message in str(refused.value), str(refused.value)


def test_the_parameter_count_is_that_of_the_built_networks():
    """The count the bound is checked against mirrors the builders layer by layer."""
    checked = 0
    for arch, dim, variant, extra in itertools.product(
            ["small", "infogan28", "dcgan64"], [(1, 8, 8), (2, 33, 47)],
            ["infovaegan", "infogan", "ali"],
            [{}, {"noise_in_elbo": False}, {"noise_dim": 0}, {"categorical_dims": [3, 4]},
             {"discriminator_batch_norm": False}, {"categorical_head": "max_pooled"},
             {"contrastive_weight": 1.0}]):
        if arch == "dcgan64" and min(dim[1:]) < 16:
            continue
        config = InfoVAEGANConfig.for_variant(
            variant, input_dim=dim, architecture=arch,
            **{"hidden_dim": 12, "base_channels": 4, "noise_dim": 3, **extra})
        model = InfoVAEGAN(config)
        assert parameter_count(config) == sum(p.numel() for p in model.parameters()), (
            arch, dim, variant, extra)
        checked += 1
    assert checked == 105


def test_the_count_is_arithmetic_without_torch():
    """The bound is checked from the numbers: the counting module cannot allocate a tensor."""
    import ast
    import inspect

    from infovaegan_plugin.models.infovaegan import sizes

    tree = ast.parse(inspect.getsource(sizes))
    imported = {alias.name for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"__future__", "annotations", "math", "typing", "Any"}
