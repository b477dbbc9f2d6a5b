"""Models of the plug-in (one folder per model, as in pythae)."""

from .infovaegan import VARIANTS, InfoVAEGAN, InfoVAEGANConfig, ModelLoadError

__all__ = ["InfoVAEGAN", "InfoVAEGANConfig", "ModelLoadError", "VARIANTS"]
