"""``benchmarks/dsprites_step_speed.py``: FLOP counts from profiler events, the split of a
profile into categories, interleaved ratios and the settings it times."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile, record_function

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import dsprites_step_speed as bench  # noqa: E402

#: the discriminator's second layer: 32 -> 32 channels, 4x4, stride 2, 32x32 -> 16x16
D2_MACS = 64 * 32 * 16 * 16 * 32 * 16


def test_conv_flops_of_forward_transposed_and_backward_calls():
    conv_args = [None, None, None, [2, 2], [1, 1], [1, 1], False, [0, 0], 1]
    assert bench.conv_flops("aten::convolution", [[64, 32, 32, 32], [32, 32, 4, 4], [32]],
                            conv_args) == 2 * D2_MACS
    transposed = [None, None, None, [2, 2], [1, 1], [1, 1], True, [0, 0], 1]
    # the generator's 32 -> 32 layer (16x16 -> 32x32) does the same multiply-adds
    assert bench.conv_flops("aten::convolution", [[64, 32, 16, 16], [32, 32, 4, 4], [32]],
                            transposed) == 2 * D2_MACS
    backward = [None, None, None, [32], [2, 2], [1, 1], [1, 1], False, [0, 0], 1]
    shapes = [[64, 32, 16, 16], [64, 32, 32, 32], [32, 32, 4, 4]]
    assert bench.conv_flops("aten::convolution_backward", shapes,
                            backward + [[True, True, True]]) == 4 * D2_MACS
    assert bench.conv_flops("aten::convolution_backward", shapes,
                            backward + [[False, True, True]]) == 2 * D2_MACS
    # the one-channel layer's im2col kernel: (input, weight, kernel, bias, stride, ...)
    assert bench.conv_flops("aten::slow_conv_transpose2d", [[64, 32, 32, 32], [32, 1, 4, 4]],
                            []) == 2 * 64 * 32 * 32 * 32 * 16


def test_matmul_flops():
    assert bench.matmul_flops("aten::mm", [[64, 256], [256, 1024]]) == 2 * 64 * 256 * 1024
    assert bench.matmul_flops("aten::addmm", [[1024], [64, 256], [256, 1024]]) == (
        2 * 64 * 256 * 1024)
    assert bench.matmul_flops("aten::bmm", [[3, 4, 5], [3, 5, 6]]) == 2 * 3 * 4 * 5 * 6


def test_a_profile_splits_into_kernels_labels_and_the_rest():
    x = torch.randn(4, 2, 8, 8)
    weight = torch.randn(3, 2, 4, 4, requires_grad=True)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        with record_function("data"):
            x = x * 2
        out = F.conv2d(x, weight, stride=2, padding=1)
        F.batch_norm(out, None, None, training=True).relu().sum().backward()
    totals, kernels = bench.split_events([e for e in prof.events() if e.cpu_parent is None])
    assert set(totals) == set(bench.CATEGORIES)
    assert totals["data"] > 0 and totals["convolution"] > 0 and totals["batch_norm"] > 0
    macs = 4 * 3 * 4 * 4 * 2 * 16  # output 4x3x4x4, each reads 2 channels x 4x4
    flops = sorted(k["flops"] for k in kernels if k["name"].startswith("aten::conv"))
    assert flops == [2 * macs, 2 * macs]  # the forward; the backward's weight gradient only
    # every microsecond is counted once: no category holds more than the whole profile
    whole = sum(e.cpu_time_total for e in prof.events() if e.cpu_parent is None)
    assert sum(totals.values()) == pytest.approx(whole, rel=1e-6)


def test_block_ratios_pair_the_blocks_that_ran_side_by_side():
    times = {"a": {"wall": [10.0, 20.0, 40.0]}, "b": {"wall": [5.0, 10.0, 40.0]}}
    ratios = bench.block_ratios(times, "a")
    assert ratios["a"]["median"] == 1.0
    assert ratios["b"]["median"] == 0.5
    assert ratios["b"]["of_sums"] == pytest.approx(55 / 70)


def test_interleaving_reverses_the_order_every_other_block():
    calls = []
    runners = [bench.Runner(name, 1, lambda name=name: calls.append(name)) for name in "ab"]
    times = bench.interleaved(runners, blocks=3, block_steps=2)
    assert calls == list("aabbbbaaaabb")
    assert [len(times[n]["wall"]) for n in "ab"] == [3, 3]


def test_settings_from_the_command_line():
    args = bench.parse_args(["--compare", "plain", "ours", "--reference", "--threads", "1"])
    assert args.settings == ["plain", "ours", "reference"]
    assert bench.parse_args(["--compare", "previous", "ours"]).settings == ["previous", "ours"]
    assert bench.parse_args([]).settings == ["ours"]
    assert bench.parse_args(["--compare", "reference", "--reference"]).settings == ["reference"]
    with pytest.raises(SystemExit):
        bench.parse_args(["--compare", "fast"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--blocks", "0"])


def test_the_dsprites_preset_step_runs_with_the_fast_path_on_and_off(tmp_path):
    """The settings are the real trainer's (a small data set keeps it short)."""
    run = bench.dsprites_run(limit=128, seed=0, output_dir=str(tmp_path))
    assert run.model_config.input_dim == (1, 64, 64)
    assert run.settings["batch_size"] == 64
    for fast, in_place in ((True, True), (False, False)):
        runner = bench.build_ours(run, fast=fast, name="x", in_place=in_place)
        assert runner.notes["cpu_fast_path"] is fast
        assert runner.notes["in_place_activations"] is in_place
        assert runner.notes["optimizers"] == ["discriminator", "encoder", "generator"]
        runner.step()
