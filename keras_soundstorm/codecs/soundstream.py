"""SoundStream: encoder (SEANet or STFT), residual vector quantizer, decoder (SEANet or iSTFT)."""

import math

import keras
import numpy as np
from keras import ops

from keras_soundstorm import backend
from keras_soundstorm.codecs import codec_inputs, losses
from keras_soundstorm.codecs.base import ResidualCodec
from keras_soundstorm.codecs.discriminator import STFTDiscriminator, adversarial_losses
from keras_soundstorm.codecs.quantizer import ResidualVectorQuantizer
from keras_soundstorm.codecs.seanet import SEANetDecoder, SEANetEncoder
from keras_soundstorm.codecs.spectral import ISTFTDecoder, STFTEncoder, inverse_stft
from keras_soundstorm.utils.validation import require_int

ENCODERS = ("seanet", "stft")
DECODERS = ("seanet", "istft")


def _require_fraction(name, value, low_open=False, high_open=False):
    value_ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if value_ok:
        value_ok = (value > 0 if low_open else value >= 0) and (
            value < 1 if high_open else value <= 1
        )
    if not value_ok:
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise ValueError(f"`{name}` must be a number in {interval}; got {value!r}.")


def pad_to_hop(waveform, hop_length):
    """Right-pads `[B, N]` with zeros to `[B, ceil(N / hop) * hop]`."""
    length = ops.shape(waveform)[1]
    if isinstance(length, int) and length % hop_length == 0:
        return waveform
    frames = (length + hop_length - 1) // hop_length
    padded = ops.pad(waveform, [[0, 0], [0, hop_length - 1]])
    return padded[:, : frames * hop_length]


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class SoundStream(ResidualCodec):
    """SoundStream neural audio codec (Zeghidour et al., 2021), trainable with `fit`.

    A causal SEANet encoder turns a waveform into `latent_dim`-dimensional
    frames (one per `hop_length = prod(strides)` samples), a residual vector
    quantizer with `num_levels` EMA codebooks of `codebook_size` codes turns
    frames into codes, and a mirrored decoder turns (the sum of) code vectors
    back into a waveform. Quantizer dropout trains one model for every bitrate
    `1..num_levels` levels. `encoder="stft"` / `decoder="istft"` swap the
    SEANet stacks for spectral ones (`kss.codecs.spectral`) that train several
    times faster on a CPU; the shipped eSpeak codec uses them.

    `fit` takes batches of waveforms float `[B, N]` (no labels). The loss is a
    multi-scale mel-spectrogram L1 loss plus the commitment loss, and, with
    `adversarial=True`, hinge losses of an STFT discriminator and a
    feature-matching loss (both networks step together; see
    `STFTDiscriminator`). `call` is that training forward pass; use
    `encode` / `decode` for inference.

    Args:
        sample_rate: Hz of the waveforms.
        channels: channels of the first encoder stage (doubled per stage).
        latent_dim: dimension of the quantized frames.
        strides: downsampling per encoder stage; `prod(strides)` samples per
            frame.
        num_levels: Q, residual quantizer levels.
        codebook_size: C, codes per level.
        kernel_size, residual_kernel_size, dilations: SEANet conv shapes.
        ema_decay, dead_code_threshold, usage_decay, quantizer_dropout: see
            `ResidualVectorQuantizer`.
        commitment_weight: weight of the commitment loss.
        fft_sizes, num_mels: scales of the mel reconstruction loss.
        adversarial: add an STFT discriminator and its losses.
        discriminator_channels, discriminator_fft_size: its size.
        adversarial_weight, feature_matching_weight: weights of the generator's
            adversarial and feature-matching losses.
        encoder: `"seanet"` (the SEANet encoder, as in the paper) or `"stft"`
            (`STFTEncoder`: ConvNeXt blocks on a log-magnitude STFT with
            `stft_frames_per_frame` STFT frames per codec frame).
        encoder_hidden_dim, encoder_num_blocks: size of the `"stft"` encoder.
        decoder: `"seanet"` (the mirrored SEANet decoder, as in the paper) or
            `"istft"` (`ISTFTDecoder`: ConvNeXt blocks predicting an STFT,
            `stft_frames_per_frame` frames per codec frame, supervised directly
            by `magnitude_loss`; see `kss.codecs.spectral`).
        decoder_hidden_dim, decoder_num_blocks: size of the `"istft"` decoder.
        stft_frames_per_frame: STFT frames per codec frame of the spectral
            encoder and decoder (hop = `prod(strides) // stft_frames_per_frame`).
        magnitude_weight: weight of the `"istft"` decoder's `magnitude_loss`
            (L1 between its log-magnitudes and the input's STFT).
        seed: seed of the quantizer's random choices.

    Example:
    ```python
    codec = kss.codecs.SoundStream(channels=8, latent_dim=16, num_levels=4,
                                   codebook_size=64)
    codec.compile()
    codec.fit(waveforms, batch_size=8, epochs=1)  # float [num_clips, N]
    codes = codec.encode(waveforms[:2])            # int32 [2, T, 4]
    audio = codec.decode(codes, num_levels=2)      # float [2, T * 320]
    ```

    Reference: [SoundStream](https://arxiv.org/abs/2107.03312).
    """

    # `encoder` and `decoder` name the layers; the arguments are kept as these.
    config_attributes = {"encoder": "encoder_kind", "decoder": "decoder_kind"}

    def __init__(
        self,
        sample_rate=16000,
        channels=32,
        latent_dim=128,
        strides=(2, 4, 5, 8),
        num_levels=12,
        codebook_size=1024,
        kernel_size=7,
        residual_kernel_size=7,
        dilations=(1, 3, 9),
        ema_decay=0.99,
        dead_code_threshold=0.1,
        usage_decay=0.9,
        quantizer_dropout=0.5,
        commitment_weight=1.0,
        fft_sizes=(128, 256, 512, 1024, 2048),
        num_mels=64,
        adversarial=False,
        discriminator_channels=32,
        discriminator_fft_size=1024,
        adversarial_weight=0.1,
        feature_matching_weight=1.0,
        encoder="seanet",
        encoder_hidden_dim=256,
        encoder_num_blocks=4,
        decoder="seanet",
        decoder_hidden_dim=256,
        decoder_num_blocks=6,
        stft_frames_per_frame=2,
        magnitude_weight=1.0,
        seed=None,
        **kwargs,
    ):
        arguments = _constructor_arguments(locals())
        if encoder not in ENCODERS:
            raise ValueError(f"Unknown `encoder` {encoder!r}; accepted: {ENCODERS}.")
        if decoder not in DECODERS:
            raise ValueError(f"Unknown `decoder` {decoder!r}; accepted: {DECODERS}.")
        strides, dilations, fft_sizes = tuple(strides), tuple(dilations), tuple(fft_sizes)
        arguments.update(strides=strides, dilations=dilations, fft_sizes=fft_sizes)
        for name, value, minimum in [
            ("sample_rate", sample_rate, 1),
            ("channels", channels, 1),
            ("latent_dim", latent_dim, 1),
            ("num_levels", num_levels, 1),
            ("codebook_size", codebook_size, 2),
            ("kernel_size", kernel_size, 1),
            ("residual_kernel_size", residual_kernel_size, 1),
            ("num_mels", num_mels, 1),
            ("discriminator_channels", discriminator_channels, 1),
            ("discriminator_fft_size", discriminator_fft_size, 8),
            ("encoder_hidden_dim", encoder_hidden_dim, 1),
            ("encoder_num_blocks", encoder_num_blocks, 0),
            ("decoder_hidden_dim", decoder_hidden_dim, 1),
            ("decoder_num_blocks", decoder_num_blocks, 0),
            ("stft_frames_per_frame", stft_frames_per_frame, 1),
        ]:
            require_int(name, value, minimum)
        for name, values, minimum in [
            ("strides", strides, 1),
            ("dilations", dilations, 1),
            ("fft_sizes", fft_sizes, 8),
        ]:
            if not values:
                raise ValueError(f"`{name}` must be a non-empty tuple of ints.")
            for value in values:
                require_int(f"every entry of `{name}`", value, minimum)
        _require_fraction("ema_decay", ema_decay, low_open=True, high_open=True)
        _require_fraction("dead_code_threshold", dead_code_threshold, high_open=True)
        _require_fraction("usage_decay", usage_decay, low_open=True, high_open=True)
        _require_fraction("quantizer_dropout", quantizer_dropout)
        for name, value in [
            ("commitment_weight", commitment_weight),
            ("adversarial_weight", adversarial_weight),
            ("feature_matching_weight", feature_matching_weight),
            ("magnitude_weight", magnitude_weight),
        ]:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"`{name}` must be a number >= 0; got {value!r}.")
        super().__init__(**kwargs)

        # === Config ===
        # Every constructor argument, kept under its own name (`encoder` and
        # `decoder` as `encoder_kind` / `decoder_kind`: those names hold the layers).
        for name, value in arguments.items():
            setattr(self, self.config_attributes.get(name, name), value)
        self.sample_rate = int(sample_rate)
        self.adversarial = bool(adversarial)

        # === Layers ===
        seanet = dict(
            channels=channels,
            latent_dim=latent_dim,
            strides=strides,
            kernel_size=kernel_size,
            residual_kernel_size=residual_kernel_size,
            dilations=dilations,
            dtype=self.dtype_policy,
        )
        if math.prod(strides) % stft_frames_per_frame:
            raise ValueError(
                f"`stft_frames_per_frame` ({stft_frames_per_frame}) must divide the samples per "
                f"frame, prod(strides) = {math.prod(strides)}."
            )
        spectral = dict(
            latent_dim=latent_dim,
            hop_length=math.prod(strides),
            stft_frames_per_frame=stft_frames_per_frame,
            dtype=self.dtype_policy,
        )
        if encoder == "seanet":
            self.encoder = SEANetEncoder(**seanet, name="encoder")
        else:
            self.encoder = STFTEncoder(
                **spectral,
                hidden_dim=encoder_hidden_dim,
                num_blocks=encoder_num_blocks,
                name="encoder",
            )
        self.quantizer = ResidualVectorQuantizer(
            num_levels,
            codebook_size,
            decay=ema_decay,
            dead_code_threshold=dead_code_threshold,
            usage_decay=usage_decay,
            quantizer_dropout=quantizer_dropout,
            seed=seed,
            name="quantizer",
        )
        if decoder == "seanet":
            self.decoder = SEANetDecoder(**seanet, name="decoder")
        else:
            self.decoder = ISTFTDecoder(
                **spectral,
                hidden_dim=decoder_hidden_dim,
                num_blocks=decoder_num_blocks,
                name="decoder",
            )
        self.discriminator = None
        if self.adversarial:
            self.discriminator = STFTDiscriminator(
                discriminator_channels,
                discriminator_fft_size,
                dtype=self.dtype_policy,
                name="discriminator",
            )

        # === Metrics ===
        names = ["reconstruction_loss", "commitment_loss"]
        if decoder == "istft":
            names.append("magnitude_loss")
        if self.adversarial:
            names += ["generator_loss", "feature_matching_loss", "discriminator_loss"]
        names += [f"perplexity_{level + 1}" for level in range(num_levels)]
        self.loss_trackers = {name: keras.metrics.Mean(name=name) for name in names}

        self.build((None, None))

    def build(self, input_shape):
        super().build(input_shape)
        if self.discriminator is not None:
            self.discriminator.build(input_shape)

    # --- Training -----------------------------------------------------------

    def call(self, waveform, training=False):
        """The training forward pass: reconstruction and every loss term.

        Args:
            waveform: float `[B, N]`, right-padded to a multiple of `hop_length`.

        Returns: dict with `audio` `[B, T * hop]`, `codes` `[B, T, Q]`,
        `num_active_levels` `[B]`, `perplexity` `[Q]` and float scalars
        `reconstruction_loss`, `commitment_loss` (and, in adversarial
        training, `generator_loss`, `feature_matching_loss`,
        `discriminator_loss`).
        """
        waveform = pad_to_hop(ops.cast(waveform, "float32"), self.hop_length)
        latents = self.encoder(waveform)
        quantized = self.quantizer(latents, training=training)
        outputs = {}
        if self.decoder_kind == "istft":
            log_magnitude, phase = self.decoder.spectrum(quantized["quantized"])
            audio = inverse_stft(log_magnitude, phase, self.decoder.fft_size)
            outputs["magnitude_loss"] = losses.log_magnitude_loss(
                waveform, log_magnitude, self.decoder.fft_size
            )
        else:
            audio = ops.cast(self.decoder(quantized["quantized"]), "float32")
        outputs.update(
            {
                "audio": audio,
                "codes": quantized["codes"],
                "num_active_levels": quantized["num_active_levels"],
                "perplexity": quantized["perplexity"],
                "commitment_loss": quantized["commitment_loss"],
                "reconstruction_loss": losses.multi_scale_mel_loss(
                    waveform, audio, self.sample_rate, self.fft_sizes, self.num_mels
                ),
            }
        )
        if self.adversarial and training:
            outputs.update(adversarial_losses(self.discriminator, waveform, audio))
        return outputs

    def compile(self, optimizer="auto", jit_compile="auto", **kwargs):
        """Compiles with Adam (lr 3e-4, betas 0.5 / 0.9, clip-norm 1) by default.

        The loss and metrics are built in; passing `loss` or `metrics` raises.
        `jit_compile="auto"` means XLA on JAX only: on TensorFlow, XLA takes
        minutes to compile this convolution stack for no faster steps on CPU.
        """
        if jit_compile == "auto":
            jit_compile = backend.default_jit_compile()
        for name in ("loss", "metrics", "weighted_metrics"):
            if kwargs.get(name) is not None:
                raise ValueError(
                    f"SoundStream computes its own losses and metrics; do not pass `{name}`."
                )
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(
                learning_rate=3e-4, beta_1=0.5, beta_2=0.9, global_clipnorm=1.0
            )
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = y_pred["reconstruction_loss"] + self.commitment_weight * y_pred["commitment_loss"]
        if "magnitude_loss" in y_pred:
            loss = loss + self.magnitude_weight * y_pred["magnitude_loss"]
        if "discriminator_loss" in y_pred:
            loss = (
                loss
                + self.adversarial_weight * y_pred["generator_loss"]
                + self.feature_matching_weight * y_pred["feature_matching_loss"]
                + y_pred["discriminator_loss"]
            )
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        for name, tracker in self.loss_trackers.items():
            if name.startswith("perplexity_"):
                tracker.update_state(y_pred["perplexity"][int(name.split("_")[1]) - 1])
            elif name in y_pred:
                tracker.update_state(y_pred[name])
        return self.get_metrics_result()

    @property
    def metrics(self):
        metrics = list(super().metrics)
        trackers = getattr(self, "loss_trackers", {})
        return metrics + [t for t in trackers.values() if t not in metrics]

    def fit(self, x=None, y=None, **kwargs):
        """`keras.Model.fit` on waveforms float `[B, N]`, checked first."""
        _check_training_data(x, y)
        return super().fit(x, y, **kwargs)

    def evaluate(self, x=None, y=None, **kwargs):
        """`keras.Model.evaluate`: losses of the full-bitrate reconstruction."""
        _check_training_data(x, y)
        return super().evaluate(x, y, **kwargs)


# The constructor's configuration arguments, in signature order (not self / kwargs).
_CONFIG_NAMES = SoundStream.config_names()


def _constructor_arguments(local_variables):
    """The configuration arguments among `locals()` taken at the top of `__init__`."""
    return {name: local_variables[name] for name in _CONFIG_NAMES}


def _check_training_data(x, y):
    """Checks arrays fully and `tf.data` element specs (rank, dtype)."""
    if y is not None:
        raise ValueError("SoundStream trains on waveforms alone; pass `y=None`.")
    if x is None:
        return
    if isinstance(x, (np.ndarray, list, tuple)) or hasattr(x, "__array__"):
        if not hasattr(x, "element_spec"):
            codec_inputs.checked_waveform(x)
            return
    spec = getattr(x, "element_spec", None)
    if spec is not None:
        shape = getattr(spec, "shape", None)
        dtype = getattr(spec, "dtype", None)
        if shape is None or len(shape) != 2 or not dtype.is_floating:
            raise ValueError(
                "A SoundStream dataset must yield float waveform batches [B, N] alone; "
                f"got element_spec {spec}."
            )
