"""SoundStormBackbone: summed token embeddings -> bidirectional Conformer."""

import math
import os

import keras
import keras_hub

from keras_soundstorm.layers import ConformerBlock
from keras_soundstorm.layers.conformer import (
    DEFAULT_ATTENTION_CHUNK_SIZE,
    validate_architecture_options,
    validate_attention_chunk_size,
)
from keras_soundstorm.models.backbone_presets import BackbonePresets
from keras_soundstorm.models.soundstorm.embeddings import CodeEmbedding, ConditioningEmbedding
from keras_soundstorm.utils.validation import require_int


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class SoundStormBackbone(BackbonePresets, keras_hub.models.Backbone):
    """The SoundStorm encoder (Borsos et al., 2023).

    Each frame's Q codec tokens (each level with its own table of `C + 1`
    rows, row `C` = MASK) and its conditioning token (repeated
    `conditioning_rate_ratio` times) are embedded and summed, so attention runs
    over T frames whatever Q is; a stack of Conformer blocks with rotary
    positions follows.

    Args:
        num_levels: Q, RVQ levels.
        codebook_size: C, codes per level. Id C is MASK.
        conditioning_vocabulary_size: conditioning tokens; 0 or None for an
            unconditional model (no `"conditioning"` input).
        conditioning_rate_ratio: frames per conditioning token (r); inputs
            must satisfy `T = r * conditioning_length`.
        hidden_dim, num_layers, num_heads, intermediate_dim, conv_kernel_size,
        dropout: Conformer size; the paper uses 1024, 12, 16, 4096, 5.
        layer_norm_epsilon: epsilon of the layer norms.
        attention_chunk_size: sequences longer than this attend in chunks of
            at most this many queries, so memory grows linearly with T (same
            result); None attends in one shot (T x T scores) at any length.
        conditioning_dropout: probability that training replaces an example's
            whole conditioning by a learned null conditioning (classifier-free
            guidance, `SoundStorm.generate(guidance_scale=...)`); 0 (default):
            no null conditioning, no guidance.
        conv_expansion_factor, conv_norm_type, attention_bias,
        even_kernel_padding: Conformer architecture options (see
            `ConformerBlock`); the defaults are this package's own
            architecture, `2, "channel_norm", False, "left"` the lucidrains
            SoundStorm's (the public SpeechTokenizer-SoundStorm checkpoints).
        dtype: a dtype policy, e.g. `"mixed_bfloat16"`.

    Inputs: dict with `"codes"` int `[B, T, Q]`, `"padding_mask"` bool `[B, T]`
    (True on real frames) and, if conditional, `"conditioning"` int `[B, T/r]`.
    Output: float `[B, T, hidden_dim]`.

    Example:
    ```python
    backbone = kss.SoundStormBackbone(
        num_levels=4, codebook_size=64, conditioning_vocabulary_size=32,
        conditioning_rate_ratio=2, hidden_dim=64, num_layers=2, num_heads=4,
        intermediate_dim=128)
    hidden = backbone({
        "codes": np.zeros((1, 8, 4), "int32"),
        "conditioning": np.zeros((1, 4), "int32"),
        "padding_mask": np.ones((1, 8), "bool")})  # [1, 8, 64]
    ```

    Reference: [SoundStorm](https://arxiv.org/abs/2305.09636).
    """

    def __init__(
        self,
        num_levels,
        codebook_size,
        conditioning_vocabulary_size,
        conditioning_rate_ratio,
        hidden_dim,
        num_layers,
        num_heads,
        intermediate_dim,
        conv_kernel_size=5,
        dropout=0.0,
        layer_norm_epsilon=1e-5,
        attention_chunk_size=DEFAULT_ATTENTION_CHUNK_SIZE,
        conditioning_dropout=0.0,
        conv_expansion_factor=1,
        conv_norm_type="layer_norm",
        attention_bias=True,
        even_kernel_padding="right",
        dtype=None,
        **kwargs,
    ):
        _validate_args(
            num_levels=num_levels,
            codebook_size=codebook_size,
            conditioning_vocabulary_size=conditioning_vocabulary_size,
            conditioning_rate_ratio=conditioning_rate_ratio,
            hidden_dim=hidden_dim,
            num_layers=num_layers,
            num_heads=num_heads,
            intermediate_dim=intermediate_dim,
            conv_kernel_size=conv_kernel_size,
            dropout=dropout,
            layer_norm_epsilon=layer_norm_epsilon,
            attention_chunk_size=attention_chunk_size,
            conditioning_dropout=conditioning_dropout,
            conditional=bool(conditioning_vocabulary_size),
            conv_expansion_factor=conv_expansion_factor,
            conv_norm_type=conv_norm_type,
            attention_bias=attention_bias,
            even_kernel_padding=even_kernel_padding,
        )
        conditional = bool(conditioning_vocabulary_size)

        # === Layers ===
        self.code_embedding = CodeEmbedding(
            num_levels, codebook_size, hidden_dim, dtype=dtype, name="code_embedding"
        )
        self.conditioning_embedding = (
            ConditioningEmbedding(
                conditioning_vocabulary_size,
                hidden_dim,
                conditioning_rate_ratio,
                dropout=conditioning_dropout,
                dtype=dtype,
                name="conditioning_embedding",
            )
            if conditional
            else None
        )
        self.conformer_layers = [
            ConformerBlock(
                hidden_dim,
                num_heads,
                intermediate_dim,
                conv_kernel_size=conv_kernel_size,
                dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                attention_chunk_size=attention_chunk_size,
                conv_expansion_factor=conv_expansion_factor,
                conv_norm_type=conv_norm_type,
                attention_bias=attention_bias,
                even_kernel_padding=even_kernel_padding,
                dtype=dtype,
                name=f"conformer_layer_{i}",
            )
            for i in range(num_layers)
        ]

        # === Functional Model ===
        codes = keras.Input(shape=(None, num_levels), dtype="int32", name="codes")
        padding_mask = keras.Input(shape=(None,), dtype="bool", name="padding_mask")
        inputs = {"codes": codes, "padding_mask": padding_mask}
        x = self.code_embedding(codes)
        if conditional:
            conditioning = keras.Input(shape=(None,), dtype="int32", name="conditioning")
            inputs["conditioning"] = conditioning
            x = x + self.conditioning_embedding(conditioning)
        for layer in self.conformer_layers:
            x = layer(x, padding_mask=padding_mask)
        super().__init__(inputs=inputs, outputs=x, dtype=dtype, **kwargs)

        # === Config ===
        self.num_levels = num_levels
        self.codebook_size = codebook_size
        self.conditioning_vocabulary_size = conditioning_vocabulary_size or 0
        self.conditioning_rate_ratio = conditioning_rate_ratio
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.conv_kernel_size = conv_kernel_size
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.attention_chunk_size = attention_chunk_size
        self.conditioning_dropout = conditioning_dropout
        self.conv_expansion_factor = conv_expansion_factor
        self.conv_norm_type = conv_norm_type
        self.attention_bias = bool(attention_bias)
        self.even_kernel_padding = even_kernel_padding

    @property
    def mask_id(self):
        """The id of the MASK token (= `codebook_size`)."""
        return self.codebook_size

    @property
    def is_conditional(self):
        return self.conditioning_vocabulary_size > 0

    @property
    def supports_guidance(self):
        """Whether it learned a null conditioning (trained with `conditioning_dropout > 0`)."""
        return self.is_conditional and self.conditioning_dropout > 0

    @property
    def null_conditioning_id(self):
        """The conditioning id of the null conditioning (guidance's unconditional pass)."""
        return self.conditioning_vocabulary_size if self.supports_guidance else None

    @staticmethod
    def get_layout_map(
        device_mesh, model_parallel_dim_name="model", data_parallel_dim_name="batch"
    ):
        """A `keras.distribution.LayoutMap` for model-parallel training (JAX).

        Splits the embeddings (hidden axis), attention (heads), feed-forward
        and convolution pointwise kernels and the level heads (codes) over
        `model_parallel_dim_name`; norms, biases and the depthwise kernel stay
        replicated. See `keras_soundstorm.distribution.layout_map`.

        Example:
        ```python
        mesh = keras.distribution.DeviceMesh(
            (2, 4), ("batch", "model"), keras.distribution.list_devices())
        layout_map = kss.SoundStormBackbone.get_layout_map(mesh)
        keras.distribution.set_distribution(keras.distribution.ModelParallel(
            layout_map=layout_map, batch_dim_name="batch"))
        model = kss.SoundStorm(kss.SoundStormBackbone(**kss.CONFIGS["paper"]))
        ```

        Args:
            device_mesh: a `keras.distribution.DeviceMesh` with both axes.
            model_parallel_dim_name: mesh axis that splits weights.
            data_parallel_dim_name: mesh axis that splits the batch.
        """
        from keras_soundstorm import distribution

        return distribution.layout_map(device_mesh, model_parallel_dim_name, data_parallel_dim_name)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_levels": self.num_levels,
                "codebook_size": self.codebook_size,
                "conditioning_vocabulary_size": self.conditioning_vocabulary_size,
                "conditioning_rate_ratio": self.conditioning_rate_ratio,
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "conv_kernel_size": self.conv_kernel_size,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "attention_chunk_size": self.attention_chunk_size,
                "conditioning_dropout": self.conditioning_dropout,
                "conv_expansion_factor": self.conv_expansion_factor,
                "conv_norm_type": self.conv_norm_type,
                "attention_bias": self.attention_bias,
                "even_kernel_padding": self.even_kernel_padding,
            }
        )
        return config


def _validate_args(
    num_levels,
    codebook_size,
    conditioning_vocabulary_size,
    conditioning_rate_ratio,
    hidden_dim,
    num_layers,
    num_heads,
    intermediate_dim,
    conv_kernel_size,
    dropout,
    layer_norm_epsilon,
    attention_chunk_size,
    conditioning_dropout,
    conditional,
    conv_expansion_factor=1,
    conv_norm_type="layer_norm",
    attention_bias=True,
    even_kernel_padding="right",
):
    """Raises ValueError naming the first bad constructor argument."""
    require_int("num_levels", num_levels, 1)
    require_int("codebook_size", codebook_size, 2)
    if conditioning_vocabulary_size is not None:
        require_int("conditioning_vocabulary_size", conditioning_vocabulary_size, 0)
    require_int("conditioning_rate_ratio", conditioning_rate_ratio, 1)
    for name, value in [
        ("hidden_dim", hidden_dim),
        ("num_layers", num_layers),
        ("num_heads", num_heads),
        ("intermediate_dim", intermediate_dim),
        ("conv_kernel_size", conv_kernel_size),
    ]:
        require_int(name, value, 1)
    if hidden_dim % num_heads:
        raise ValueError(
            f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` ({num_heads})."
        )
    if (hidden_dim // num_heads) % 2:
        raise ValueError(
            f"The head size hidden_dim / num_heads = {hidden_dim // num_heads} must be "
            "even for rotary embeddings."
        )
    if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be a number in [0, 1); got {dropout!r}.")
    if (
        isinstance(conditioning_dropout, bool)
        or not isinstance(conditioning_dropout, (int, float))
        or not 0.0 <= conditioning_dropout < 1.0
    ):
        raise ValueError(
            f"`conditioning_dropout` must be a number in [0, 1); got {conditioning_dropout!r}."
        )
    if conditioning_dropout and not conditional:
        raise ValueError(
            "`conditioning_dropout` needs a conditional model (conditioning_vocabulary_size > 0)."
        )
    if (
        isinstance(layer_norm_epsilon, bool)
        or not isinstance(layer_norm_epsilon, (int, float))
        or not math.isfinite(layer_norm_epsilon)
        or layer_norm_epsilon <= 0
    ):
        raise ValueError(
            f"`layer_norm_epsilon` must be a finite number > 0; got {layer_norm_epsilon!r}."
        )
    validate_attention_chunk_size(attention_chunk_size)
    validate_architecture_options(conv_expansion_factor, conv_norm_type, even_kernel_padding)
    _check_fits_in_memory(
        num_levels=num_levels,
        codebook_size=codebook_size,
        conditioning_vocabulary_size=conditioning_vocabulary_size or 0,
        hidden_dim=hidden_dim,
        num_layers=num_layers,
        intermediate_dim=intermediate_dim,
        conv_kernel_size=conv_kernel_size,
        conv_expansion_factor=conv_expansion_factor,
        conv_norm_type=conv_norm_type,
        attention_bias=attention_bias,
    )


# Host memory a Conformer block costs beyond its weights (Keras layer and
# variable objects, the functional graph's nodes): ~0.3 MB measured on CPU,
# rounded up. It keeps num_layers=10**7 of a tiny width from hanging.
_BYTES_PER_LAYER_OVERHEAD = 1_000_000


def parameter_count(
    num_levels,
    codebook_size,
    conditioning_vocabulary_size,
    hidden_dim,
    num_layers,
    intermediate_dim,
    conv_kernel_size,
    conv_expansion_factor=1,
    conv_norm_type="layer_norm",
    attention_bias=True,
):
    """Weights of a SoundStormBackbone of these sizes (exact, as Python ints)."""
    d, i, e = hidden_dim, intermediate_dim, conv_expansion_factor * hidden_dim
    embeddings = num_levels * (codebook_size + 1) * d + conditioning_vocabulary_size * d
    feed_forward = 2 * (d * i + i + i * d + d)
    attention = 3 * d * d + (3 * d if attention_bias else 0) + d * d + d
    depthwise_norm = e if conv_norm_type == "channel_norm" else 2 * e
    convolution = d * 2 * e + 2 * e + conv_kernel_size * e + e + depthwise_norm + e * d + d
    norms = 5 * 2 * d
    return embeddings + num_layers * (feed_forward + attention + convolution + norms)


def memory_limit_bytes():
    """Physical memory of this machine (or its cgroup limit, if lower); None if unknown."""
    limits = []
    try:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            limits.append(int(text))
    limits = [limit for limit in limits if limit > 0]
    return min(limits) if limits else None


def _memory_estimate(sizes):
    """Bytes of the float32 weights plus the per-layer overhead."""
    return 4 * parameter_count(**sizes) + sizes["num_layers"] * _BYTES_PER_LAYER_OVERHEAD


def _check_fits_in_memory(**sizes):
    """Raises ValueError when the float32 weights alone cannot fit in memory.

    Checked before any weight is allocated, so that a huge size fails at once
    with a message naming it, instead of aborting the interpreter (JAX) or
    building layers for hours (TensorFlow).
    """
    limit = memory_limit_bytes()
    if limit is None:
        return
    estimate = _memory_estimate(sizes)
    if estimate <= limit:
        return
    # The culprit: the size whose reduction to 1 shrinks the estimate most.
    options = ("conv_norm_type", "attention_bias")
    culprit = min(
        (name for name in sizes if name not in options),
        key=lambda name: _memory_estimate({**sizes, name: 1}),
    )
    listed = ", ".join(f"{name}={value}" for name, value in sizes.items())
    raise ValueError(
        f"`{culprit}` = {sizes[culprit]} is too large: this SoundStormBackbone ({listed}) "
        f"has ~{parameter_count(**sizes):.3g} parameters, needing ~{estimate / 1e9:.3g} GB "
        f"in float32, more than this machine's {limit / 1e9:.3g} GB of memory."
    )
