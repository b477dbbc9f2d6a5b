"""Faster CPU training of the conv nets, with the same math up to float rounding.

torch's CPU convolutions (oneDNN) run some of the dSprites nets' layers up to 3x faster in
channels-last memory than in the default layout (the discriminator's 32->32 input gradient,
the generator's 32->32 transposed conv), but a transposed conv with one output channel 2-4x
slower than ATen's own im2col kernel (``slow_conv_transpose2d``). Two layers meet that case:
the generator's last layer (grey images) and the input gradient of the discriminator's first
layer (one input channel), which the generator's losses ask for. :func:`set_fast_cpu` switches
a model to channels-last weights and that kernel; the trainer does it on the CPU
(``InfoVAEGANTrainerConfig.cpu_fast_path``). Only the order of float additions changes
(tests/models/test_fast_cpu.py); measured in docs/RESULTS.md, "dSprites step speed".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["OneChannelConv2d", "OneChannelConvTranspose2d", "set_fast_cpu"]


def _eager_cpu_float32(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """A plain eager float32 CPU call: not traced, exported or compiled (those keep the standard
    op, which every exporter knows), and not under autocast (bf16 leaves the kernel to torch:
    oneDNN where the CPU supports bf16 there)."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and not torch.jit.is_tracing()
        and not torch.jit.is_scripting()
        and not torch.onnx.is_in_onnx_export()
        and not torch.compiler.is_compiling()
        and not torch.compiler.is_exporting()
        and not torch.is_autocast_enabled("cpu")
    )


class OneChannelConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (same parameters, same state dict) that, with :attr:`fast_cpu`,
    runs its forward pass with ATen's im2col kernel (``slow_conv_transpose2d``) on the CPU:
    for one output channel oneDNN's kernel took 13-15 ms against 3-6 ms for (64, 32, 32, 32)
    inputs. The backward pass is the standard convolution backward (oneDNN is fast there)."""

    #: use the im2col kernel (set by :func:`set_fast_cpu`)
    fast_cpu: bool = False

    def forward(self, input: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if (
            self.fast_cpu
            and output_size is None
            and self.groups == 1
            and self.padding_mode == "zeros"
            and _eager_cpu_float32(input, self.weight)
        ):
            return torch.ops.aten.slow_conv_transpose2d(
                input, self.weight, list(self.kernel_size), self.bias, list(self.stride),
                list(self.padding), list(self.output_padding), list(self.dilation),
            )
        return super().forward(input, output_size)


class _OneChannelConv(torch.autograd.Function):
    """``F.conv2d`` with one input channel whose input gradient (a transposed conv with one
    output channel) runs on ATen's im2col kernel; the weight gradient stays oneDNN's."""

    @staticmethod
    def forward(ctx, images, weight, bias, stride, padding):
        ctx.save_for_backward(images, weight)
        ctx.stride, ctx.padding, ctx.has_bias = list(stride), list(padding), bias is not None
        return F.conv2d(images, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad):
        images, weight = ctx.saved_tensors
        need_images, need_weight, need_bias = ctx.needs_input_grad[:3]
        kernel = list(weight.shape[2:])
        grad_images = grad_weight = grad_bias = None
        if need_images:
            # the transposed conv's output_padding restores sizes the stride rounded down
            extra = [(size + 2 * p - k) % s for size, p, k, s in
                     zip(images.shape[2:], ctx.padding, kernel, ctx.stride)]
            grad_images = torch.ops.aten.slow_conv_transpose2d(
                grad, weight, kernel, None, ctx.stride, ctx.padding, extra, [1, 1])
        if need_weight or need_bias:
            _, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
                grad, images, weight, [weight.shape[0]] if ctx.has_bias else None, ctx.stride,
                ctx.padding, [1, 1], False, [0, 0], 1, [False, need_weight, need_bias])
        return grad_images, grad_weight, grad_bias, None, None


class OneChannelConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters, same state dict) for one input channel (the
    discriminator's first layer on grey images) that, with :attr:`fast_cpu`, computes the
    gradient with respect to its input on ATen's im2col kernel: 7 ms against oneDNN's 15 ms
    for (64, 1, 64, 64) images. Only when the images need a gradient (the generator's
    losses); the discriminator's own step is the standard op."""

    #: use the im2col kernel for the input gradient (set by :func:`set_fast_cpu`)
    fast_cpu: bool = False

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if (
            self.fast_cpu
            and input.requires_grad
            and torch.is_grad_enabled()
            and self.in_channels == 1
            and self.groups == 1
            and self.dilation == (1, 1)
            and self.padding_mode == "zeros"
            and isinstance(self.padding, tuple)
            and _eager_cpu_float32(input, self.weight)
        ):
            return _OneChannelConv.apply(input, self.weight, self.bias, self.stride, self.padding)
        return super().forward(input)


def set_fast_cpu(module: nn.Module, enabled: bool = True) -> nn.Module:
    """Channels-last conv weights and the faster one-channel kernels (``enabled``), or the
    default memory format and the standard kernels; returns ``module``. Parameters keep their
    identity (optimizers built before stay valid) and their values."""
    module.to(memory_format=torch.channels_last if enabled else torch.contiguous_format)
    for layer in module.modules():
        if isinstance(layer, (OneChannelConv2d, OneChannelConvTranspose2d)):
            layer.fast_cpu = enabled
    return module

