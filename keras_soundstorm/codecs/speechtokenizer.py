"""SpeechTokenizer: the codec of the public SoundStorm checkpoints, for inference in Keras."""

import json
import math
import os

import keras
import numpy as np
from keras import ops

from keras_soundstorm import backend
from keras_soundstorm.codecs import codec_inputs
from keras_soundstorm.codecs.speechtokenizer_layers import (
    EuclideanResidualQuantizer,
    SpeechTokenizerDecoder,
    SpeechTokenizerEncoder,
)
from keras_soundstorm.utils import files, preset_files, preset_registry
from keras_soundstorm.utils.validation import require_int
from keras_soundstorm.version import __version__


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class SpeechTokenizer(keras.Model):
    """SpeechTokenizer (Zhang et al., 2023): a SEANet codec whose RVQ level 1 is semantic.

    A non-causal SEANet encoder with a bidirectional LSTM turns a waveform
    into `latent_dim`-dimensional frames (one per `hop_length = prod(strides)`
    samples), a Euclidean residual vector quantizer with `num_levels`
    codebooks of `codebook_size` codes turns frames into codes, and a SEANet
    decoder with a unidirectional LSTM turns (the sum of) code vectors back
    into a waveform. Level 1 was distilled from HuBERT: its codes are the
    "semantic tokens" that SoundStorm is conditioned on, and
    `semantic_features` projects its code vectors to HuBERT's width
    (`semantic_dim`), as the reference does.

    This is an inference model: weights come from `kss.convert.speechtokenizer`
    (a public PyTorch checkpoint) or `from_preset` (a new instance holds
    zeros); training it is not supported. The defaults are the public `speechtokenizer_hubert_avg`
    architecture: 16 kHz, 50 Hz frames, 8 levels x 1024 codes.

    Args:
        sample_rate: Hz of the waveforms.
        filters: channels of the first encoder stage (doubled per stage).
        latent_dim: dimension of the quantized frames.
        semantic_dim: output width of `semantic_features` (no projection if it
            equals `latent_dim`).
        strides: upsampling per decoder stage (the encoder downsamples in the
            reverse order); `prod(strides)` samples per frame.
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

    def __init__(
        self,
        sample_rate=16000,
        filters=64,
        latent_dim=1024,
        semantic_dim=768,
        strides=(8, 5, 4, 2),
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
        strides = tuple(strides)
        if not strides:
            raise ValueError("`strides` must be a non-empty tuple of ints.")
        for name, value, minimum in [
            ("sample_rate", sample_rate, 1),
            ("filters", filters, 1),
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
        self.filters = int(filters)
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
            filters=self.filters,
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
        self.encoder = SpeechTokenizerEncoder(
            bidirectional=self.bidirectional, name="encoder", **stack
        )
        self.quantizer = EuclideanResidualQuantizer(
            self.num_levels, self.codebook_size, self.latent_dim, name="quantizer"
        )
        self.decoder = SpeechTokenizerDecoder(name="decoder", **stack)
        self.semantic_projection = None
        if self.semantic_dim != self.latent_dim:
            self.semantic_projection = keras.layers.Dense(
                self.semantic_dim,
                kernel_initializer="zeros",
                dtype=self.dtype_policy,
                name="semantic_projection",
            )

        self.build((None, None))
        self._inference_functions = {}

    def build(self, input_shape):
        self.encoder.build(input_shape)
        self.quantizer.build((None, None, self.latent_dim))
        self.decoder.build((None, None, self.latent_dim))
        if self.semantic_projection is not None:
            self.semantic_projection.build((None, None, self.latent_dim))
        self.built = True

    # --- Properties ---------------------------------------------------------

    @property
    def hop_length(self):
        """Samples per frame, `prod(strides)`."""
        return math.prod(self.strides)

    @property
    def frame_rate(self):
        """Frames (code vectors) per second."""
        return self.sample_rate / self.hop_length

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        config.update(
            sample_rate=self.sample_rate,
            filters=self.filters,
            latent_dim=self.latent_dim,
            semantic_dim=self.semantic_dim,
            strides=self.strides,
            num_levels=self.num_levels,
            codebook_size=self.codebook_size,
            lstm_layers=self.lstm_layers,
            bidirectional=self.bidirectional,
            kernel_size=self.kernel_size,
            last_kernel_size=self.last_kernel_size,
            residual_kernel_size=self.residual_kernel_size,
            num_residual_layers=self.num_residual_layers,
            dilation_base=self.dilation_base,
            compress=self.compress,
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # --- Inference ----------------------------------------------------------

    def call(self, waveform):
        """Reconstruction with every level: float `[B, N]` (N a multiple of the hop) -> `[B, N]`."""
        codes = self.quantizer(self.encoder(waveform))
        return self.decoder(self.quantizer.lookup(codes, self.num_levels))

    def encode(self, waveform, num_levels=None):
        """Waveforms float `[B, N]` at `sample_rate` -> codes numpy int32 `[B, ceil(N / hop), k]`.

        `N` is right-padded with zeros to a multiple of `hop_length`; `k` is
        `num_levels` (default all levels).
        """
        num_levels = self._check_num_levels(num_levels, self.num_levels)
        waveform = self._padded_waveform(waveform)
        codes = self._inference_function("encode", num_levels)(ops.convert_to_tensor(waveform))
        return np.asarray(ops.convert_to_numpy(codes), "int32")

    def semantic_tokens(self, waveform):
        """Waveforms float `[B, N]` -> RVQ level-1 codes numpy int32 `[B, ceil(N / hop)]`."""
        return self.encode(waveform, num_levels=1)[:, :, 0]

    def semantic_features(self, waveform):
        """Waveforms float `[B, N]` -> projected level-1 code vectors, float32 `[B, T, D]`.

        `D` is `semantic_dim`: the features the reference distils towards HuBERT (the third
        output of its `forward`).
        """
        waveform = self._padded_waveform(waveform)
        features = self._inference_function("semantic", 1)(ops.convert_to_tensor(waveform))
        return np.asarray(ops.convert_to_numpy(features), "float32")

    def decode(self, codes, num_levels=None):
        """Codes int `[B, T, k]` -> waveforms numpy float32 `[B, T * hop_length]`.

        Uses the first `num_levels` levels of `codes` (default: all `k` given).
        """
        codes = self._checked_codes(codes)
        num_levels = self._check_num_levels(num_levels, codes.shape[2])
        codes = codes[:, :, :num_levels]
        audio = self._inference_function("decode", num_levels)(ops.convert_to_tensor(codes))
        return np.asarray(ops.convert_to_numpy(audio), "float32")

    def _inference_function(self, kind, num_levels):
        """One compiled function per (kind, levels), reused across shapes."""
        key = (kind, num_levels, bool(self.run_eagerly))
        if key in self._inference_functions:
            return self._inference_functions[key]
        if kind == "encode":

            def function(waveform):
                return self.quantizer(self.encoder(waveform), num_levels=num_levels)

        elif kind == "semantic":

            def function(waveform):
                codes = self.quantizer(self.encoder(waveform), num_levels=1)
                vectors = self.quantizer.level_vectors(codes[..., 0], 0)
                if self.semantic_projection is None:
                    return vectors
                return self.semantic_projection(vectors)

        else:

            def function(codes):
                return self.decoder(self.quantizer.lookup(codes, num_levels))

        compiled = backend.compiled_inference(
            function, self.variables, run_eagerly=bool(self.run_eagerly)
        )
        self._inference_functions[key] = compiled
        return compiled

    def _padded_waveform(self, waveform):
        waveform = codec_inputs.checked_waveform(waveform)
        return np.pad(waveform, [(0, 0), (0, (-waveform.shape[1]) % self.hop_length)])

    def _check_num_levels(self, num_levels, available):
        return codec_inputs.checked_num_levels(num_levels, available, self.num_levels)

    def _checked_codes(self, codes):
        return codec_inputs.checked_codes(codes, self.num_levels, self.codebook_size)

    # --- Presets ------------------------------------------------------------

    def save_to_preset(self, preset_dir, metadata=None):
        """Writes `config.json`, `metadata.json`, `model.weights.h5`, atomically.

        `metadata`: an optional JSON-serializable dict merged into
        `metadata.json` (e.g. which checkpoint it was converted from). The
        files are written to a staging directory beside `preset_dir` that
        replaces it only once complete, so a failed save keeps an old preset.
        """
        with files.atomic_directory(preset_dir) as staging_dir:
            with open(os.path.join(staging_dir, "config.json"), "w") as f:
                json.dump(keras.saving.serialize_keras_object(self), f, indent=2)
            metadata = {
                "keras_version": keras.__version__,
                "keras_soundstorm_version": __version__,
                "backend": backend.name(),
                "parameter_count": int(self.count_params()),
                "sample_rate": self.sample_rate,
                "frame_rate": self.frame_rate,
                "num_levels": self.num_levels,
                "codebook_size": self.codebook_size,
                **(metadata or {}),
            }
            with open(os.path.join(staging_dir, "metadata.json"), "w") as f:
                json.dump(metadata, f, indent=2)
            keras.saving.save_weights(self, os.path.join(staging_dir, "model.weights.h5"))

    @classmethod
    def from_preset(cls, preset):
        """Loads a codec from a directory written by `save_to_preset` (or a handle).

        `preset`: a local directory (e.g. written by `keras-soundstorm convert
        speechtokenizer`) or a `kaggle://` / `hf://` handle of one.
        """
        preset_dir = preset_registry.resolve_preset(preset, cls.__name__)
        preset_dir = preset_files.download_preset(preset_dir)
        preset_files.check_preset(preset_dir, cls, task=False)
        with open(os.path.join(preset_dir, "config.json")) as f:
            config = json.load(f)
        codec = cls.from_config(config["config"])
        codec.load_weights(os.path.join(preset_dir, "model.weights.h5"))
        return codec
