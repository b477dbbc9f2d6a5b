"""Trainers of the plug-in (one folder per trainer, each with its own config class)."""

from .infovaegan_trainer import InfoVAEGANTrainer, InfoVAEGANTrainerConfig, NonFiniteLossError

__all__ = ["InfoVAEGANTrainer", "InfoVAEGANTrainerConfig", "NonFiniteLossError"]
