"""pythae-style sampler for InfoVAEGAN's structured prior (noise + one-hot + continuous)."""

from __future__ import annotations

import os

import torch
from pydantic.dataclasses import dataclass
from pythae.samplers.base import BaseSampler, BaseSamplerConfig

from ..models.infovaegan import InfoVAEGAN


@dataclass
class StructuredPriorSamplerConfig(BaseSamplerConfig):
    """Fix a categorical value or continuous code for every sample, or leave them random.

    Parameters:
        categorical: class index of each categorical code (None: sampled from the prior).
        seed: seed of the sampler's own random generator (reproducible samples).
    """

    categorical: list | None = None
    seed: int | None = None


class StructuredPriorSampler(BaseSampler):
    """Samples images from the InfoVAEGAN prior; no fitting needed (the prior is fixed)."""

    def __init__(self, model: InfoVAEGAN, sampler_config: StructuredPriorSamplerConfig | None = None):
        if not isinstance(model, InfoVAEGAN):
            raise TypeError(f"StructuredPriorSampler samples InfoVAEGAN, got {type(model).__name__}.")
        super().__init__(model=model, sampler_config=sampler_config or StructuredPriorSamplerConfig())
        self.is_fitted = True

    def sample(
        self,
        num_samples: int = 1,
        batch_size: int = 500,
        output_dir: str | None = None,
        return_gen: bool = True,
        save_sampler_config: bool = False,
    ) -> torch.Tensor | None:
        """Generate ``num_samples`` images (N, C, H, W) in [0, 1]; optionally save PNGs."""
        cfg = self.sampler_config
        gen = torch.Generator(device=self.device)
        gen.manual_seed(cfg.seed if cfg.seed is not None else torch.seed())
        outputs = []
        with torch.no_grad():
            for start in range(0, num_samples, batch_size):
                n = min(batch_size, num_samples - start)
                categorical = None
                if cfg.categorical is not None:
                    categorical = torch.tensor(cfg.categorical, dtype=torch.long).expand(n, -1)
                outputs.append(
                    self.model.generate(n, categorical=categorical, generator=gen).cpu()
                )
        images = torch.cat(outputs) if outputs else torch.empty(0, *self.model.input_dim)
        if output_dir is not None:
            os.makedirs(output_dir, exist_ok=True)
            for i, image in enumerate(images):
                self.save_img(image, output_dir, f"{i:08d}.png")
            if save_sampler_config:
                self.save(output_dir)
        return images if return_gen else None
