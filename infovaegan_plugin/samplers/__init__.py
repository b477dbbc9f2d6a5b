"""Samplers (pythae style) for the structured prior."""

from .structured_prior_sampler import StructuredPriorSampler, StructuredPriorSamplerConfig

__all__ = ["StructuredPriorSampler", "StructuredPriorSamplerConfig"]
