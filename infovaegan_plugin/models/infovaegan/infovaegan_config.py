"""Configuration of InfoVAEGAN: the latent layout, the architecture and the loss weights.

The config alone rebuilds the networks (no pickled code in saved models), so every choice that
shapes a network lives here.
"""

from __future__ import annotations

from dataclasses import field
from typing import Literal

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass
from pythae.models.base.base_config import BaseAEConfig

from infovaegan_plugin.inputs import image_shape_error
from infovaegan_plugin.layout import LATENT_SIZE_LIMITS, MAX_LATENT_DIM, LatentLayout

#: The method exactly as the paper's figure and the authors' code describe it (with the
#: trainer's ``mi_optimizer="separate"``). Not the default: on MNIST it measured worse than the
#: default recipe at the same budget (docs/RESULTS.md); ``InfoVAEGANConfig(**PAPER_METHOD, ...)``.
PAPER_METHOD = {
    "joint_discriminator": True,
    "encoder_adversarial": False,
    "kl_categorical_weight": 0.001,
    "noise_in_elbo": False,
    "mi_continuous_loss": "squared_error",
    "mi_continuous_weight": 1.0,
    "gumbel_temperature": 0.1,
    "elbo_updates_generator_bn": False,
    "noise_std": 1.0,
    "share_discriminator_trunk": False,
    "elbo_categorical_gradient": 1.0,
}

#: Release 0.1's recipe, kept reachable for comparisons (docs/RESULTS.md): every switch of the
#: faithful method at its 0.1 value; ``InfoVAEGANConfig(**RECIPE_0_1, ...)``.
RECIPE_0_1 = {
    "noise_in_elbo": True,
    "kl_categorical_weight": 1.0,
    "joint_discriminator": False,
    "gumbel_temperature": 0.67,
    "mi_continuous_loss": "gaussian_nll",
    "mi_continuous_weight": 0.1,
    "elbo_updates_generator_bn": True,
    "noise_std": 1.0,
    "share_discriminator_trunk": False,
    "elbo_categorical_gradient": 1.0,
}

#: The noise prior's default standard deviation: that of InfoGAN's U(-1, 1) noise. The narrow
#: N(0, 0.1^2) (ClusterGAN) measured 0.11-0.16 lower MNIST accuracy after one epoch in our
#: InfoGAN ablation and in the independent reference alike (docs/RESULTS.md).
UNIFORM_NOISE_STD = 3**-0.5

#: ``self_augmentation_weight`` of a model whose encoder reads the discriminator's trunk and
#: has a categorical code, when none is given (docs/RESULTS.md, "self-augmentation").
SELF_AUGMENTATION_DEFAULT = 1.0

#: ``elbo_categorical_gradient``'s default: the ELBO's reconstruction gradient, at full scale,
#: split MNIST's 4 and 9 by style on 2 of 3 seeds; at 0.1 none did, and InfoVAEGAN's mean
#: accuracy after 5 epochs rose from 0.913 to the InfoGAN ablation's level (docs/RESULTS.md).
ELBO_CATEGORICAL_GRADIENT = 0.1

#: Upper bounds of the fields that size the networks, so that a corrupt or hostile
#: ``model_config.json`` is refused (a ``ValueError`` naming the field and the bound) before
#: anything is allocated. Image shapes are bounded by ``infovaegan_plugin.inputs``
#: (``MAX_IMAGE_SIDE`` 4096, ``MAX_IMAGE_CHANNELS`` 64, ``MAX_IMAGE_VALUES`` 2**26) and latent
#: sizes by ``infovaegan_plugin.layout.LATENT_SIZE_LIMITS``. The presets use widths 256-1024
#: and 32-64 channels. Whatever each field says, the three networks together may have at most
#: ``MAX_PARAMETERS`` = 2**31 parameters: 8 GiB of float32 weights, and about four times that
#: to train them (gradients, Adam's two moments), the most one 80 GB GPU holds. For scale
#: (counted): MNIST's preset has 13.5M, dSprites' 0.8M, and 1024x1024 colour images with
#: MNIST's widths 0.54G (0.81G as ALI, 1.6G with 128 base channels).
MAX_HIDDEN_DIM = 16_384
MAX_BASE_CHANNELS = 1_024
MAX_PARAMETERS = 2**31

#: Ablations of the same code base used to reproduce the paper's comparisons.
VARIANTS = ("infovaegan", "infogan", "ali")

#: The one source of truth for what a ``variant`` means. ``fixed``: the switches that define the
#: ablation; an explicit value that contradicts one is refused. ``defaults``: values an unset
#: switch takes (an explicit value wins). ``custom`` fixes nothing: any combination, with
#: InfoVAEGAN's values for what is left unset. (InfoVAEGAN does not fix ``encoder_adversarial``:
#: 0.1's joint-discriminator models trained their encoder adversarially.)
VARIANT_SWITCHES = {
    "infovaegan": {
        "fixed": {"use_inference_stage": True, "use_mutual_information": True},
        "defaults": {},
    },
    "infogan": {
        "fixed": {
            "use_inference_stage": False,
            "use_mutual_information": True,
            "joint_discriminator": False,
            "encoder_adversarial": False,
        },
        # InfoGAN has no noise posterior: real images are reconstructed from the prior mean
        "defaults": {"infer_noise": False},
    },
    "ali": {
        "fixed": {
            "use_inference_stage": False,
            "use_mutual_information": False,
            "joint_discriminator": True,
            "encoder_adversarial": True,
        },
        "defaults": {"infer_noise": False, "share_discriminator_trunk": False},
    },
    "custom": {"fixed": {}, "defaults": {}},
}
_SWITCH_DEFAULTS = {
    "infer_noise": True,
    "joint_discriminator": False,
    "encoder_adversarial": False,
    "use_inference_stage": True,
    "use_mutual_information": True,
    "share_discriminator_trunk": True,
}


def variant_switches(variant: str) -> dict:
    """Every switch's value for ``variant`` when none is given explicitly."""
    if variant not in VARIANT_SWITCHES:
        raise ValueError(
            f"unknown variant {variant!r}; choose one of {VARIANTS} (or 'custom')."
        )
    table = VARIANT_SWITCHES[variant]
    return {**_SWITCH_DEFAULTS, **table["defaults"], **table["fixed"]}


def variant_contradictions(variant: str, given: dict) -> list:
    """``(switch, variant's value, given value)`` for each given switch ``variant`` fixes
    otherwise (``None`` means unset)."""
    fixed = VARIANT_SWITCHES.get(variant, {"fixed": {}})["fixed"]
    return [
        (name, value, given[name])
        for name, value in fixed.items()
        if given.get(name) is not None and bool(given[name]) != value
    ]


# extra="forbid": a misspelt field is an error naming it, not a setting silently dropped
# (pythae's configs ignore unknown keyword arguments)
@dataclass(config=ConfigDict(extra="forbid"))
class InfoVAEGANConfig(BaseAEConfig):
    """InfoVAEGAN model configuration.

    Parameters:
        input_dim: image shape ``(C, H, W)``; images are floats in ``[0, 1]``.
        categorical_dims: sizes of the categorical codes, e.g. ``[10]`` for MNIST digits.
        continuous_dim: number of continuous codes (rotation, width, ...).
        noise_dim: size of the unstructured noise ``z ~ N(0, I)``.
        noise_std: standard deviation of the noise prior N(0, noise_std^2 I); the default is
            the standard deviation of InfoGAN's U(-1, 1) noise (:data:`UNIFORM_NOISE_STD`).
            ClusterGAN's narrow 0.1 measured worse on MNIST (docs/RESULTS.md).
        continuous_prior: ``"uniform"`` (U[-1, 1], as InfoGAN) or ``"normal"`` (N(0, 1)).
        architecture: ``"auto"`` picks from ``input_dim`` (``small`` up to 16 px, ``infogan28``
            up to 48 px, ``dcgan64`` above); or name one of them.
        hidden_dim: width of the fully connected layers.
        base_channels: channels of the first conv layer (doubled at each down-sampling).
        infer_noise: (default: from ``variant``, True for InfoVAEGAN, False for the
            ablations) the encoder also infers the noise, from a separate head, so real images
            are reconstructed from their own noise; otherwise reconstruction feeds the prior
            mean (zeros) as a fixed noise. See docs/RESULTS.md for the measurement.
        noise_in_elbo: ``False`` (paper): the ELBO regenerates a generated image from its
            *own* noise, as the paper and the authors' code do, and the noise head learns by
            regressing that noise (Gaussian NLL, ``noise_regression_weight``) on features cut
            from the trunk, so it cannot pull the shared trunk away from the codes. ``True``
            (0.1's behaviour, and the measured default): the noise is one more latent of the
            ELBO and its reconstruction and KL gradients reach the whole encoder. Without
            ``infer_noise`` the ELBO always uses the generator's own noise.
        mi_categorical_weight / mi_continuous_weight: mutual-information terms (GAN stage).
        mi_continuous_loss: ``"squared_error"`` (authors' code: ``||c - sample||^2``, bounded
            gradients), ``"gaussian_nll"`` (InfoGAN's factored Gaussian, our 0.1 default) or
            ``"mean_squared_error"`` (InfoGAN's official code: ``||c - mean||^2``, unit variance).
        elbo_reconstruction_weight / kl_continuous_weight / kl_categorical_weight /
        kl_noise_weight: terms of the data-free ELBO (inference stage). The categorical KL
            averaged over images is I(x; c) + KL(q(c) || U): it works against the MI term,
            so the authors weight it 0.001 (the paper's equation has weight 1).
        gumbel_temperature: temperature of the Gumbel-softmax relaxation (authors: 0.1).
        elbo_categorical_gradient: (beyond the paper) scale of the ELBO's gradient into the
            categorical logits, the forward pass unchanged: 1 is the paper's ELBO, 0 stops
            it (the category is then learned by the MI and self-augmentation terms alone).
            The reconstruction gradient pulls the category toward what explains most pixels
            (a digit's slant and width); at full scale it split MNIST's 4 and 9 by style on
            2 of 3 seeds, so the default is :data:`ELBO_CATEGORICAL_GRADIENT` (0.1);
            docs/RESULTS.md. The ELBO has an Adam of its own, which normalises each
            parameter's step: any value > 0 gives the category's output rows the paper's
            step, and the scale acts where the category's gradient meets the continuous
            codes' (the shared hidden layer of a head on D's trunk).
        reconstruction_loss: ``"bce"`` or ``"mse"`` for the ELBO's reconstruction term.
        joint_discriminator: the discriminator judges (image, code) pairs: real images with
            the encoder's (detached) Gumbel/Gaussian sample, generated images with the prior
            code they came from (the paper's figure, every authors' script).
        encoder_adversarial: the encoder also gets the adversarial gradient through the joint
            discriminator (ALI/BiGAN); InfoVAEGAN's encoder does not.
        elbo_updates_generator_bn: the ELBO pass runs the generator on relaxed codes; with
            ``False`` its BatchNorm layers normalise with batch statistics but keep their
            running statistics, which then describe only what the generator renders.
        share_discriminator_trunk: (default: from ``variant``: True, except ALI) the
            encoder is a head (FC 128 + BN) on the discriminator's
            trunk, as InfoGAN's Q network, trained as InfoGAN's official code trains it: the
            MI term on the (detached) generated batch is part of the discriminator's loss, so
            the head and the trunk learn it with the discriminator's optimizer, and the
            generator's MI term trains the generator only. The codes are read from features
            that judge realism; the ELBO stage trains the encoder's heads only. ``False``: a
            separate encoder network (the paper's figure) trained by the MI term with the
            generator.
        self_augmentation_weight: (beyond the paper; needs ``share_discriminator_trunk``)
            IMSAT's self-augmented training on *real* images: the categorical posterior of a
            slightly rotated/shifted/rescaled image must match the image's own (KL, weighted
            by this), learned with the discriminator's optimizer like the MI term. 0 switches
            it off. Unset (``None``): :data:`SELF_AUGMENTATION_DEFAULT` where the encoder is
            a head on the discriminator's trunk with a categorical code (InfoVAEGAN and the
            InfoGAN ablation), else 0 (ALI). It is the default because it lifted MNIST
            accuracy after 3 epochs from 0.68/0.87 to 0.97/0.97 (seeds 0/1, docs/RESULTS.md).
        self_augmentation_rotation_deg, self_augmentation_shift, self_augmentation_scale: the
            largest rotation (degrees), shift (fraction of the half-width) and relative scale
            change of those affine changes, each drawn uniformly per image. The defaults keep a
            digit a digit; where position, size and orientation are nuisance factors (dSprites)
            larger ranges ask the category for what none of them changes.
        cluster_balance_weight: with self-augmented training, weight of ``log K - H(mean
            q(c | x))`` over the real batch: the categories share the real images evenly
            (IMSAT's marginal-entropy term).
        instance_noise_std: standard deviation of Gaussian noise added, in training, to every
            image the discriminator judges, real and generated (instance noise): binary sprites
            on black have a support no smooth generator output touches, so without it the
            discriminator wins at once (dSprites). 0 switches it off.
        instance_noise_anneal_epochs: 0 keeps ``instance_noise_std`` for the whole run; N > 0
            lowers it linearly from its full value in epoch 1 to 0 from epoch N + 1 on, so the
            discriminator, once the generator draws sprites of the right size and place, sees
            the edges that tell the shapes apart.
        discriminator_spectral_norm: spectral normalisation of the discriminator's conv and
            linear layers (and so of a shared encoder trunk), which bounds how fast the
            discriminator can separate real from generated images.
        discriminator_batch_norm: BatchNorm in the discriminator's trunk (and so in a shared
            encoder trunk), as DCGAN and InfoGAN have it; ``False`` gives the trunk of
            InfoGAN-CR's dSprites discriminator (convolutions and LeakyReLU, usually with
            ``discriminator_spectral_norm``). A separate encoder keeps its BatchNorm.
        categorical_head: (beyond the paper) what the categorical logits read. ``"dense"``:
            the trunk's FC feature, as the continuous codes (InfoGAN's Q). ``"mean_pooled"``
            / ``"max_pooled"``: the trunk's penultimate conv map averaged / its maximum taken
            over its positions (FC 128 + BN + lReLU on it), a head that can hardly tell where
            an object is, so the generator cannot spend the category on position: on dSprites
            the dense head's category stood for position on every seed; either pooled head
            moved it to the scale, not the shape, with worse reconstructions; with
            self-augmentation against rotation and rescaling as well it beat the dense head on
            3 seeds to 20,000 steps, so the dSprites preset uses ``"mean_pooled"``, the others
            ``"dense"`` (docs/RESULTS.md).
        contrastive_weight: (beyond the paper) InfoGAN-CR's contrastive regulariser (Lin et
            al. 2020): pairs of generated images share one interpretable code (one categorical
            code or one continuous dimension, drawn at random; every other input drawn anew),
            a classifier reading the pair (its images stacked as channels) names which code
            they share, and the generator and the classifier both minimise its cross-entropy,
            the generator's term weighted by this. A code that changes two factors, or a
            factor spread over two codes, makes the shared code harder to name, so the term
            asks each code for one factor. 0 switches it off (no classifier is built).
        contrastive_start_epoch: the first training epoch (1-based) with the regulariser on;
            InfoGAN-CR switches it on late in training, after the InfoGAN has converged.
        use_inference_stage: run the data-free ELBO stage (False gives InfoGAN).
        use_mutual_information: use the MI terms (False with a joint discriminator gives ALI).
        variant: the ablation this config describes; it sets ``use_inference_stage``,
            ``use_mutual_information``, ``joint_discriminator``, ``encoder_adversarial`` and
            ``infer_noise`` when they are left unset (``None``) and refuses explicit values
            that contradict it (:data:`VARIANT_SWITCHES`); ``custom`` allows any combination.
    """

    input_dim: tuple[int, ...] | None = None
    latent_dim: int = 0
    categorical_dims: list[int] = field(default_factory=lambda: [10])
    continuous_dim: int = 2
    noise_dim: int = 62
    noise_std: float = UNIFORM_NOISE_STD
    continuous_prior: Literal["uniform", "normal"] = "uniform"
    architecture: Literal["auto", "small", "infogan28", "dcgan64"] = "auto"
    hidden_dim: int = 1024
    base_channels: int = 64
    infer_noise: bool | None = None
    noise_in_elbo: bool = True
    noise_regression_weight: float = 1.0
    mi_categorical_weight: float = 1.0
    mi_continuous_weight: float = 0.1
    mi_continuous_loss: Literal["squared_error", "gaussian_nll", "mean_squared_error"] = (
        "mean_squared_error"
    )
    elbo_reconstruction_weight: float = 1.0
    kl_continuous_weight: float = 1.0
    kl_categorical_weight: float = 0.001
    kl_noise_weight: float = 1.0
    gumbel_temperature: float = 0.67
    elbo_categorical_gradient: float = ELBO_CATEGORICAL_GRADIENT
    reconstruction_loss: Literal["bce", "mse"] = "bce"
    joint_discriminator: bool | None = None
    encoder_adversarial: bool | None = None
    elbo_updates_generator_bn: bool = False
    share_discriminator_trunk: bool | None = None
    self_augmentation_weight: float | None = None
    self_augmentation_rotation_deg: float = 15.0
    self_augmentation_shift: float = 0.1
    self_augmentation_scale: float = 0.1
    cluster_balance_weight: float = 0.4
    instance_noise_std: float = 0.0
    instance_noise_anneal_epochs: int = 0
    discriminator_spectral_norm: bool = False
    discriminator_batch_norm: bool = True
    categorical_head: Literal["dense", "mean_pooled", "max_pooled"] = "dense"
    contrastive_weight: float = 0.0
    contrastive_start_epoch: int = 1
    use_inference_stage: bool | None = None
    use_mutual_information: bool | None = None
    variant: Literal["infovaegan", "infogan", "ali", "custom"] = "infovaegan"
    #: The data set the model was trained on (``ImageData.name``), set by training runs so
    #: that it travels with the saved model; ``None`` in configs saved before it existed.
    trained_on: str | None = None

    def __post_init__(self):
        super().__post_init__()
        self._resolve_variant()
        if self.self_augmentation_weight is None:
            self.self_augmentation_weight = (
                SELF_AUGMENTATION_DEFAULT
                if self.share_discriminator_trunk and self.categorical_dims else 0.0
            )
        if self.input_dim is None:
            raise ValueError(
                "InfoVAEGANConfig needs input_dim=(C, H, W), e.g. (1, 28, 28) for MNIST."
            )
        self.input_dim = tuple(int(d) for d in self.input_dim)
        if len(self.input_dim) != 3 or min(self.input_dim) < 1:
            raise ValueError(
                f"input_dim must be (C, H, W) with positive sizes, got {self.input_dim}."
            )
        if self.input_dim[1] < 8 or self.input_dim[2] < 8:
            raise ValueError(f"images must be at least 8x8 pixels, got {self.input_dim}.")
        too_large = image_shape_error(self.input_dim)
        if too_large is not None:
            raise ValueError(f"input_dim {self.input_dim}: {too_large}.")
        if not self.categorical_dims and self.continuous_dim == 0:
            raise ValueError("InfoVAEGAN needs at least one categorical or continuous code.")
        if any(k < 2 for k in self.categorical_dims):
            raise ValueError(
                f"each categorical code needs at least 2 values, got {self.categorical_dims}."
            )
        if self.continuous_dim < 0 or self.noise_dim < 0:
            raise ValueError("continuous_dim and noise_dim must be >= 0.")
        self._check_sizes()
        if not self.noise_std > 0:
            raise ValueError(f"noise_std must be > 0, got {self.noise_std}.")
        if self.gumbel_temperature <= 0:
            raise ValueError(f"gumbel_temperature must be > 0, got {self.gumbel_temperature}.")
        if self.share_discriminator_trunk and self.encoder_adversarial:
            raise ValueError(
                "share_discriminator_trunk=True cannot train the encoder adversarially: the "
                "trunk it reads is the discriminator's own (use a separate encoder for ALI)."
            )
        if self.self_augmentation_weight > 0 and not (
            self.share_discriminator_trunk and self.categorical_dims
        ):
            raise ValueError(
                "self_augmentation_weight > 0 needs share_discriminator_trunk=True and a "
                "categorical code: the term trains InfoGAN's Q with the discriminator."
            )
        if self.categorical_head != "dense" and not self.categorical_dims:
            raise ValueError(f"categorical_head={self.categorical_head!r} needs a categorical "
                             "code (categorical_dims is empty).")
        if self.contrastive_weight > 0 and self.code_count < 2:
            raise ValueError(
                f"contrastive_weight > 0 needs at least 2 interpretable codes to tell apart "
                f"(categorical codes + continuous dimensions), got {self.code_count}.")
        if self.contrastive_start_epoch < 1:
            raise ValueError(
                f"contrastive_start_epoch must be >= 1, got {self.contrastive_start_epoch}.")
        if self.encoder_adversarial and not self.joint_discriminator:
            raise ValueError(
                "encoder_adversarial=True needs joint_discriminator=True: the encoder's "
                "adversarial gradient comes through the (image, code) discriminator."
            )
        if not 0 <= self.self_augmentation_rotation_deg <= 180:
            raise ValueError(
                "self_augmentation_rotation_deg must be in [0, 180], got "
                f"{self.self_augmentation_rotation_deg}."
            )
        for name in ("self_augmentation_shift", "self_augmentation_scale"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}.")
        for name in ("mi_categorical_weight", "mi_continuous_weight", "kl_categorical_weight",
                     "kl_continuous_weight", "kl_noise_weight", "noise_regression_weight",
                     "elbo_reconstruction_weight", "self_augmentation_weight",
                     "cluster_balance_weight", "instance_noise_std", "elbo_categorical_gradient",
                     "instance_noise_anneal_epochs", "contrastive_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")
        if not self.use_mutual_information and not self.encoder_adversarial and (
            not self.use_inference_stage
        ):
            raise ValueError(
                "with no MI term, no joint discriminator and no inference stage the encoder "
                "would never be trained."
            )
        self.latent_dim = self.generator_input_dim
        self._check_parameter_count()

    def _check_sizes(self) -> None:
        """Each field that sizes a network within its documented bound (see
        :data:`MAX_PARAMETERS`), named in the error with the bound."""
        limit = LATENT_SIZE_LIMITS["categorical"]
        if any(k > limit for k in self.categorical_dims):
            raise ValueError(f"categorical_dims {self.categorical_dims}: each code may have at "
                             f"most {limit:,} values.")
        for name, kind in (("continuous_dim", "continuous"), ("noise_dim", "noise")):
            if getattr(self, name) > LATENT_SIZE_LIMITS[kind]:
                raise ValueError(f"{name} must be <= {LATENT_SIZE_LIMITS[kind]:,}, got "
                                 f"{getattr(self, name)}.")
        total = sum(self.categorical_dims) + self.continuous_dim + self.noise_dim
        if total > MAX_LATENT_DIM:
            raise ValueError(f"categorical_dims, continuous_dim and noise_dim add up to "
                             f"{total:,} latent dimensions, above the limit of "
                             f"{MAX_LATENT_DIM:,}.")
        for name, high in (("hidden_dim", MAX_HIDDEN_DIM), ("base_channels", MAX_BASE_CHANNELS)):
            if not 1 <= getattr(self, name) <= high:
                raise ValueError(f"{name} must be in [1, {high:,}], got {getattr(self, name)}.")

    def _check_parameter_count(self) -> None:
        """The networks' size, counted from their shapes alone (nothing allocated), within
        :data:`MAX_PARAMETERS`: each field may be in bounds while their product is not."""
        from .sizes import parameter_count

        count = parameter_count(self)
        if count > MAX_PARAMETERS:
            raise ValueError(
                f"the networks would have {count:,} parameters ({count * 4 / 2**30:,.1f} GiB "
                f"as float32), above the limit of {MAX_PARAMETERS:,}; they grow with "
                f"input_dim {self.input_dim}, hidden_dim {self.hidden_dim} and base_channels "
                f"{self.base_channels} (architecture {self.resolved_architecture!r})."
            )

    def _resolve_variant(self) -> None:
        """Unset switches take the variant's values; contradicting ones are refused."""
        resolved = variant_switches(self.variant)
        given = {name: getattr(self, name) for name in resolved}
        clash = variant_contradictions(self.variant, given)
        if clash:
            name, value, got = clash[0]
            raise ValueError(
                f"variant={self.variant!r} has {name}={value}, but {name}={got} was given; "
                f"leave {name} unset, or use variant='custom' for another combination."
            )
        for name, value in resolved.items():
            setattr(self, name, value if given[name] is None else bool(given[name]))

    # sizes are the layout's: these read it so that no second formula can drift from it
    @property
    def categorical_total(self) -> int:
        return self.layout.categorical_total

    @property
    def code_dim(self) -> int:
        """Size of the interpretable code (one-hot categorical + continuous)."""
        return self.layout.categorical_total + self.layout.continuous_dim

    @property
    def code_count(self) -> int:
        """How many interpretable codes a pair can share: each categorical code and each
        continuous dimension (the contrastive regulariser's classes)."""
        return len(self.categorical_dims) + self.continuous_dim

    @property
    def generator_input_dim(self) -> int:
        return self.layout.generator_input_dim

    @property
    def feature_dim(self) -> int:
        """Size of the feature vector ``encode(x).features``."""
        return self.layout.feature_dim(bool(self.infer_noise))

    @property
    def elbo_infers_noise(self) -> bool:
        """The ELBO regenerates from the inferred noise (needs a noise posterior)."""
        return self.noise_in_elbo and self.infer_noise and self.noise_dim > 0

    @property
    def joint_code_has_noise(self) -> bool:
        """A joint discriminator's code includes the noise only for ALI, whose encoder infers
        every generator input adversarially."""
        return self.joint_discriminator and self.encoder_adversarial and self.infer_noise

    @property
    def regresses_noise(self) -> bool:
        """The noise head learns by regressing the generator's noise on detached trunk
        features (neither the ELBO nor the adversarial loss trains it)."""
        return (
            self.infer_noise
            and self.noise_dim > 0
            and not self.noise_in_elbo
            and not self.encoder_adversarial
        )

    @property
    def has_mutual_information_loss(self) -> bool:
        """The ``mutual_information`` loss has terms: InfoGAN's MI bound or the noise head's
        regression (so some optimizer must step on it)."""
        return bool(self.use_mutual_information or self.regresses_noise)

    @property
    def discriminator_code_dim(self) -> int:
        """Width of the code a joint discriminator sees (0 without one)."""
        if not self.joint_discriminator:
            return 0
        return self.code_dim + (self.noise_dim if self.joint_code_has_noise else 0)

    @property
    def resolved_architecture(self) -> str:
        if self.architecture != "auto":
            return self.architecture
        size = max(self.input_dim[1], self.input_dim[2])
        if size <= 16:
            return "small"
        if size <= 48:
            return "infogan28"
        return "dcgan64"

    @classmethod
    def for_variant(cls, variant: str, **kwargs) -> InfoVAEGANConfig:
        """A config for one of the paper's compared models, on the same code base.

        ``infogan``: no inference stage, an image-only discriminator (the encoder is InfoGAN's
        Q network).
        ``ali``: joint (image, code) discriminator that also trains the encoder, no MI term,
        no inference stage (ALI/BiGAN). Both ablations default to ``infer_noise=False``.
        Switches that contradict the variant raise ``ValueError`` (see :data:`VARIANT_SWITCHES`).
        """
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}.")
        # the variant's switches come from VARIANT_SWITCHES, resolved in __post_init__
        merged = {**kwargs, "variant": variant}
        return cls(**merged)

    @property
    def layout(self) -> LatentLayout:
        """The latent space this config describes (sizes, priors, slices, sampling rules)."""
        return LatentLayout.from_config(self)
