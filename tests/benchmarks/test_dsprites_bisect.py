"""``benchmarks/dsprites_bisect.py``: arms name the reference's differences, reach the configs
the trainer uses, and a tiny run writes its points, the chart and the summary, and does not
train a finished arm again."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import dsprites_bisect as bisect  # noqa: E402


def test_arms_switch_the_named_differences(tmp_path):
    assert bisect.parse_arm("preset").switched == ()
    assert set(bisect.parse_arm("all").switched) == set(bisect.DIFFERENCES)
    left_one_out = bisect.parse_arm("all-codes-g_steps")
    assert set(left_one_out.switched) == set(bisect.DIFFERENCES) - {"codes", "g_steps"}
    model, trainer = bisect.parse_arm("codes+g_steps").overrides()
    assert model == {"categorical_dims": [], "continuous_dim": 5, "noise_dim": 5,
                     "categorical_head": "dense", "self_augmentation_weight": 0.0}
    assert trainer == {"generator_steps": 2}
    assert bisect.parse_arm("codes").limit(300) == 300
    assert bisect.parse_arm("data+codes").limit(300) == 200_000
    # a change beyond the reference is switched by name, never by ``all``
    assert "pooled_category" not in bisect.parse_arm("all").switched
    model, _ = bisect.parse_arm("pooled_category").overrides()
    assert model == {"categorical_head": "mean_pooled"}
    assert bisect.parse_arm("max_pooled_category").overrides()[0] == {
        "categorical_head": "max_pooled"}
    model, _ = bisect.parse_arm("pooled_category+nuisance_augmentation").overrides()
    assert model == {"categorical_head": "mean_pooled", "self_augmentation_weight": 1.0,
                     "self_augmentation_rotation_deg": 180.0, "self_augmentation_scale": 0.4,
                     "self_augmentation_shift": 0.0}
    heavy, _ = bisect.parse_arm("pooled_category+heavy_nuisance_augmentation").overrides()
    assert heavy == {**model, "self_augmentation_weight": 4.0}
    assert bisect.parse_arm("contrastive").overrides()[0] == {"contrastive_weight": 2.0}
    runner = bisect.arm_runner(bisect.parse_arm("contrastive"), 0, "infovaegan", 200,
                               str(tmp_path))
    runner.train(1)
    signals = runner.losses()
    assert signals["contrastive_loss"] > 0 and 0 <= signals["contrastive_accuracy"] <= 1


def test_the_dsprites_preset_is_the_arm_that_won_at_budget():
    """The runs of ``pooled_category+nuisance_augmentation`` are the preset's own runs: the
    arm's switches change nothing in the preset's config (variant by variant)."""
    from infovaegan_plugin.presets import model_config_for

    model, trainer = bisect.parse_arm("pooled_category+nuisance_augmentation").overrides()
    assert trainer == {}
    for variant in ("infovaegan", "infogan"):
        assert model_config_for("dsprites", (1, 64, 64), variant, **model) == model_config_for(
            "dsprites", (1, 64, 64), variant)
    assert model_config_for("dsprites", (1, 64, 64), "infovaegan", categorical_head="dense",
                            self_augmentation_weight=0.0) != model_config_for(
        "dsprites", (1, 64, 64))


@pytest.mark.parametrize("spec", ["cods", "all-cods", "codes+", ""])
def test_an_unknown_difference_is_named(spec):
    with pytest.raises(SystemExit, match="unknown difference") as error:
        bisect.parse_arm(spec)
    assert "known: codes" in str(error.value)


def test_the_runner_trains_with_the_arms_configs(tmp_path):
    runner = bisect.arm_runner(bisect.parse_arm("all-data"), 0, "infogan", 200, str(tmp_path))
    config = runner.model.model_config
    assert (config.categorical_dims, config.continuous_dim, config.noise_dim) == ([], 5, 5)
    assert config.discriminator_spectral_norm and not config.discriminator_batch_norm
    assert (config.hidden_dim, config.instance_noise_std, config.mi_continuous_weight) == (
        128, 0.0, 0.025)
    assert config.use_inference_stage is False  # the InfoGAN ablation
    assert runner.config.generator_steps == 2
    assert runner.config.discriminator_learning_rate == 2e-3
    assert runner.images_per_epoch == 180  # 90% of --limit 200 (the data switch left out)
    invariant_runner = bisect.arm_runner(
        bisect.parse_arm("pooled_category+nuisance_augmentation"), 0, "infovaegan", 200,
        str(tmp_path))
    invariant_runner.train(1)
    # the points record the signals that say why the category follows a factor
    signals = invariant_runner.losses()
    assert signals["sat_consistency"] >= 0.0 and 0.0 <= signals["sat_balance"] <= math.log(3)
    assert signals["mi_categorical"] > 0.0 and "mi_continuous" in signals
    invariant = invariant_runner.model.model_config
    assert (invariant.categorical_head, invariant.self_augmentation_weight) == ("mean_pooled", 1.0)
    assert (invariant.self_augmentation_rotation_deg, invariant.self_augmentation_scale,
            invariant.self_augmentation_shift) == (180.0, 0.4, 0.0)
    assert invariant.use_inference_stage is True
    preset = bisect.arm_runner(bisect.parse_arm("preset"), 0, "infogan", 200, str(tmp_path))
    assert preset.model.model_config.categorical_dims == [3]
    assert preset.config.generator_steps == 1


def test_a_tiny_bisection_writes_points_and_skips_finished_arms(tmp_path, capsys):
    reference = tmp_path / "ref.jsonl"
    reference.write_text('{"step": 5000, "factor_vae": 0.5, "mig": 0.1}\n'
                         '{"stopped_at_step": 9978}\n')
    out = tmp_path / "out"
    argv = ["--out", str(out), "--arms", "preset", "codes+g_steps", "--steps", "2",
            "--eval-every", "1", "--eval-scale", "0.002", "--limit", "200",
            "--reference-jsonl", str(reference)]
    summary = bisect.main(argv)
    arms = {r["arm"]: r for r in summary["arms"]}
    assert set(arms) == {"preset", "codes+g_steps"}
    for record in arms.values():
        assert record["complete"] and [p["step"] for p in record["curve"]] == [1, 2]
        assert all(0.0 <= p["factor_vae"] <= 1.0 and 0.0 <= p["mig"] <= 1.0
                   for p in record["curve"])
    assert summary["reference_script"] == [{"step": 5000, "factor_vae": 0.5, "mig": 0.1}]
    written = json.loads((out / "arm_codes+g_steps_s0.json").read_text())
    assert written["trainer_overrides"] == {"generator_steps": 2}
    assert Image.open(out / bisect.CHART_NAME).size[0] > 0
    capsys.readouterr()
    again = bisect.main(argv)
    assert "done before" in capsys.readouterr().out
    assert [r["curve"] for r in again["arms"]] == [r["curve"] for r in summary["arms"]]


def test_report_gathers_every_arm_in_the_folder(tmp_path):
    out = tmp_path / "out"
    argv = ["--out", str(out), "--arms", "preset", "--steps", "1", "--eval-every", "1",
            "--eval-scale", "0.002", "--limit", "200"]
    bisect.main(argv)
    bisect.main([*argv[:3], "hidden", *argv[4:]])
    report = bisect.main(["--out", str(out), "--report"])
    assert sorted(r["arm"] for r in report["arms"]) == ["hidden", "preset"]
    with pytest.raises(SystemExit, match="no arm"):
        bisect.main(["--out", str(tmp_path / "empty"), "--report"])


def test_a_stopped_arm_continues_where_it_stopped(tmp_path, monkeypatch):
    """SIGTERM mid-arm saves the arm's state; the same command ends with the points of the
    arm that never stopped, and a larger ``--steps`` continues a finished arm."""
    import signal

    import dsprites_gpu_runners as runners
    import run_state

    def argv(out, steps=3):
        return ["--out", str(out), "--arms", "preset", "--steps", str(steps),
                "--eval-every", "2", "--eval-scale", "0.002", "--limit", "200"]

    straight = bisect.main(argv(tmp_path / "straight"))["arms"][0]
    monkeypatch.setattr(run_state, "CHUNK", 1)
    train = runners.InfoVAEGANRunner.train

    def stopped_at_1(runner, n):
        train(runner, n)
        if runner.steps == 1:
            signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(runners.InfoVAEGANRunner, "train", stopped_at_1)
    out = tmp_path / "stopped"
    with pytest.raises(SystemExit, match="stopped by SIGTERM at step 1 of preset seed 0"):
        bisect.main(argv(out))
    assert json.loads((out / "arm_preset_s0.json").read_text())["curve"] == []
    assert (out / "state" / "arm_preset_s0.pt").is_file()
    monkeypatch.setattr(runners.InfoVAEGANRunner, "train", train)
    resumed = bisect.main(argv(out))["arms"][0]
    assert resumed["complete"] and [p["step"] for p in resumed["curve"]] == [2, 3]
    for ours, theirs in zip(resumed["curve"], straight["curve"]):
        for key in ("factor_vae", "mig", "sprite_fraction", "losses"):
            assert ours[key] == theirs[key], (ours["step"], key)
    longer = bisect.main(argv(out, steps=4))["arms"][0]
    assert [p["step"] for p in longer["curve"]] == [2, 3, 4] and longer["complete"]
