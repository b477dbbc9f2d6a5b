"""What the benchmark tests share: the reference script they compare against (skipped where
this checkout has no ../shared/reference) and a fixture that gives torch's thread count back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
#: the reference InfoGAN script (``INFOGAN_DSPRITES_REFERENCE`` overrides where it lies)
REFERENCE = Path(os.environ.get("INFOGAN_DSPRITES_REFERENCE",
                                REPO.parent / "shared" / "reference" / "infogan_dsprites.py"))


@pytest.fixture
def reference_script() -> Path:
    """The reference script's path; the test is skipped where it is missing."""
    if not REFERENCE.is_file():
        pytest.skip(f"reference script not found: {REFERENCE}")
    return REFERENCE


@pytest.fixture
def one_thread():
    """One torch thread (the reference script's ``--threads 1``), the count before restored
    (the benchmarks set their own)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
