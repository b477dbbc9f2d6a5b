"""InfoVAEGAN trainer and its config."""

from .infovaegan_trainer import InfoVAEGANTrainer, NonFiniteLossError
from .infovaegan_trainer_config import InfoVAEGANTrainerConfig

__all__ = ["InfoVAEGANTrainer", "InfoVAEGANTrainerConfig", "NonFiniteLossError"]
