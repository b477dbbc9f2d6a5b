"""One interface over InfoVAEGAN (and its ablations) and pythae's VAE-family models.

Every metric talks to a :class:`ModelAdapter`, so "the same metrics for every model" holds by
construction. What differs per family, and why:

* representation (disentanglement): InfoVAEGAN's interpretable code, i.e. the categorical
  probabilities and continuous means (not the noise part, which by design carries what the
  code does not); a VAE's posterior means over its whole latent.
* clustering: InfoVAEGAN's own categorical code (``predict_categories[:, 0]``); a VAE has no
  discrete latent, so k-means (k = number of classes) on its posterior means.
* reconstruction: the posterior mode / mean through the generator or decoder (deterministic).
* samples: the model's prior through its generator or decoder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from sklearn.cluster import KMeans

from ..layout import TRAVERSAL_LIMITS
from ..models.infovaegan import InfoVAEGAN
from ..viz import samples_per_category

BATCH = 256
#: Traversal range of a N(0, 1) latent, in standard deviations: the layout's rule for a
#: normal prior, shared with the VAEs' Gaussian latents so both grids span the same range.
NORMAL_TRAVERSAL_LIMIT = TRAVERSAL_LIMITS["normal"]
#: At most this many latent dimensions (rows) in a VAE traversal grid.
MAX_TRAVERSAL_ROWS = 10


@runtime_checkable
class ModelAdapter(Protocol):
    family: str
    clustering_method: str

    def represent(self, images: np.ndarray) -> np.ndarray: ...

    def cluster(self, images: np.ndarray, n_clusters: int, seed: int = 0) -> np.ndarray: ...

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor: ...

    def sample(self, n: int, seed: int = 0) -> torch.Tensor: ...

    def traversal(
        self, reference: np.ndarray, num_values: int = 10
    ) -> tuple[torch.Tensor, int, list[str]]:
        """Images of a traversal grid, its number of columns, and one label per row."""
        ...


class _TorchAdapter:
    """Device handling and batched, gradient-free calls shared by both families."""

    def __init__(self, model: torch.nn.Module):
        self.model = model.eval()
        self.device = next(model.parameters()).device

    def _batched(
        self, fn: Callable[[torch.Tensor], torch.Tensor], images: np.ndarray
    ) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(images), BATCH):
                chunk = np.ascontiguousarray(images[start : start + BATCH], dtype=np.float32)
                out.append(fn(torch.from_numpy(chunk).to(self.device)).detach().cpu().numpy())
        return np.concatenate(out, axis=0)

    def _generator(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(seed)


class InfoVAEGANAdapter(_TorchAdapter):
    """InfoVAEGAN, InfoGAN or ALI (the same class, different config switches)."""

    family = "infovaegan"
    clustering_method = "categorical code (predict_categories[:, 0])"

    def __init__(self, model: InfoVAEGAN):
        super().__init__(model)
        self.config = model.model_config

    def _code(self, x: torch.Tensor) -> torch.Tensor:
        encoded = self.model.encode(x)
        return torch.cat([encoded.categorical_probs, encoded.continuous_mean], dim=1)

    def represent(self, images: np.ndarray) -> np.ndarray:
        return self._batched(self._code, images)

    def cluster(self, images: np.ndarray, n_clusters: int, seed: int = 0) -> np.ndarray:
        if not self.model.layout.n_codes:
            return _kmeans(self.represent(images), n_clusters, seed)
        return self._batched(lambda x: self.model.predict_categories(x)[:, 0], images)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.reconstruct(images.to(self.device))

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        with torch.no_grad():
            return self.model.generate(n, generator=self._generator(seed))

    def traversal(self, reference: np.ndarray, num_values: int = 10):
        """Each continuous code over its prior range (columns), for every value of the first
        categorical code (rows), noise fixed: InfoGAN's figure layout."""
        layout = self.model.layout
        rows = layout.check_categorical_code(0)
        with torch.no_grad():
            if layout.continuous_dim == 0:
                return samples_per_category(self.model, num_values), num_values, [
                    f"category {k}" for k in range(rows)
                ]
            grids = [
                self.model.traverse(d, num_values=num_values, limit=layout.traversal_limit)
                for d in range(layout.continuous_dim)
            ]
        labels = [f"c{d} | category {k}" for d in range(layout.continuous_dim)
                  for k in range(rows)]
        return torch.cat(grids), num_values, labels


class PythaeVAEAdapter(_TorchAdapter):
    """Any pythae model with a Gaussian encoder (``embedding``/``log_covariance``) and a
    decoder (``reconstruction``): VAE, beta-VAE, FactorVAE, beta-TCVAE, VAEGAN, ..."""

    family = "pythae"
    clustering_method = "k-means (k = number of classes) on the encoder means"

    def __init__(self, model: torch.nn.Module):
        super().__init__(model)
        self.latent_dim = int(model.model_config.latent_dim)

    def _mean(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.encoder(x).embedding

    def represent(self, images: np.ndarray) -> np.ndarray:
        return self._batched(self._mean, images)

    def cluster(self, images: np.ndarray, n_clusters: int, seed: int = 0) -> np.ndarray:
        return _kmeans(self.represent(images), n_clusters, seed)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.decoder(self._mean(images.to(self.device))).reconstruction

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        z = torch.randn(n, self.latent_dim, generator=self._generator(seed), device=self.device)
        with torch.no_grad():
            return self.model.decoder(z).reconstruction

    def active_dimensions(self, reference: np.ndarray) -> np.ndarray:
        """Latent dimensions sorted by their mean KL to the prior on ``reference`` (most
        informative first): the ones worth a row in a traversal grid."""
        def kl(x: torch.Tensor) -> torch.Tensor:
            out = self.model.encoder(x)
            mu, log_var = out.embedding, out.log_covariance
            return 0.5 * (mu.pow(2) + log_var.exp() - 1.0 - log_var)

        return np.argsort(-self._batched(kl, reference).mean(axis=0), kind="stable")

    def traversal(self, reference: np.ndarray, num_values: int = 10):
        """The most informative latent dimensions (rows) over [-2, 2] (columns), starting from
        the posterior mean of the first reference image."""
        dims = self.active_dimensions(reference)[: min(MAX_TRAVERSAL_ROWS, self.latent_dim)]
        base = torch.from_numpy(self.represent(reference[:1]))[0].to(self.device)
        values = torch.linspace(-NORMAL_TRAVERSAL_LIMIT, NORMAL_TRAVERSAL_LIMIT, num_values)
        z = base.repeat(len(dims) * num_values, 1)
        for row, dim in enumerate(dims):
            z[row * num_values : (row + 1) * num_values, int(dim)] = values.to(self.device)
        with torch.no_grad():
            images = self.model.decoder(z).reconstruction
        return images, num_values, [f"z{int(d)}" for d in dims]


def _kmeans(features: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    return KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit_predict(
        features.astype(np.float64)
    )


def adapter_for(model: torch.nn.Module) -> ModelAdapter:
    """The adapter of a trained model; raises TypeError for models it cannot evaluate."""
    if isinstance(model, InfoVAEGAN):
        return InfoVAEGANAdapter(model)
    encoder = getattr(model, "encoder", None)
    if encoder is not None and hasattr(model, "decoder") and hasattr(model, "model_config"):
        return PythaeVAEAdapter(model)
    raise TypeError(
        f"cannot evaluate a {type(model).__name__}: expected an InfoVAEGAN or a pythae model "
        "with a Gaussian encoder and a decoder."
    )
