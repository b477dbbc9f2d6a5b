"""InfoVAEGAN model: config, networks, latent space, model."""

from .infovaegan_config import VARIANTS, InfoVAEGANConfig
from .infovaegan_model import InfoVAEGAN, ModelLoadError

__all__ = ["InfoVAEGAN", "InfoVAEGANConfig", "ModelLoadError", "VARIANTS"]
