"""``NAME=VALUE`` command-line overrides shared by the benchmark scripts."""

from __future__ import annotations

import json


def parse_settings(pairs: list[str] | None, flag: str = "--set") -> dict:
    """``["noise_std=0.577", "self_augmentation_weight=1"]`` -> {name: JSON value}; values
    that are not JSON stay strings."""
    out = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"{flag} takes NAME=VALUE, got {pair!r}")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out
