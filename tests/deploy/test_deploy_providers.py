"""Execution-provider resolution: silent CPU fallback for "auto", loud errors when explicit."""

from __future__ import annotations

import onnxruntime as ort
import pytest

from infovaegan_plugin.deploy import runtime
from infovaegan_plugin.deploy.runtime import (
    OnnxEncoder,
    ProviderUnavailableError,
    make_session_options,
    resolve_providers,
)

CUDA_REASON = runtime.cuda_unavailable_reason()


def test_auto_is_silent_and_matches_the_probe(capfd):
    runtime.cuda_unavailable_reason.cache_clear()
    providers = resolve_providers("auto")
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    expected = (["CPUExecutionProvider"] if runtime.cuda_unavailable_reason() is not None
                else ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert providers == expected


def test_probe_is_cached():
    assert runtime.cuda_unavailable_reason() is runtime.cuda_unavailable_reason()
    assert runtime.cuda_unavailable_reason.cache_info().currsize == 1


@pytest.mark.skipif(CUDA_REASON is None, reason="CUDA works on this machine")
def test_explicit_cuda_without_cuda_says_what_is_missing():
    with pytest.raises(ProviderUnavailableError) as info:
        resolve_providers("cuda")
    message = str(info.value)
    assert "CUDAExecutionProvider" in message and CUDA_REASON in message
    assert "providers='auto'" in message
    with pytest.raises(ProviderUnavailableError):
        resolve_providers(["CUDAExecutionProvider", "cpu"])


def test_explicit_cpu_and_lists():
    assert resolve_providers("cpu") == ["CPUExecutionProvider"]
    assert resolve_providers(["CPU", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(ProviderUnavailableError, match="FancyExecutionProvider"):
        resolve_providers(["FancyExecutionProvider"])
    with pytest.raises(ValueError, match="at least one"):
        resolve_providers([])


@pytest.mark.skipif(
    CUDA_REASON is None or "CUDAExecutionProvider" not in ort.get_available_providers(),
    reason="needs an onnxruntime build with CUDA on a machine where CUDA cannot run",
)
def test_cuda_reason_mentions_a_fix_when_present():
    assert "install" in CUDA_REASON.lower() or "device" in CUDA_REASON.lower()


@pytest.mark.skipif(CUDA_REASON is not None, reason=f"CUDA cannot run here: {CUDA_REASON}")
def test_explicit_cuda_with_cuda_keeps_a_cpu_fallback():
    assert resolve_providers("cuda") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert resolve_providers("auto") == ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_cuda_probe_without_a_cuda_build_names_the_package(monkeypatch):
    """The reason for an onnxruntime built without CUDA says which package to install."""
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    runtime.cuda_unavailable_reason.cache_clear()
    try:
        reason = runtime.cuda_unavailable_reason()
        assert reason is not None and "onnxruntime-gpu" in reason
        assert resolve_providers("auto") == ["CPUExecutionProvider"]
        with pytest.raises(ProviderUnavailableError, match="not available in this onnxruntime"):
            resolve_providers("cuda")
    finally:
        monkeypatch.undo()
        runtime.cuda_unavailable_reason.cache_clear()


def test_session_options_are_applied(digits_export):
    options = make_session_options(intra_op_num_threads=1, inter_op_num_threads=1,
                                   graph_optimization_level="basic")
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    encoder = OnnxEncoder(digits_export[0], providers="cpu", intra_op_num_threads=1,
                          graph_optimization_level="disable")
    assert encoder.providers == ["CPUExecutionProvider"]
    with pytest.raises(ValueError, match="graph_optimization_level"):
        make_session_options(graph_optimization_level="max")
    with pytest.raises(ValueError, match="intra_op_num_threads"):
        make_session_options(intra_op_num_threads=-1)
