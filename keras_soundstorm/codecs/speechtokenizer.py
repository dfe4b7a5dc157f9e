"""SpeechTokenizer: the codec of the public SoundStorm checkpoints, for inference in Keras."""

import warnings

import keras
import numpy as np
from keras import ops

from keras_soundstorm.codecs.base import ResidualCodec
from keras_soundstorm.codecs.encodec_layers import EncodecDecoder, EncodecEncoder
from keras_soundstorm.codecs.quantizer import EuclideanResidualQuantizer
from keras_soundstorm.utils.validation import require_int


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class SpeechTokenizer(ResidualCodec):
    """SpeechTokenizer (Zhang et al., 2023): a SEANet codec whose RVQ level 1 is semantic.

    A non-causal EnCodec-style SEANet encoder with a bidirectional LSTM
    (`kss.codecs.EncodecEncoder`) turns a waveform into `latent_dim`-dimensional
    frames (one per `hop_length = prod(strides)` samples), a Euclidean
    residual vector quantizer with `num_levels` codebooks of `codebook_size`
    codes turns frames into codes, and a SEANet decoder with a unidirectional
    LSTM turns (the sum of) code vectors back into a waveform. Level 1 was
    distilled from HuBERT: its codes are the "semantic tokens" that SoundStorm
    is conditioned on, and `semantic_features` projects its code vectors to
    HuBERT's width (`semantic_dim`), as the reference does.

    This is an inference model: weights come from `kss.convert.speechtokenizer`
    (a public PyTorch checkpoint) or `from_preset` (a new instance holds
    zeros); training it is not supported. The defaults are the public
    `speechtokenizer_hubert_avg` architecture: 16 kHz, 50 Hz frames, 8 levels x
    1024 codes.

    Args:
        sample_rate: Hz of the waveforms.
        channels: channels of the first encoder stage (doubled per stage; the
            reference's `n_filters`).
        latent_dim: dimension of the quantized frames.
        semantic_dim: output width of `semantic_features` (no projection if it
            equals `latent_dim`).
        strides: downsampling per encoder stage, in encoder order as in
            `SoundStream` (the reverse of the reference config's `strides`);
            `prod(strides)` samples per frame. None: `(2, 4, 5, 8)`.
        num_levels: Q, residual quantizer levels.
        codebook_size: C, codes per level.
        lstm_layers: LSTM layers after the encoder and before the decoder
            (0: none).
        bidirectional: whether the encoder's LSTM is bidirectional.
        kernel_size, last_kernel_size: kernels of the first and last convolution.
        residual_kernel_size, num_residual_layers, dilation_base, compress:
            residual blocks per stage (dilations `dilation_base ** j`, inner
            width `channels // compress`).

    Example:
    ```python
    codec = kss.codecs.SpeechTokenizer.from_preset("speechtokenizer_preset")
    codes = codec.encode(waveform)             # float [B, N] at 16 kHz -> int32 [B, T, 8]
    semantic = codec.semantic_tokens(waveform)  # int32 [B, T]: RVQ level 1
    audio = codec.decode(codes)                 # float32 [B, T * 320]
    ```

    Reference: [SpeechTokenizer](https://arxiv.org/abs/2308.16692).
    """

    has_semantic_tokens = True
    # Configs saved before the codecs shared one naming: `filters` for
    # `channels`, `strides` in decoder order. `__init__` still reads them.
    legacy_config_keys = ("filters",)

    def __init__(
        self,
        sample_rate=16000,
        channels=64,
        latent_dim=1024,
        semantic_dim=768,
        strides=None,
        num_levels=8,
        codebook_size=1024,
        lstm_layers=2,
        bidirectional=True,
        kernel_size=7,
        last_kernel_size=7,
        residual_kernel_size=3,
        num_residual_layers=1,
        dilation_base=2,
        compress=2,
        **kwargs,
    ):
        if "filters" in kwargs:  # the naming before the codecs shared one
            warnings.warn(
                "SpeechTokenizer(filters=...) is now `channels`, and `strides` are now listed "
                "in encoder order; the given `strides` are read in the old (decoder) order.",
                DeprecationWarning,
                stacklevel=2,
            )
            channels = kwargs.pop("filters")
            strides = None if strides is None else tuple(reversed(tuple(strides)))
        strides = (2, 4, 5, 8) if strides is None else tuple(strides)
        if not strides:
            raise ValueError("`strides` must be a non-empty tuple of ints.")
        for name, value, minimum in [
            ("sample_rate", sample_rate, 1),
            ("channels", channels, 1),
            ("latent_dim", latent_dim, 1),
            ("semantic_dim", semantic_dim, 1),
            ("num_levels", num_levels, 1),
            ("codebook_size", codebook_size, 2),
            ("lstm_layers", lstm_layers, 0),
            ("kernel_size", kernel_size, 1),
            ("last_kernel_size", last_kernel_size, 1),
            ("residual_kernel_size", residual_kernel_size, 1),
            ("num_residual_layers", num_residual_layers, 0),
            ("dilation_base", dilation_base, 1),
            ("compress", compress, 1),
        ] + [("every entry of `strides`", s, 1) for s in strides]:
            require_int(name, value, minimum)
        super().__init__(**kwargs)

        # === Config ===
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.latent_dim = int(latent_dim)
        self.semantic_dim = int(semantic_dim)
        self.strides = tuple(int(s) for s in strides)
        self.num_levels = int(num_levels)
        self.codebook_size = int(codebook_size)
        self.lstm_layers = int(lstm_layers)
        self.bidirectional = bool(bidirectional)
        self.kernel_size = int(kernel_size)
        self.last_kernel_size = int(last_kernel_size)
        self.residual_kernel_size = int(residual_kernel_size)
        self.num_residual_layers = int(num_residual_layers)
        self.dilation_base = int(dilation_base)
        self.compress = int(compress)

        # === Layers ===
        stack = dict(
            channels=self.channels,
            latent_dim=self.latent_dim,
            strides=self.strides,
            lstm_layers=self.lstm_layers,
            kernel_size=self.kernel_size,
            last_kernel_size=self.last_kernel_size,
            residual_kernel_size=self.residual_kernel_size,
            num_residual_layers=self.num_residual_layers,
            dilation_base=self.dilation_base,
            compress=self.compress,
            dtype=self.dtype_policy,
        )
        self.encoder = EncodecEncoder(bidirectional=self.bidirectional, name="encoder", **stack)
        self.quantizer = EuclideanResidualQuantizer(
            self.num_levels, self.codebook_size, self.latent_dim, name="quantizer"
        )
        self.decoder = EncodecDecoder(name="decoder", **stack)
        self.semantic_projection = None
        if self.semantic_dim != self.latent_dim:
            self.semantic_projection = keras.layers.Dense(
                self.semantic_dim,
                kernel_initializer="zeros",
                dtype=self.dtype_policy,
                name="semantic_projection",
            )

        self.build((None, None))

    def build(self, input_shape):
        super().build(input_shape)
        if self.semantic_projection is not None:
            self.semantic_projection.build((None, None, self.latent_dim))

    def call(self, waveform):
        """Reconstruction with every level: float `[B, N]` (N a multiple of the hop) -> `[B, N]`."""
        codes = self.quantizer.quantize_latents(self.encoder(waveform))
        return self.decoder(self.quantizer.dequantize(codes, self.num_levels))

    def semantic_features(self, waveform):
        """Waveforms float `[B, N]` -> projected level-1 code vectors, float32 `[B, T, D]`.

        `D` is `semantic_dim`: the features the reference distils towards HuBERT (the third
        output of its `forward`).
        """
        waveform = self._padded_waveform(waveform)
        features = self._inference_function("semantic", 1)(ops.convert_to_tensor(waveform))
        return np.asarray(ops.convert_to_numpy(features), "float32")

    def _inference_body(self, kind, num_levels):
        if kind != "semantic":
            return super()._inference_body(kind, num_levels)

        def semantic(waveform):
            codes = self.quantizer.quantize_latents(self.encoder(waveform), num_levels=1)
            vectors = self.quantizer.level_vectors(codes[..., 0], 0)
            if self.semantic_projection is None:
                return vectors
            return self.semantic_projection(vectors)

        return semantic
