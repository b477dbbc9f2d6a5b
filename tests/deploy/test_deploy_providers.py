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
    if runtime.cuda_unavailable_reason() is None:
        assert providers == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    else:
        assert providers == ["CPUExecutionProvider"]


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


def test_cuda_reason_mentions_a_fix_when_present():
    if CUDA_REASON is not None and "CUDAExecutionProvider" in ort.get_available_providers():
        assert "install" in CUDA_REASON.lower() or "device" in CUDA_REASON.lower()


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
