"""`ResidualCodec`: what every residual-vector-quantized codec shares.

A codec is `waveform -> encoder -> quantizer -> decoder -> waveform`. A
subclass supplies its layers and its configuration; this base class owns the
rest: sample / frame rate and hop, the checked `encode` / `decode` (and
`semantic_tokens` for a codec whose level 1 is semantic), the cache of
compiled inference functions, and preset save / load (folder-kind check,
sha256 checksums, atomic replace).
"""

import inspect
import json
import math
import os

import keras
import numpy as np
from keras import ops

from keras_soundstorm import backend
from keras_soundstorm.codecs import codec_inputs
from keras_soundstorm.utils import files, preset_files, preset_registry
from keras_soundstorm.version import __version__


class ResidualCodec(keras.Model):
    """Base class of residual-vector-quantized codecs (SoundStream, SpeechTokenizer).

    A subclass's `__init__` validates and stores its constructor arguments
    as attributes of the same name (or the name in `config_attributes`),
    creates the layers below, then calls `self.build((None, None))`:

    - `self.encoder`: waveform float `[B, N]` -> latents `[B, N / hop, latent_dim]`;
    - `self.quantizer`: `quantize_latents(latents, num_levels) -> codes int32 [B, T, k]`
      and `dequantize(codes, num_levels) -> latents [B, T, latent_dim]`;
    - `self.decoder`: latents `[B, T, latent_dim]` -> waveform `[B, T * hop]`;

    and it sets `sample_rate`, `strides` (encoder order; `hop_length =
    prod(strides)`), `latent_dim`, `num_levels` and `codebook_size`.
    `get_config` returns every constructor argument; `from_config`,
    `save_to_preset`, `from_preset` and `presets` need nothing more.

    `encode` refuses waveforms that are not finite or whose samples exceed
    `max_amplitude` (1000) in magnitude: codecs expect samples in about
    [-1, 1], and a larger value is almost always integer PCM passed as float
    (int16 PCM reaches 32767), whose codes would be garbage. `encode` and
    `decode` also refuse non-finite latents / audio (degenerate weights).
    """

    # Codecs whose RVQ level 1 holds semantic tokens set this (and may override
    # `semantic_tokens`).
    has_semantic_tokens = False
    # Constructor argument -> the attribute that holds it, where they differ.
    config_attributes = {}
    # Largest |sample| `encode` accepts (see the class docstring).
    max_amplitude = 1e3

    # --- Properties ---------------------------------------------------------

    @property
    def hop_length(self):
        """Samples per frame, `prod(strides)`."""
        return math.prod(self.strides)

    @property
    def frame_rate(self):
        """Frames (code vectors) per second."""
        return self.sample_rate / self.hop_length

    def build(self, input_shape):
        self.encoder.build(input_shape)
        self.quantizer.build((None, None, self.latent_dim))
        self.decoder.build((None, None, self.latent_dim))
        self.built = True

    # --- Config -------------------------------------------------------------

    @classmethod
    def config_names(cls):
        """The constructor's configuration arguments, in signature order."""
        parameters = inspect.signature(cls.__init__).parameters.values()
        return tuple(
            p.name
            for p in parameters
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        )

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        for name in self.config_names():
            config[name] = getattr(self, self.config_attributes.get(name, name))
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # --- Inference ----------------------------------------------------------

    def encode(self, waveform, num_levels=None):
        """Waveforms float `[B, N]` at `sample_rate` -> codes numpy int32 `[B, ceil(N / hop), k]`.

        `N` is right-padded with zeros to a multiple of `hop_length`; `k` is
        `num_levels` (default all levels): the first `k` levels set the bitrate.
        """
        num_levels = self._check_num_levels(num_levels, self.num_levels)
        waveform = self._padded_waveform(waveform)
        codes, finite = self._inference_function("encode", num_levels)(
            ops.convert_to_tensor(waveform)
        )
        if not bool(ops.convert_to_numpy(finite)):
            raise ValueError(
                f"{type(self).__name__}.encode: the encoder produced NaN or infinite latents "
                "for this waveform; the codec's weights are degenerate (check the preset or "
                "the checkpoint it was converted from)."
            )
        return np.asarray(ops.convert_to_numpy(codes), "int32")

    def decode(self, codes, num_levels=None):
        """Codes int `[B, T, k]` -> waveforms numpy float32 `[B, T * hop_length]`.

        Uses the first `num_levels` levels of `codes` (default: all `k` given).
        """
        codes = codec_inputs.checked_codes(codes, self.num_levels, self.codebook_size)
        num_levels = self._check_num_levels(num_levels, codes.shape[2])
        codes = codes[:, :, :num_levels]
        audio = self._inference_function("decode", num_levels)(ops.convert_to_tensor(codes))
        audio = np.asarray(ops.convert_to_numpy(audio), "float32")
        if not np.isfinite(audio).all():
            raise ValueError(
                f"{type(self).__name__}.decode produced NaN or infinite audio; the codec's "
                "weights are degenerate (check the preset or the checkpoint it was converted "
                "from)."
            )
        return audio

    def semantic_tokens(self, waveform):
        """Waveforms float `[B, N]` -> RVQ level-1 codes numpy int32 `[B, ceil(N / hop)]`.

        Only for codecs whose level 1 is semantic (`has_semantic_tokens`).
        """
        if not self.has_semantic_tokens:
            raise ValueError(
                f"{type(self).__name__} has no semantic tokens: its RVQ level 1 is acoustic. "
                "Use a codec whose level 1 is semantic, e.g. kss.codecs.SpeechTokenizer."
            )
        return self.encode(waveform, num_levels=1)[:, :, 0]

    def _inference_body(self, kind, num_levels):
        """The function compiled for `kind`; subclasses may add kinds."""
        if kind == "encode":

            def encode(waveform):
                latents = self.encoder(waveform)
                finite = ops.all(ops.isfinite(latents))
                return self.quantizer.quantize_latents(latents, num_levels=num_levels), finite

            return encode
        if kind == "decode":
            return lambda codes: self.decoder(self.quantizer.dequantize(codes, num_levels))
        raise ValueError(f"Unknown inference function {kind!r}.")

    def _inference_function(self, kind, num_levels):
        """One compiled function per (kind, levels), reused across shapes."""
        cache = self.__dict__.setdefault("_compiled_functions", {})
        key = (kind, num_levels, bool(self.run_eagerly))
        if key not in cache:
            cache[key] = backend.compiled_inference(
                self._inference_body(kind, num_levels),
                self.variables,
                run_eagerly=bool(self.run_eagerly),
            )
        return cache[key]

    def _padded_waveform(self, waveform):
        """The checked waveform (see `encode`), right-padded to a multiple of the hop."""
        waveform = codec_inputs.checked_waveform(waveform, max_amplitude=self.max_amplitude)
        return np.pad(waveform, [(0, 0), (0, (-waveform.shape[1]) % self.hop_length)])

    def _check_num_levels(self, num_levels, available):
        return codec_inputs.checked_num_levels(num_levels, available, self.num_levels)

    # --- Presets ------------------------------------------------------------

    def _preset_metadata(self):
        """What `metadata.json` records about the codec besides the caller's metadata."""
        return {
            "keras_version": keras.__version__,
            "keras_soundstorm_version": __version__,
            "backend": backend.name(),
            "parameter_count": int(self.count_params()),
            "sample_rate": self.sample_rate,
            "frame_rate": self.frame_rate,
            "num_levels": self.num_levels,
            "codebook_size": self.codebook_size,
        }

    def save_to_preset(self, preset_dir, metadata=None):
        """Writes `config.json`, `metadata.json`, `model.weights.h5`, atomically.

        `metadata`: an optional JSON-serializable dict merged into
        `metadata.json` (e.g. what the codec was trained or converted from).

        The files are written to a staging directory beside `preset_dir` that
        replaces it only once complete, so a failed save keeps an old preset.
        The weights exclude any optimizer state; `metadata.json` records their
        sha256, which `from_preset` verifies. `preset_dir` must be new, empty
        or a preset of this class (re-saving onto its own folder is fine);
        anything else is a ValueError and left untouched.
        """
        kind = preset_files.preset_kind(cls=type(self), task=False)
        with files.atomic_directory(preset_dir, kind=kind) as staging_dir:
            with open(os.path.join(staging_dir, "config.json"), "w") as f:
                json.dump(keras.saving.serialize_keras_object(self), f, indent=2)
            with open(os.path.join(staging_dir, "metadata.json"), "w") as f:
                json.dump({**self._preset_metadata(), **(metadata or {})}, f, indent=2)
            # No optimizer state: a preset is for inference and fine-tuning
            # (resuming uses BackupAndRestore checkpoints); it would triple the file.
            optimizer = getattr(self, "optimizer", None)
            skips = [optimizer] if optimizer is not None else []
            keras.saving.save_weights(
                self, os.path.join(staging_dir, "model.weights.h5"), objects_to_skip=skips
            )
            preset_files.record_checksums(staging_dir)

    @preset_registry.classproperty
    def presets(cls):
        """The shipped presets of this codec: `{name: {description, parameter_count, ...}}`."""
        return preset_registry.list_presets(cls.__name__)

    @classmethod
    def from_preset(cls, preset):
        """Loads a codec from a shipped preset's name, a directory or a handle.

        `preset`: a name of `cls.presets`, a directory written by
        `save_to_preset`, or a `kaggle://` / `hf://` handle.

        Raises ValueError naming the file for a preset whose weights are
        missing, fail their recorded sha256, or do not match its config.
        """
        preset_dir = preset_registry.resolve_preset(preset, cls.__name__)
        preset_dir = preset_files.download_preset(preset_dir)
        preset_files.check_preset(preset_dir, cls, task=False)
        with open(os.path.join(preset_dir, "config.json")) as f:
            config = json.load(f)
        codec = cls.from_config(config["config"])
        preset_files.load_checked_weights(
            preset_dir, "model.weights.h5", codec.weights, codec.load_weights
        )
        return codec


def load_codec(preset):
    """Loads any codec preset as the class its config.json names (for `cli tokenize` & co).

    `preset`: a shipped codec's name, a directory written by `save_to_preset`
    or a `kaggle://` / `hf://` handle. Raises ValueError for a preset that is
    not a codec's.
    """
    codecs = {cls.__name__: cls for cls in _subclasses(ResidualCodec)}
    entry = preset_registry.SHIPPED_PRESETS.get(os.fspath(preset))
    if entry is not None and not os.path.isdir(os.fspath(preset)):
        if entry["class_name"] not in codecs:
            raise ValueError(
                f"Preset {preset!r} is a {entry['class_name']}, not a codec; codecs: "
                f"{sorted(codecs)}."
            )
        return codecs[entry["class_name"]].from_preset(preset)
    preset_dir = preset_files.download_preset(preset)
    name = preset_files.registered_name(os.path.join(preset_dir, "config.json")) or ""
    cls = codecs.get(name.partition(">")[2]) if name.startswith("keras_soundstorm>") else None
    if cls is None:
        raise ValueError(
            f"Preset {os.fspath(preset)!r} holds {name or 'no config'!r} in config.json, not a "
            f"codec; codecs: {sorted(codecs)}."
        )
    return cls.from_preset(preset_dir)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)
