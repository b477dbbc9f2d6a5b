"""Fixtures of the example tests: running a script of ``examples/`` as a user would, and one
tiny digits model trained by ``examples/train_with_pythae.py`` and exported to ONNX."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: The smoke budget of the training example: 3 epochs on the first 600 digits (60 held out),
#: 30 steps: enough that different codes give visibly different images (after one epoch on
#: 300 digits every sample was the same picture within one grey level).
TINY_TRAINING = ["--epochs", "3", "--limit", "600", "--seed", "0"]

# Run a script in a fresh interpreter and report, after it, whether it loaded torch.
_WITH_TORCH_REPORT = (
    "import runpy, sys\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    "print('torch loaded:', 'torch' in sys.modules)\n"
)


def run_example(name: str, *args: str, cwd: Path, report_torch: bool = False,
                check: bool = True) -> subprocess.CompletedProcess:
    """``python examples/<name> ARGS`` in ``cwd`` on one thread; the exit code is checked
    unless ``check=False``. ``report_torch`` appends a ``torch loaded: True|False`` line."""
    script = str(EXAMPLES / name)
    command = ([sys.executable, "-c", _WITH_TORCH_REPORT, script] if report_torch
               else [sys.executable, script])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*command, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    if check:
        assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(name="run_example", scope="session")
def run_example_fixture() -> Callable[..., subprocess.CompletedProcess]:
    """The runner, as a fixture (test modules must not import a conftest)."""
    return run_example


@pytest.fixture(scope="session")
def pythae_run(tmp_path_factory) -> dict:
    """``examples/train_with_pythae.py`` at the smoke budget: its stdout and saved model."""
    root = tmp_path_factory.mktemp("pythae_example")
    done = run_example("train_with_pythae.py", "--output-dir", str(root / "runs"),
                       *TINY_TRAINING, cwd=root)
    lines = [line for line in done.stdout.splitlines() if line.startswith("saved model: ")]
    assert len(lines) == 1, done.stdout
    return {"stdout": done.stdout, "model_dir": Path(lines[0].removeprefix("saved model: "))}


@pytest.fixture(scope="session")
def trained_export(pythae_run, tmp_path_factory) -> Path:
    """The example's model exported as ``infovaegan export`` does (fp32 pair + metadata)."""
    from infovaegan_plugin.deploy.export import export_onnx

    folder = tmp_path_factory.mktemp("example_export") / "onnx"
    export_onnx(pythae_run["model_dir"], folder, dataset_name="digits")
    return folder
