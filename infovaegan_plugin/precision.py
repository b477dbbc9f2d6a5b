"""Whether bf16 autocast is worth asking for on this CPU.

Without native bf16 instructions (AVX512-BF16 or AMX) torch emulates bf16 matmuls and
convolutions: on an AVX2-only AMD EPYC the MNIST step at batch 128 took 19-20 s in bf16
against 0.97 s in fp32 (docs/RESULTS.md, "bf16 on a CPU without bf16 instructions"), where
an earlier machine ran both at about the same speed.
"""

from __future__ import annotations

__all__ = ["cpu_has_native_bf16", "cpu_bf16_warning"]


def cpu_has_native_bf16() -> bool | None:
    """True with AVX512-BF16 or AMX tiles, False without, None where torch cannot say."""
    import torch

    probes = [getattr(torch.cpu, name, None)
              for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if not any(callable(probe) for probe in probes):
        return None
    return any(bool(probe()) for probe in probes if callable(probe))


def cpu_bf16_warning() -> str | None:
    """The warning a CPU run with ``amp`` should show, or None when bf16 is native (or
    unknown)."""
    if cpu_has_native_bf16() is not False:
        return None
    import torch

    return (
        f"amp on this CPU ({torch.backends.cpu.get_cpu_capability()}, no AVX512-BF16 or AMX) "
        "runs bf16 emulated: about 20x slower per step than fp32 was measured on such a CPU. "
        "Train without amp (--no-amp) here."
    )
