"""Images -> codes with an exported ``encoder.onnx`` (numpy + onnxruntime only).

The file's :class:`~infovaegan_plugin.layout.LatentLayout` says how wide each output is and how
the categorical logits split into codes (:meth:`OnnxEncoder.predict_categories`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from infovaegan_plugin.deploy import metadata as md
from infovaegan_plugin.deploy.session import InvalidModelError, OnnxSession, read_layout
from infovaegan_plugin.inputs import prepare_images

__all__ = ["OnnxEncoder"]


class OnnxEncoder(OnnxSession):
    """Images -> codes, from an exported ``encoder.onnx``."""

    kind = "encoder"

    def _check_graph(self) -> None:
        if len(self._inputs) != 1:
            raise InvalidModelError(
                f"{self.path}: an encoder has one input, this graph has {self.input_names}."
            )
        self._input_name = self.input_names[0]
        # a fixed size the graph declares must be the metadata's (an unknown rank passes)
        declared = list(self._inputs[self._input_name].shape or [])
        if (declared and len(declared) != 4) or any(
            isinstance(d, int) and d != want for d, want in zip(declared[1:], self.input_shape)
        ):
            raise InvalidModelError(
                f"{self.path}: the graph's input {self._input_name!r} has shape {declared}, "
                f"but the metadata says images are {list(self.input_shape)} (C, H, W)."
            )
        missing = [o for o in md.ENCODER_OUTPUTS if o not in self.output_names]
        if missing:
            raise InvalidModelError(f"{self.path}: encoder graph lacks outputs {missing}.")
        self.layout = read_layout(self)
        infers_noise = all(name in self.output_names for name in md.ENCODER_NOISE_OUTPUTS)
        outputs = {o.name: o for o in self._session.get_outputs()}
        for name, width in self.layout.encoder_outputs(infers_noise).items():
            dim = outputs[name].shape[-1] if name in outputs else None
            if isinstance(dim, int) and dim != width:
                raise InvalidModelError(
                    f"{self.path}: output {name!r} has width {dim} but the latent layout in "
                    f"the metadata says {width}."
                )

    def encode(self, images: Any) -> dict[str, np.ndarray]:
        """Codes of ``images`` as float32 arrays keyed by the graph's output names.

        ``categorical_probs``/``categorical_logits`` (N, sum of categorical sizes),
        ``continuous_mean``/``continuous_logvar`` (N, continuous_dim), ``features``,
        ``noise_mean``/``noise_logvar`` when the model infers the noise, and
        ``trunk_features`` (N, hidden_dim) in exports that have it (since 0.2).
        """
        batch = prepare_images(images, self.input_shape, self.normalisation)
        return self._run({self._input_name: batch})

    def predict_categories(self, codes: dict[str, np.ndarray]) -> np.ndarray:
        """Most likely class of each categorical code, int64 ``(N, n_codes)``, from the
        output of :meth:`encode`."""
        return self.layout.argmax(codes["categorical_logits"])
