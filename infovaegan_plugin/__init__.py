"""infovaegan-plugin: InfoVAEGAN (Ye & Bors, 2021) for pythae, exported to ONNX.

Importing the package registers InfoVAEGAN with pythae once (see ``registry``), after which
``pythae.pipelines.TrainingPipeline`` trains it with :class:`InfoVAEGANTrainer` and
``pythae.models.AutoModel`` loads it.

A service that only runs exported models needs neither torch nor pythae:
``infovaegan_plugin.deploy.runtime`` imports with numpy and onnxruntime alone, so the
torch-side names below are skipped (and explain themselves) when torch is absent.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("infovaegan-plugin")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

_TORCH_SIDE = (
    "InfoVAEGAN",
    "InfoVAEGANConfig",
    "InfoVAEGANTrainer",
    "InfoVAEGANTrainerConfig",
    "ModelLoadError",
    "NonFiniteLossError",
    "StructuredPriorSampler",
    "StructuredPriorSamplerConfig",
)

try:
    from .models import InfoVAEGAN, InfoVAEGANConfig, ModelLoadError
    from .registry import register_builtin_models
    from .samplers import StructuredPriorSampler, StructuredPriorSamplerConfig
    from .trainers import InfoVAEGANTrainer, InfoVAEGANTrainerConfig, NonFiniteLossError
except ModuleNotFoundError as _exc:  # torch-free deployment: only deploy.runtime is usable
    if (_exc.name or "").split(".")[0] not in ("torch", "pythae"):
        raise
    _MISSING = _exc

    def __getattr__(name: str):
        if name in _TORCH_SIDE:
            raise ModuleNotFoundError(
                f"infovaegan_plugin.{name} needs torch and pythae ({_MISSING}); without them "
                "only infovaegan_plugin.deploy.runtime (ONNX Runtime inference) is available."
            )
        raise AttributeError(f"module 'infovaegan_plugin' has no attribute {name!r}")

else:
    register_builtin_models()

__all__ = [*_TORCH_SIDE, "__version__"]
