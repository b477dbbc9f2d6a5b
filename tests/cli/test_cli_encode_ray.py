"""``infovaegan encode --engine ray``: its bad command lines are one line and exit code 2, found
before any Ray instance starts (the end-to-end run is in
tests/deploy/test_deploy_ray_encode.py, which shares one Ray instance among its tests)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from infovaegan_plugin.cli.app import app

ray = pytest.importorskip("ray", reason="the Ray engine needs the [ray] extra")
runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(autouse=True)
def ray_log_level(monkeypatch):
    """The command sets RAY_BACKEND_LOG_LEVEL when unset; undone after each test."""
    monkeypatch.delenv("RAY_BACKEND_LOG_LEVEL", raising=False)


@pytest.fixture(scope="module")
def npy(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("encode_ray") / "x.npy"
    np.save(path, np.zeros((4, 1, 8, 8), np.uint8))
    return path


def encode(tiny_export: Path, source: Path, output: Path, *extra: str):
    return runner.invoke(app, ["encode", str(tiny_export / "onnx" / "encoder.onnx"),
                               str(source), "--output", str(output), *extra])


@pytest.mark.parametrize("output, extra, message", [
    ("codes.csv", ["--engine", "ray"], "--engine ray writes a folder of Parquet files: "
     "--output must be a folder name (no suffix, or .parquet), got"),
    ("codes.npz", ["--workers", "2"], "error: --workers: only with --engine ray."),
    ("codes.npz", ["--address", "auto", "--column", "px"],
     "error: --address, --column: only with --engine ray."),
    ("codes.npz", ["--engine", "spark"], "error: --engine must be local or ray, got 'spark'."),
    ("codes", ["--engine", "ray", "--key", "a"], "error: --key, --data-dir: only with "
     "--engine local"),
])
def test_option_mistakes_are_one_line(tiny_export, npy, tmp_path, output, extra, message):
    result = encode(tiny_export, npy, tmp_path / output, *extra)
    assert result.exit_code == 2, result.output
    assert message in flat(result.output) and "Traceback" not in result.output
    assert not (tmp_path / output).exists()


def test_missing_input_fails_before_ray_starts(tiny_export, tmp_path):
    result = encode(tiny_export, tmp_path / "missing.npy", tmp_path / "codes", "--engine", "ray")
    assert result.exit_code == 2, result.output
    assert f"error: {tmp_path / 'missing.npy'}: no such file or directory" in flat(result.output)
    assert not ray.is_initialized()


def test_without_ray_the_error_says_how_to_install_it(tiny_export, npy, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    result = encode(tiny_export, npy, tmp_path / "codes", "--engine", "ray")
    assert result.exit_code == 2, result.output
    assert flat(result.output) == ('error: the Ray engine needs Ray Data (ray is not '
                                   'installed); install it with: pip install '
                                   '"infovaegan-plugin[ray]"')


def test_an_unreachable_cluster_fails_in_seconds(tiny_export, npy, tmp_path):
    assert not ray.is_initialized()  # else the connected driver would be used
    started = time.perf_counter()
    result = encode(tiny_export, npy, tmp_path / "codes", "--engine", "ray",
                    "--address", "127.0.0.1:9")
    assert result.exit_code == 2, result.output
    assert "error: cannot connect to Ray at 127.0.0.1:9: " in flat(result.output)
    assert len(result.output.strip().splitlines()) == 1
    assert time.perf_counter() - started < 30 and not ray.is_initialized()
    assert not (tmp_path / "codes").exists()
