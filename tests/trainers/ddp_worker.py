"""Worker launched by torchrun in test_ddp: 2 CPU processes, gloo, one short epoch."""

import hashlib
import sys

import torch

import infovaegan_plugin  # noqa: F401
from infovaegan_plugin import (
    InfoVAEGAN,
    InfoVAEGANConfig,
    InfoVAEGANTrainer,
    InfoVAEGANTrainerConfig,
)
from infovaegan_plugin.data import load_digits_data, to_pythae_dataset

out_dir = sys.argv[1]
torch.set_num_threads(1)
torch.manual_seed(int(__import__("os").environ["RANK"]))  # different init per rank on purpose
config = InfoVAEGANConfig(input_dim=(1, 8, 8), hidden_dim=32, base_channels=8, noise_dim=4)
digits = load_digits_data()
trainer = InfoVAEGANTrainer(
    InfoVAEGAN(config),
    to_pythae_dataset(digits.subset(slice(0, 256))),
    to_pythae_dataset(digits.subset(slice(256, 320))),
    training_config=InfoVAEGANTrainerConfig(
        output_dir=out_dir, num_epochs=1, per_device_train_batch_size=32, no_cuda=True
    ),
)
assert trainer.distributed and str(trainer.device) == "cpu"
trainer.train()
digest = hashlib.sha256()
for p in trainer.model.parameters():
    digest.update(p.detach().numpy().tobytes())
rank = trainer.rank
with open(f"{out_dir}/rank{rank}.txt", "w") as fh:
    fh.write(f"{digest.hexdigest()} {len(trainer.train_loader)} {trainer.history[-1]['eval_accuracy']}")
