"""The torch side of the structured latent space: codes, reparameterisations and loss terms.

Sizes, slices and the generator-input order come from :class:`~infovaegan_plugin.layout.
LatentLayout` (``config.layout``), the one torch-free description the ONNX runtime reads too;
this module only does in torch what training needs on the device (sampling with a
``torch.Generator``, one-hot, relaxations, losses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from infovaegan_plugin.layout import LatentLayout

from .infovaegan_config import InfoVAEGANConfig

LOGVAR_MIN, LOGVAR_MAX = -8.0, 8.0
#: U[-1, 1] has variance 1/3: the KL of a Gaussian posterior is taken to this moment-matched
#: Gaussian, because the KL to a uniform is infinite for any Gaussian.
UNIFORM_MATCHED_VAR = 1.0 / 3.0


@dataclass
class LatentCodes:
    """One batch of generator inputs, kept apart so each loss can address its own block."""

    noise: torch.Tensor  # (N, noise_dim)
    categorical: torch.Tensor  # (N, sum(categorical_dims)) one-hot or relaxed
    continuous: torch.Tensor  # (N, continuous_dim)
    categorical_index: torch.Tensor | None = None  # (N, n_codes) long, when sampled hard

    def generator_input(self) -> torch.Tensor:
        return compose_generator_input(self.noise, self.categorical, self.continuous)

    def code(self, with_noise: bool) -> torch.Tensor:
        """The (image, code) pair's code for a joint discriminator."""
        parts = [self.categorical, self.continuous] + ([self.noise] if with_noise else [])
        return torch.cat(parts, dim=1)

    def detach(self) -> LatentCodes:
        """The same codes cut from the graph (the discriminator step must not train E)."""
        return LatentCodes(
            noise=self.noise.detach(),
            categorical=self.categorical.detach(),
            continuous=self.continuous.detach(),
            categorical_index=self.categorical_index,
        )

    def __len__(self) -> int:
        return self.noise.shape[0]


def compose_generator_input(
    noise: torch.Tensor, categorical: torch.Tensor, continuous: torch.Tensor
) -> torch.Tensor:
    """The generator's input, its blocks in the layout's order."""
    parts = {"noise": noise, "categorical": categorical, "continuous": continuous}
    return torch.cat(LatentLayout.ordered_inputs(parts), dim=1)


def one_hot_per_code(index: torch.Tensor, dims: list[int]) -> torch.Tensor:
    """(N, n_codes) class indices -> concatenated one-hot blocks (N, sum(dims))."""
    if not dims:
        return index.new_zeros((index.shape[0], 0), dtype=torch.float32)
    blocks = [F.one_hot(index[:, i], size).float() for i, size in enumerate(dims)]
    return torch.cat(blocks, dim=1)


def split_per_code(logits: torch.Tensor, dims: list[int]) -> list[torch.Tensor]:
    """Per-code blocks of categorical columns (sizes ``dims``: ``layout.categorical_sizes``)."""
    return list(torch.split(logits, list(dims), dim=1)) if dims else []


def softmax_per_code(logits: torch.Tensor, dims: list[int]) -> torch.Tensor:
    blocks = [F.softmax(block, dim=1) for block in split_per_code(logits, dims)]
    return torch.cat(blocks, dim=1) if blocks else logits


def argmax_per_code(logits: torch.Tensor, dims: list[int]) -> torch.Tensor:
    """Most likely value of each categorical code, (N, n_codes)."""
    blocks = [block.argmax(dim=1) for block in split_per_code(logits, dims)]
    if not blocks:
        return logits.new_zeros((logits.shape[0], 0), dtype=torch.long)
    return torch.stack(blocks, dim=1)


def gumbel_softmax_per_code(
    logits: torch.Tensor, dims: list[int], temperature: float
) -> torch.Tensor:
    """Concrete relaxation of each categorical code: differentiable samples for the ELBO."""
    blocks = [
        F.gumbel_softmax(block, tau=temperature, hard=False)
        for block in split_per_code(logits, dims)
    ]
    return torch.cat(blocks, dim=1) if blocks else logits


def sample_prior(
    config: InfoVAEGANConfig,
    n: int,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> LatentCodes:
    """Draw ``n`` generator inputs from the layout's priors with torch's generator:
    z ~ N(0, noise_std^2 I), c ~ Cat(uniform), d ~ U[-1, 1] or N(0, 1)."""
    layout = config.layout
    kw = {"device": device, "generator": generator}
    noise = torch.randn(n, layout.noise_dim, **kw) * layout.noise_std
    sizes = list(layout.categorical_sizes)
    index = torch.stack(
        [torch.randint(0, size, (n,), **kw) for size in sizes], dim=1
    ) if sizes else torch.zeros(n, 0, dtype=torch.long, device=device)
    if layout.continuous_prior == "uniform":
        continuous = torch.rand(n, layout.continuous_dim, **kw) * 2.0 - 1.0
    else:
        continuous = torch.randn(n, layout.continuous_dim, **kw)
    return LatentCodes(
        noise=noise,
        categorical=one_hot_per_code(index, sizes).to(device),
        continuous=continuous,
        categorical_index=index,
    )


def shared_code_pairs(
    config: InfoVAEGANConfig,
    n: int,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> tuple[LatentCodes, LatentCodes, torch.Tensor]:
    """InfoGAN-CR's pairs: two prior draws per row that agree on one interpretable code and
    on nothing else, and which code that is, ``shared`` (N,): ``i < len(categorical_dims)``
    is categorical code ``i``, the rest continuous dimension ``i - len(categorical_dims)``."""
    first = sample_prior(config, n, device, generator)
    second = sample_prior(config, n, device, generator)
    shared = torch.randint(0, config.code_count, (n,), device=device, generator=generator)
    sizes = list(config.layout.categorical_sizes)
    index = second.categorical_index.clone()
    for i in range(len(sizes)):
        index[:, i] = torch.where(shared == i, first.categorical_index[:, i], index[:, i])
    columns = torch.arange(config.layout.continuous_dim, device=device) + len(sizes)
    same = shared[:, None] == columns[None, :]
    second = LatentCodes(
        noise=second.noise,
        categorical=one_hot_per_code(index, sizes).to(device),
        continuous=torch.where(same, first.continuous, second.continuous),
        categorical_index=index,
    )
    return first, second, shared


def split_encoder_output(config: InfoVAEGANConfig, raw: torch.Tensor) -> dict[str, torch.Tensor]:
    """Flat encoder output -> named posterior parameters (log-variances clamped for stability),
    in float32: under bf16 autocast the losses built on them keep full precision."""
    raw = raw.float()
    widths = config.layout.encoder_head_widths(config.infer_noise)
    out = dict(zip(widths, torch.split(raw, list(widths.values()), dim=1)))
    for name in ("continuous_logvar", "noise_logvar"):
        if name in out:
            out[name] = out[name].clamp(LOGVAR_MIN, LOGVAR_MAX)
    return out


def reparameterize(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)


# ----- loss terms (each: sum over latent dimensions, mean over the batch) -----


def categorical_cross_entropy(logits: torch.Tensor, index: torch.Tensor, dims: list[int]):
    """MI lower bound, categorical part: -E[log Q(c | G(z, c, d))]."""
    total = logits.new_zeros(())
    for i, block in enumerate(split_per_code(logits, dims)):
        total = total + F.cross_entropy(block, index[:, i])
    return total


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """MI lower bound, continuous part: -log N(x; mean, exp(logvar))."""
    nll = 0.5 * (logvar + (x - mean) ** 2 * torch.exp(-logvar) + math.log(2 * math.pi))
    return nll.sum(dim=1).mean()


def squared_error(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """MI term of the authors' code: ``||x - (mean + std * eps)||^2`` of a posterior sample.

    Its expectation is ``||x - mean||^2 + sum(var)``, so it fits the mean and shrinks the
    variance, with gradients bounded by the code's range (a Gaussian NLL's grow as
    ``exp(-logvar)``: ~3000x at the log-variance floor).
    """
    return ((x - reparameterize(mean, logvar)) ** 2).sum(dim=1).mean()


def mean_squared_error(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """MI term of InfoGAN's official code (a factored Gaussian with unit variance, constants
    dropped): ``||x - mean||^2``; the log-variance is not used."""
    return ((x - mean) ** 2).sum(dim=1).mean()


def kl_gaussian(mean: torch.Tensor, logvar: torch.Tensor, prior_var: float = 1.0) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, prior_var))."""
    var = torch.exp(logvar)
    kl = 0.5 * (math.log(prior_var) - logvar + (var + mean**2) / prior_var - 1.0)
    return kl.sum(dim=1).mean()


def kl_categorical_uniform(logits: torch.Tensor, dims: list[int]) -> torch.Tensor:
    """KL(q(c | x) || uniform), summed over the categorical codes."""
    total = logits.new_zeros(())
    for block in split_per_code(logits, dims):
        log_q = F.log_softmax(block, dim=1)
        total = total + (log_q.exp() * (log_q + math.log(block.shape[1]))).sum(dim=1).mean()
    return total


def continuous_prior_var(config: InfoVAEGANConfig) -> float:
    return UNIFORM_MATCHED_VAR if config.layout.continuous_prior == "uniform" else 1.0
