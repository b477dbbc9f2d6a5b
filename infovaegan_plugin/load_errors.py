"""Messages for saved-model files that cannot be loaded: say which file and what is wrong.

Two rules: a file that ``torch.load(weights_only=True)`` refuses is reported as corrupt or not
an InfoVAEGAN ``model.pt`` (torch's own text suggests retrying with ``weights_only=False``,
which would run whatever code the file carries: that advice is never passed on); and a bad
field in ``model_config.json`` names the file and the field, not just pydantic's raw text.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

__all__ = ["invalid_config_message", "unreadable_weights_message"]


def _first_line(text: str) -> str:
    """The first sentence of the first non-empty line (torch appends advice after it)."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line.split(". ")[0].rstrip(".")


def unreadable_weights_message(path: str | os.PathLike[str], exc: BaseException) -> str:
    """One line for a weights file that cannot be read with ``weights_only=True``."""
    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError) or "Weights only load failed" in text:
        reason = ("it holds pickled Python objects, not only tensors, and loading those could "
                  "run code (InfoVAEGAN saves weights with model.save(folder))")
    elif isinstance(exc, EOFError) or not text.strip():
        reason = "the file is empty or truncated"
    else:
        reason = _first_line(text)
        if "weights_only" in reason:
            reason = "torch cannot read it as a weights file"
    return f"{path} is corrupt or not an InfoVAEGAN model.pt: {reason}."


def _describe_pydantic(exc: Any) -> str | None:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return None
    try:
        entries = errors()
    except Exception:  # not a pydantic error after all
        return None
    parts = []
    for entry in entries:
        message = str(entry.get("msg", "invalid")).removeprefix("Value error, ")
        loc = ".".join(str(p) for p in entry.get("loc", ()))
        if loc:
            parts.append(f"field {loc!r}: {message} (got {entry.get('input')!r})")
        else:
            parts.append(message)
    return "; ".join(parts) or None


def invalid_config_message(path: str | os.PathLike[str], exc: BaseException) -> str:
    """One line naming the config file and each bad field."""
    detail = _describe_pydantic(exc) or _first_line(str(exc))
    return f"{path}: invalid InfoVAEGAN model config: {detail}"
