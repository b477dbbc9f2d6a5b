"""Images -> codes with an exported ``encoder.onnx`` (numpy + onnxruntime only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from infovaegan_plugin.deploy import metadata as md
from infovaegan_plugin.deploy.session import InvalidModelError, OnnxSession
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
        missing = [o for o in md.ENCODER_OUTPUTS if o not in self.output_names]
        if missing:
            raise InvalidModelError(f"{self.path}: encoder graph lacks outputs {missing}.")

    def encode(self, images: Any) -> dict[str, np.ndarray]:
        """Codes of ``images`` as float32 arrays keyed by the graph's output names.

        ``categorical_probs``/``categorical_logits`` (N, sum of categorical sizes),
        ``continuous_mean``/``continuous_logvar`` (N, continuous_dim), ``features``, and
        ``noise_mean``/``noise_logvar`` when the model infers the noise.
        """
        batch = prepare_images(images, self.input_shape, self.normalisation)
        return self._run({self._input_name: batch})
