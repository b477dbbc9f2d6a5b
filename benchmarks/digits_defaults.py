"""Digits check of the defaults: the library default, noise_std=1.0 and 0.1's recipe, 3 seeds.

scikit-learn's bundled 8x8 digits (the README's main job), the digits preset, 30 epochs,
batch 64, held-out 10% split (seed 0), one thread; prints accuracy and reconstruction MSE per
run and writes benchmarks/results/digits_defaults_check.json.

    python benchmarks/digits_defaults.py
"""
import sys, json, torch, numpy as np
torch.set_num_threads(1)
import infovaegan_plugin
from pythae.pipelines import TrainingPipeline
from infovaegan_plugin import InfoVAEGAN, InfoVAEGANTrainerConfig
from infovaegan_plugin.data import load_digits_data, to_pythae_dataset
from infovaegan_plugin.presets import model_config_for
from infovaegan_plugin.callbacks import RichProgressCallback
import logging; logging.disable(logging.WARNING)
data = load_digits_data(); train, held = data.split(0.1, 0)
LEG = {"noise_in_elbo": True, "kl_categorical_weight": 1.0, "joint_discriminator": False, "gumbel_temperature": 0.67,
       "mi_continuous_loss": "gaussian_nll", "mi_continuous_weight": 0.1, "elbo_updates_generator_bn": True, "noise_std": 1.0}
variants = {"default": ({}, {}), "noise_std1": ({"noise_std": 1.0}, {}), "legacy0.1": (LEG, {})}
out = {}
for name, (mo, to) in variants.items():
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        m = InfoVAEGAN(model_config_for("digits", train.images.shape[1:], **mo))
        tc = InfoVAEGANTrainerConfig(output_dir="/tmp/dcmp", num_epochs=30, per_device_train_batch_size=64, seed=seed, steps_saving=None, no_cuda=True, **to)
        p = TrainingPipeline(model=m, training_config=tc)
        p(train_data=to_pythae_dataset(train), eval_data=to_pythae_dataset(held), callbacks=[RichProgressCallback()])
        h = p.trainer.history[-1]
        out.setdefault(name, []).append((h["eval_accuracy"], h["eval_recon_mse"]))
        print(name, seed, round(h["eval_accuracy"], 3), round(h["eval_recon_mse"], 4), flush=True)
for k, v in out.items():
    a = np.array(v); print(k, "acc mean %.3f mse mean %.4f" % tuple(a.mean(0)))
json.dump(out, open("benchmarks/results/digits_defaults_check.json", "w"), indent=2)
