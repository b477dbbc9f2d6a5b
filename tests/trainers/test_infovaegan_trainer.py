"""InfoVAEGAN trainer: optimizer ownership, forward-pass budget, checkpoints, NaN, AMP."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch
from pythae.data.datasets import BaseDataset

from infovaegan_plugin import (
    InfoVAEGAN,
    InfoVAEGANTrainer,
    InfoVAEGANTrainerConfig,
    NonFiniteLossError,
)
from infovaegan_plugin.models.infovaegan.infovaegan_model import STAGES, LossBatch


def make_trainer(model, datasets, tmp_path, **kwargs) -> InfoVAEGANTrainer:
    train, evaluation = datasets
    config = InfoVAEGANTrainerConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=32, **{"num_epochs": 1, **kwargs}
    )
    trainer = InfoVAEGANTrainer(model, train, evaluation, training_config=config)
    trainer.prepare_training()
    return trainer


def snapshot(module: torch.nn.Module) -> dict:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def changed(module: torch.nn.Module, before: dict) -> bool:
    return any(not torch.equal(p, before[name]) for name, p in module.named_parameters())


#: The encoder as a network of its own (the paper's figure; ALI's default): pinned where a
#: test's expectation is about that structure, since InfoGAN's shared trunk is the default.
SEPARATE = {"share_discriminator_trunk": False}
SHARED = {"share_discriminator_trunk": True}


@pytest.mark.parametrize(
    "variant, model_kwargs, mi_optimizer, expected",
    [
        (
            "infovaegan",
            SEPARATE,
            "separate",
            {
                "discriminator": {"discriminator"},
                "generator": {"generator"},
                "mutual_information": {"generator", "encoder"},
                "encoder": {"encoder"},
            },
        ),
        (
            "infovaegan",
            SEPARATE,
            "shared",
            {
                "discriminator": {"discriminator"},
                "generator": {"generator", "encoder"},
                "encoder": {"encoder"},
            },
        ),
        (
            "infogan",
            SEPARATE,
            "separate",
            {
                "discriminator": {"discriminator"},
                "generator": {"generator"},
                "mutual_information": {"generator", "encoder"},
            },
        ),
        ("ali", {}, "separate", {"discriminator": {"discriminator"}, "generator": {"generator", "encoder"}}),
        # InfoGAN's official Q (the default): D's optimizer owns D's trunk and Q's heads (the MI
        # term is in D's loss); G's optimizer owns G only; the ELBO steps the heads alone
        (
            "infovaegan",
            SHARED,
            "shared",
            {
                "discriminator": {"discriminator", "encoder"},
                "generator": {"generator"},
                "encoder": {"encoder"},
            },
        ),
        (
            "infogan",
            SHARED,
            "separate",
            {
                "discriminator": {"discriminator", "encoder"},
                "generator": {"generator"},
                "mutual_information": {"generator"},
            },
        ),
    ],
)
def test_each_optimizer_steps_exactly_its_networks(
    make_model, digits_datasets, tmp_path, variant, model_kwargs, mi_optimizer, expected
):
    """One optimizer at a time keeps its learning rate (the others get 0): a full training
    step must then change exactly the networks that optimizer owns."""
    model = make_model(variant, **model_kwargs)
    trainer = make_trainer(model, digits_datasets, tmp_path, mi_optimizer=mi_optimizer)
    assert set(trainer.optimizers) == set(expected)
    real = digits_datasets[0].data[:32]
    nets = model.networks()
    for name in expected:
        for other, optimizer in trainer.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = 1e-3 if other == name else 0.0
        before = {k: snapshot(v) for k, v in nets.items()}
        trainer.training_step(real, epoch=1)
        assert {k for k, v in nets.items() if changed(v, before[k])} == expected[name], name


def test_noise_head_is_trained_only_by_its_regression(make_model, digits_datasets, tmp_path):
    """The noise head reads detached trunk features: its regression never reaches the trunk,
    and the ELBO (which regenerates with the same noise) never reaches the noise head."""
    model = make_model(noise_in_elbo=False)
    trainer = make_trainer(model, digits_datasets, tmp_path, mi_optimizer="separate")
    prior = model.sample_prior(16)
    fake = model.generator(prior.generator_input())
    batch = LossBatch(real=fake.detach(), prior=prior, fake=fake)
    stages = model.losses(batch, ("generation", "inference"))
    trunk = list(model.encoder.trunk.parameters())
    head = list(model.encoder.noise_head.parameters())
    noise_on_trunk = torch.autograd.grad(stages.noise_regression, trunk, retain_graph=True, allow_unused=True)
    elbo_on_head = torch.autograd.grad(stages.elbo, head, retain_graph=True, allow_unused=True)
    noise_on_head = torch.autograd.grad(stages.noise_regression, head, allow_unused=True)
    assert all(g is None or not g.any() for g in noise_on_trunk)
    assert all(g is None or not g.any() for g in elbo_on_head)
    assert all(g is not None and g.abs().sum() > 0 for g in noise_on_head)
    assert "mutual_information" in trainer.optimizers


def test_optimizers_have_their_own_learning_rates(make_model, digits_datasets, tmp_path):
    trainer = make_trainer(
        make_model(),
        digits_datasets,
        tmp_path,
        mi_optimizer="separate",
        discriminator_learning_rate=1e-4,
        generator_learning_rate=2e-3,
        mutual_information_learning_rate=5e-4,
        encoder_learning_rate=3e-4,
        encoder_betas=(0.9, 0.99),
    )
    groups = {k: o.param_groups[0] for k, o in trainer.optimizers.items()}
    names = ("discriminator", "generator", "mutual_information", "encoder")
    assert [groups[k]["lr"] for k in names] == [1e-4, 2e-3, 5e-4, 3e-4]
    assert groups["encoder"]["betas"] == (0.9, 0.99)
    assert groups["discriminator"]["betas"] == (0.5, 0.999)


@pytest.mark.parametrize(
    "variant, d_steps, expected",
    [
        ("infovaegan", 1, {"generator": 2, "discriminator": 3, "encoder": 1}),
        ("infovaegan", 2, {"generator": 2, "discriminator": 5, "encoder": 1}),
        ("infovaegan-joint", 1, {"generator": 2, "discriminator": 3, "encoder": 2}),
        ("infogan", 1, {"generator": 1, "discriminator": 3, "encoder": 1}),
        ("ali", 1, {"generator": 1, "discriminator": 4, "encoder": 1}),
        # Q on D's trunk reads the features of D's own passes: no encoder pass at all, and the
        # ELBO encodes the generated batch from the generator step's D pass
        ("infovaegan-shared-trunk", 1, {"generator": 2, "discriminator": 3}),
        ("infovaegan-shared-trunk", 2, {"generator": 2, "discriminator": 5}),
        ("infogan-shared-trunk", 1, {"generator": 1, "discriminator": 3}),
        # the default self-augmentation adds one encoder pass per D step: the moved real batch
        ("infovaegan-self-augmentation", 1, {"generator": 2, "discriminator": 3, "encoder": 1}),
        ("infovaegan-self-augmentation", 2, {"generator": 2, "discriminator": 5, "encoder": 2}),
        ("infogan-self-augmentation", 1, {"generator": 1, "discriminator": 3, "encoder": 1}),
    ],
)
def test_forward_passes_per_step_are_minimal(
    make_model, digits_datasets, tmp_path, variant, d_steps, expected
):
    if variant == "infovaegan-joint":  # the paper's joint D also encodes the real batch
        model = make_model("infovaegan", joint_discriminator=True, **SEPARATE)
    elif variant.endswith("-shared-trunk"):
        model = make_model(variant.removesuffix("-shared-trunk"), **SHARED,
                           self_augmentation_weight=0.0)
    elif variant.endswith("-self-augmentation"):  # the defaults
        model = make_model(variant.removesuffix("-self-augmentation"))
        assert model.model_config.self_augmentation_weight == 1.0
    else:
        model = make_model(variant, **SEPARATE)
    trainer = make_trainer(model, digits_datasets, tmp_path, discriminator_steps=d_steps)
    counts = Counter()
    handles = [
        net.register_forward_hook(lambda module, args, output, name=name: counts.update([name]))
        for name, net in model.networks().items()
    ]
    metrics = trainer.training_step(digits_datasets[0].data[:32], epoch=1)
    for handle in handles:
        handle.remove()
    assert dict(counts) == expected
    assert ("elbo_loss" in metrics) == variant.startswith("infovaegan")


def test_warmup_runs_gan_stage_only(make_model, digits_datasets, tmp_path):
    model = make_model()
    trainer = make_trainer(model, digits_datasets, tmp_path, warmup_epochs=1)
    assert "elbo_loss" not in trainer.training_step(digits_datasets[0].data[:32], epoch=1)
    assert "elbo_loss" in trainer.training_step(digits_datasets[0].data[:32], epoch=2)
    assert trainer.inference_stage_active(2) and not trainer.inference_stage_active(1)


def test_training_writes_pythae_layout_and_history(make_model, digits_datasets, tmp_path):
    model = make_model()
    trainer = make_trainer(model, digits_datasets, tmp_path, num_epochs=2, steps_saving=1)
    trainer.train()
    run = Path(trainer.training_dir)
    assert run.name.startswith("InfoVAEGAN_training_")
    for folder in ("checkpoint_epoch_1", "checkpoint_epoch_2", "final_model"):
        assert (run / folder / "model.pt").is_file() and (run / folder / "model_config.json").is_file()
    assert (run / "checkpoint_epoch_1" / "optimizers.pt").is_file()
    assert (run / "final_model" / "training_config.json").is_file()
    history = json.loads((run / "final_model" / "training_history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    for key in ("discriminator_loss", "elbo_loss", "eval_recon_mse", "eval_accuracy"):
        assert all(torch.isfinite(torch.tensor(h[key])) for h in history), key
    assert 0.0 <= history[-1]["eval_accuracy"] <= 1.0
    # the final model is the last epoch's weights
    final = InfoVAEGAN.load_from_folder(str(run / "final_model"))
    for name, tensor in final.state_dict().items():
        torch.testing.assert_close(tensor, model.state_dict()[name], rtol=0, atol=0)


def test_resume_continues_from_checkpoint(make_model, digits_datasets, tmp_path):
    first = make_trainer(make_model(), digits_datasets, tmp_path / "a", num_epochs=2, steps_saving=1)
    first.train()
    checkpoint = Path(first.training_dir) / "checkpoint_epoch_1"
    saved = torch.load(checkpoint / "optimizers.pt", weights_only=True)
    assert saved["epoch"] == 1 and set(saved["optimizers"]) == {"discriminator", "generator", "encoder"}

    resumed = make_trainer(
        make_model(seed=1),
        digits_datasets,
        tmp_path / "b",
        num_epochs=2,
        resume_from_checkpoint=str(checkpoint),
    )
    epoch = resumed.load_checkpoint(str(checkpoint))
    assert epoch == 1
    restored = InfoVAEGAN.load_from_folder(str(checkpoint))
    for name, tensor in restored.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], tensor, rtol=0, atol=0)
    for name, opt in resumed.optimizers.items():
        assert opt.state_dict()["state"].keys() == saved["optimizers"][name]["state"].keys()
    resumed.train()
    assert [h["epoch"] for h in resumed.history] == [2]


def test_resume_rejects_a_folder_that_is_not_a_checkpoint(make_model, digits_datasets, tmp_path):
    trainer = make_trainer(make_model(), digits_datasets, tmp_path)
    with pytest.raises(FileNotFoundError, match="not a checkpoint folder"):
        trainer.load_checkpoint(str(tmp_path))


def test_nan_loss_stops_and_keeps_last_good_state(make_model, digits_datasets, tmp_path, monkeypatch):
    model = make_model()
    trainer = make_trainer(model, digits_datasets, tmp_path, num_epochs=3)
    original = InfoVAEGAN.losses
    calls = {"n": 0}
    calls_per_epoch = len(trainer.train_loader) + len(trainer.eval_loader)  # eval calls it too

    def poisoned(self, batch, stages=STAGES):
        out = original(self, batch, stages)
        if "generation" in stages:
            calls["n"] += 1
            if calls["n"] == calls_per_epoch + 2:  # second step of epoch 2
                out["adversarial"] = out.adversarial * float("nan")
        return out

    monkeypatch.setattr(InfoVAEGAN, "losses", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"non-finite generator loss at epoch 2, step 2.*adversarial.*checkpoint_epoch_1"):
        trainer.train()
    # the poisoned step never reached the weights
    assert all(torch.isfinite(p).all() for p in model.parameters())
    kept = Path(trainer.training_dir) / "checkpoint_epoch_1"
    assert (kept / "optimizers.pt").is_file()
    restored = InfoVAEGAN.load_from_folder(str(kept))
    assert all(torch.isfinite(t).all() for t in restored.state_dict().values() if t.is_floating_point())
    assert not (Path(trainer.training_dir) / "final_model").exists()


def test_amp_on_cpu_trains_in_bf16_with_finite_losses(make_model, digits_datasets, tmp_path):
    """pythae drops ``amp`` when ``no_cuda`` is set; ours keeps it: the networks must really
    run in bfloat16 under ``--amp`` on CPU, and stay float32 without it."""
    dtypes = {}
    for amp in (False, True):
        model = make_model()
        trainer = make_trainer(model, digits_datasets, tmp_path / str(amp), amp=amp, no_cuda=True)
        assert trainer.training_config.amp is amp
        seen = []
        model.generator.fc[0].register_forward_hook(lambda m, a, o: seen.append(o.dtype))
        metrics = trainer.train_step(epoch=1)
        assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
        dtypes[amp] = set(seen)
    assert dtypes == {False: {torch.float32}, True: {torch.bfloat16}}


def test_trainer_rejects_wrong_types(make_model, digits_datasets):
    from pythae.trainers import BaseTrainerConfig

    with pytest.raises(TypeError, match="needs an InfoVAEGANTrainerConfig"):
        InfoVAEGANTrainer(make_model(), digits_datasets[0], training_config=BaseTrainerConfig())


def test_trainer_config_validates():
    with pytest.raises(ValueError, match="encoder_learning_rate"):
        InfoVAEGANTrainerConfig(encoder_learning_rate=0.0)
    with pytest.raises(ValueError, match="discriminator_steps"):
        InfoVAEGANTrainerConfig(discriminator_steps=0)
    with pytest.raises(ValueError, match="num_epoch"):  # misspelt: refused, not dropped
        InfoVAEGANTrainerConfig(num_epoch=3)


@pytest.mark.parametrize("field", ["per_device_train_batch_size", "per_device_eval_batch_size"])
@pytest.mark.parametrize("value", [0, 65_537, 10**12])
def test_batch_sizes_are_bounded(field, value):
    with pytest.raises(ValueError) as refused:
        InfoVAEGANTrainerConfig(**{field: value})
    assert (f"{field} must be a whole number in [1, 65,536], got {value}."
            in str(refused.value))
    assert getattr(InfoVAEGANTrainerConfig(**{field: 65_536}), field) == 65_536


def test_sanity_check_names_shape_problem(make_model, tmp_path):
    bad = BaseDataset(torch.rand(8, 1, 9, 9), torch.zeros(8))
    from pythae.customexception import ModelError

    with pytest.raises(ModelError, match=r"input_dim=\(1, 8, 8\)"):
        InfoVAEGANTrainer(make_model(), bad, training_config=InfoVAEGANTrainerConfig(output_dir=str(tmp_path)))


def test_per_loss_gradient_norms_name_each_optimizer_and_network(make_model, digits_datasets, tmp_path):
    trainer = make_trainer(make_model(**SEPARATE), digits_datasets, tmp_path, mi_optimizer="separate")
    metrics = trainer.training_step(digits_datasets[0].data[:32], epoch=1)
    norms = {k: float(v) for k, v in metrics.items() if k.startswith("gradnorm_")}
    assert set(norms) == {
        "gradnorm_generator_generator",
        "gradnorm_mutual_information_encoder_trunk",
        "gradnorm_mutual_information_generator",
        "gradnorm_encoder_encoder_trunk",
    }
    assert all(v > 0 for v in norms.values())


@pytest.mark.parametrize(
    "variant, mi_optimizer, expected",
    [
        ("infovaegan", "shared", {"discriminator": ("discriminator",),
                                  "generator": ("adversarial", "mutual_information"),
                                  "encoder": ("elbo",)}),
        ("infovaegan", "separate", {"discriminator": ("discriminator",),
                                    "generator": ("adversarial",),
                                    "mutual_information": ("mutual_information",),
                                    "encoder": ("elbo",)}),
        ("ali", "shared", {"discriminator": ("discriminator",), "generator": ("adversarial",)}),
    ],
)
def test_each_optimizer_steps_on_named_losses_each_named_once(
    make_model, digits_datasets, tmp_path, variant, mi_optimizer, expected
):
    trainer = make_trainer(make_model(variant), digits_datasets, tmp_path, mi_optimizer=mi_optimizer)
    assert trainer.optimizer_losses() == expected
    stepped = [loss for losses in expected.values() for loss in losses]
    assert len(stepped) == len(set(stepped))
    batch = trainer.model.loss_batch(digits_datasets[0].data[:8])
    out = trainer.model.losses(batch)
    if mi_optimizer == "shared" and variant == "infovaegan":
        assert torch.equal(trainer.optimizer_loss("generator", out), out.adversarial + out.mutual_information)


@pytest.mark.parametrize("warmup", [0, 1])
def test_train_and_eval_epoch_losses_sum_the_same_named_losses(
    make_model, digits_datasets, tmp_path, warmup
):
    trainer = make_trainer(make_model(), digits_datasets, tmp_path, warmup_epochs=warmup)
    train = trainer.train_step(epoch=1)
    evaluation = trainer.eval_step(epoch=1)
    train_losses = {k for k in train if k.endswith("_loss") and k != "train_epoch_loss"}
    eval_losses = {k[len("eval_"):] for k in evaluation if k.endswith("_loss") and k != "eval_epoch_loss"}
    names = ["discriminator", "adversarial", "mutual_information"] + (["elbo"] if not warmup else [])
    assert train_losses == eval_losses == {f"{n}_loss" for n in names}
    assert train["train_epoch_loss"] == pytest.approx(sum(train[f"{n}_loss"] for n in names), rel=1e-9)
    assert evaluation["eval_epoch_loss"] == pytest.approx(
        sum(evaluation[f"eval_{n}_loss"] for n in names), rel=1e-9
    )
    assert train["mutual_information_loss"] > 0  # the MI term is part of the epoch loss now


@pytest.mark.parametrize("with_eval", [True, False])
def test_plateau_scheduler_steps_on_the_reconstruction_mse(
    make_model, digits_datasets, tmp_path, monkeypatch, with_eval
):
    """``eval_recon_mse`` with an eval set; without one ``train_recon_mse``, the same quantity
    on the training set, measured without touching the random stream."""
    train, evaluation = digits_datasets
    config = InfoVAEGANTrainerConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=32, num_epochs=1,
        scheduler_cls="ReduceLROnPlateau", scheduler_params={"patience": 0},
    )
    trainer = InfoVAEGANTrainer(make_model(), train, evaluation if with_eval else None, training_config=config)
    seen = []
    monkeypatch.setattr(trainer, "_schedulers_step", lambda metric=None: seen.append(metric))
    trainer.train()
    key = "eval_recon_mse" if with_eval else "train_recon_mse"
    assert seen == [trainer.history[0][key]] and 0 < seen[0] < 1
    assert ("train_recon_mse" in trainer.history[0]) == (not with_eval)
    if not with_eval:
        state = torch.get_rng_state()
        mse = trainer.train_recon_mse()
        assert torch.equal(torch.get_rng_state(), state)
        model = trainer.model.eval()
        with torch.no_grad():
            images = train.data
            expected = ((model.reconstruct(images) - images) ** 2).flatten(1).mean(1).mean()
        assert mse == pytest.approx(float(expected), rel=1e-5)


def test_trainer_tells_the_model_its_epoch_for_the_noise_schedule(
    make_model, digits_datasets, tmp_path, monkeypatch
):
    """Epoch 1 judges with the full instance noise, epoch 2 (anneal over 1 epoch) with none."""
    model = make_model(instance_noise_std=0.3, instance_noise_anneal_epochs=1)
    seen: list[tuple[int, float]] = []
    schedule = model.instance_noise_std_at

    def spy(epoch: int) -> float:
        std = schedule(epoch)
        if model.training:
            seen.append((epoch, std))
        return std

    monkeypatch.setattr(model, "instance_noise_std_at", spy)
    make_trainer(model, digits_datasets, tmp_path, num_epochs=2).train()
    assert {e for e, _ in seen} == {1, 2}
    assert {std for e, std in seen if e == 1} == {0.3}
    assert {std for e, std in seen if e == 2} == {0.0}


def _category_rows_after_elbo_steps(make_model, datasets, tmp_path, scale, steps=4):
    """The change of the category's output rows (the code layer of the encoder's head) after
    ``steps`` steps of the trainer's own ELBO optimizer on fixed generated batches."""
    model = make_model(seed=2, elbo_categorical_gradient=scale)
    trainer = make_trainer(model, datasets, tmp_path / str(scale))
    code_layer = model.encoder.head[-1]  # Q's head on D's trunk: FC + BN + lReLU + code layer
    before = code_layer.weight.detach().clone()
    for step in range(steps):
        torch.manual_seed(50 + step)
        with torch.no_grad():
            prior = model.sample_prior(16)
            fake = model.generator(prior.generator_input())
        out = model.losses(LossBatch(real=fake, prior=prior, fake=fake), STAGES[1:])
        grads = torch.autograd.grad(out["elbo"], trainer._owned["encoder"], allow_unused=True)
        trainer._apply("encoder", grads)
    k = model.model_config.categorical_dims[0]
    return (code_layer.weight.detach() - before)[:k]


def test_adam_takes_the_scale_out_of_the_elbos_step_on_the_category_rows(
    make_model, digits_datasets, tmp_path
):
    """What ``elbo_categorical_gradient`` can and cannot do: the ELBO has an Adam of its own,
    which normalises each parameter's step, so any scale > 0 gives the category's output rows
    the same ELBO step as the paper's gradient; the scale acts only where the category's
    gradient meets the continuous codes' (the head's shared hidden layer). 0 removes the step."""
    full = _category_rows_after_elbo_steps(make_model, digits_datasets, tmp_path, 1.0)
    tenth = _category_rows_after_elbo_steps(make_model, digits_datasets, tmp_path, 0.1)
    stopped = _category_rows_after_elbo_steps(make_model, digits_datasets, tmp_path, 0.0)
    assert full.abs().sum() > 0
    assert ((tenth - full).norm() / full.norm()).item() < 0.1  # not 10x smaller: the same step
    assert torch.equal(stopped, torch.zeros_like(stopped))


def test_a_probe_that_draws_random_numbers_does_not_change_the_run(
    make_model, digits_datasets, tmp_path
):
    """Runs with and without an instrument (purity samples the prior after each epoch) train
    the same weights: the probe's draws do not shift the training's random stream."""

    def trained(probes, folder):
        trainer = make_trainer(make_model(seed=4), digits_datasets, tmp_path / folder,
                               num_epochs=2, eval_accuracy=False)
        trainer.epoch_probes = probes
        torch.manual_seed(9)
        trainer.train()
        return trainer.model.state_dict()

    drawing = trained([lambda model: {"drawn": float(torch.rand(500).sum())}], "probed")
    plain = trained([], "plain")
    assert all(torch.equal(drawing[name], plain[name]) for name in plain)


def adam_steps(optimizer: torch.optim.Optimizer) -> set[int]:
    return {int(state["step"]) for state in optimizer.state.values() if "step" in state}


def test_generator_steps_repeat_the_generation_update_on_the_same_codes(
    make_model, digits_datasets, tmp_path
):
    """InfoGAN-CR's recipe steps G twice per D step on the same prior codes: the generation
    optimizers step twice, the discriminator and the ELBO once, and the discriminator ends
    where a one-G-step run's does (it stepped before the generator)."""
    real = digits_datasets[0].data[:32]
    after = {}
    for g_steps in (1, 2):
        model = make_model("infovaegan", seed=3, **SHARED)
        trainer = make_trainer(model, digits_datasets, tmp_path / str(g_steps),
                               generator_steps=g_steps, seed=3)
        torch.manual_seed(11)
        prior = model.sample_prior
        drawn = []
        model.sample_prior = lambda n, *a, **k: drawn.append(prior(n, *a, **k)) or drawn[-1]
        trainer.training_step(real, epoch=1)
        assert len(drawn) == 1  # the extra update reuses the step's codes
        steps = {name: adam_steps(opt) for name, opt in trainer.optimizers.items()}
        assert steps["generator"] == {g_steps}
        assert steps["discriminator"] == {1} and steps["encoder"] == {1}
        after[g_steps] = {k: snapshot(v) for k, v in model.networks().items()}
    for name, p in after[1]["discriminator"].items():
        torch.testing.assert_close(after[2]["discriminator"][name], p, rtol=0, atol=0)
    assert any(not torch.equal(after[2]["generator"][n], p)
               for n, p in after[1]["generator"].items())


def test_generator_steps_are_validated():
    with pytest.raises(ValueError, match="generator_steps must be >= 1"):
        InfoVAEGANTrainerConfig(generator_steps=0)
