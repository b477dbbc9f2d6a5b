"""bf16 autocast on a CPU without bf16 instructions is emulated (measured ~20x slower): the
capability probe and the trainer's warning."""

import warnings

import pytest
import torch

from infovaegan_plugin import InfoVAEGANTrainer, InfoVAEGANTrainerConfig, precision
from infovaegan_plugin.trainers.infovaegan_trainer import infovaegan_trainer


@pytest.mark.parametrize(("avx512_bf16", "amx", "expected"), [
    (False, False, False), (True, False, True), (False, True, True), (True, True, True),
])
def test_native_bf16_is_either_instruction_set(monkeypatch, avx512_bf16, amx, expected):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16,
                        raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert precision.cpu_has_native_bf16() is expected
    assert (precision.cpu_bf16_warning() is None) is expected


def test_unknown_capability_gives_no_warning(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    assert precision.cpu_has_native_bf16() is None
    assert precision.cpu_bf16_warning() is None


def test_warning_names_the_cpu_and_the_remedy(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    message = precision.cpu_bf16_warning()
    assert torch.backends.cpu.get_cpu_capability() in message
    assert "no AVX512-BF16 or AMX" in message and "--no-amp" in message


@pytest.mark.parametrize("amp", [True, False])
def test_trainer_warns_only_when_amp_runs_emulated(make_model, digits_datasets, tmp_path,
                                                    monkeypatch, amp):
    monkeypatch.setattr(infovaegan_trainer, "cpu_bf16_warning", lambda: "bf16 is emulated")
    config = InfoVAEGANTrainerConfig(output_dir=str(tmp_path), per_device_train_batch_size=16,
                                     amp=amp, no_cuda=True)
    trainer = InfoVAEGANTrainer(make_model(), digits_datasets[0], training_config=config)
    trainer.prepare_training()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer._warn_if_amp_is_emulated()
    assert [str(w.message) for w in caught] == (["bf16 is emulated"] if amp else [])
    assert all(w.category is RuntimeWarning for w in caught)
