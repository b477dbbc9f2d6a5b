"""Digits check of the defaults: the library default, noise_std=1.0 and 0.1's recipe, 3 seeds.

scikit-learn's bundled 8x8 digits (the README's main job), the digits preset, 30 epochs,
batch 64, held-out 10% split (seed 0), one thread; prints accuracy and reconstruction MSE per
run and writes benchmarks/results/digits_defaults_check.json.

    python benchmarks/digits_defaults.py
"""
import json

import numpy as np
import torch

torch.set_num_threads(1)
from infovaegan_plugin import InfoVAEGANTrainerConfig
from infovaegan_plugin.data import train_held_out
from infovaegan_plugin.training import build_model, fit
from infovaegan_plugin.presets import model_config_for
from infovaegan_plugin.callbacks import RichProgressCallback
import logging; logging.disable(logging.WARNING)
train, held = train_held_out("digits", eval_fraction=0.1, seed=0)
LEG = {"noise_in_elbo": True, "kl_categorical_weight": 1.0, "joint_discriminator": False, "gumbel_temperature": 0.67,
       "mi_continuous_loss": "gaussian_nll", "mi_continuous_weight": 0.1, "elbo_updates_generator_bn": True, "noise_std": 1.0}
variants = {"default": ({}, {}), "noise_std1": ({"noise_std": 1.0}, {}), "legacy0.1": (LEG, {})}
out = {}
for name, (mo, to) in variants.items():
    for seed in (0, 1, 2):
        m = build_model(model_config_for("digits", train.images.shape[1:], **mo), seed)
        tc = InfoVAEGANTrainerConfig(output_dir="/tmp/dcmp", num_epochs=30, per_device_train_batch_size=64, seed=seed, steps_saving=None, no_cuda=True, **to)
        h = fit(m, tc, train, held, callbacks=[RichProgressCallback()]).history[-1]
        out.setdefault(name, []).append((h["eval_accuracy"], h["eval_recon_mse"]))
        print(name, seed, round(h["eval_accuracy"], 3), round(h["eval_recon_mse"], 4), flush=True)
for k, v in out.items():
    a = np.array(v); print(k, "acc mean %.3f mse mean %.4f" % tuple(a.mean(0)))
json.dump(out, open("benchmarks/results/digits_defaults_check.json", "w"), indent=2)
