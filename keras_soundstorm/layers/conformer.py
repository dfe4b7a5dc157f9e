"""The bidirectional Conformer block of SoundStorm, padding-safe.

Block: `x += FFN(x)/2; x += MHSA(x); x += Conv(x); x += FFN(x)/2; x = LN(x)`
(Gulati et al., 2020), with rotary position embeddings in the attention and a
layer-norm convolution module that zeroes padded frames before the depthwise
convolution, so padding never leaks into real frames.
"""

import numbers

import keras
from keras import layers, ops
from keras_hub.layers import RotaryEmbedding

from keras_soundstorm import backend
from keras_soundstorm.layers.norms import ScaleOnlyChannelNorm

# Sequences longer than this attend in chunks of at most this many queries, so
# the scores take B * H * chunk * T floats instead of B * H * T * T and memory
# grows linearly with T; shorter ones take the one-shot path, as before. 512
# (10 s at 50 Hz) was as fast as one shot or faster on a 2-core x86 CPU (see
# examples/results/memory_sweep.csv) and keeps a 15000-frame score chunk of the
# small config (8 heads) at 250 MB.
DEFAULT_ATTENTION_CHUNK_SIZE = 512


def attention_key_mask(padding_mask):
    """`[B, T]` bool -> `[B, 1, 1, T]` key mask for `dot_product_attention`.

    A fully padded example attends everywhere (finite garbage, never counted)
    instead of producing NaN from a row of all-masked keys.
    """
    any_real = ops.any(padding_mask, axis=1, keepdims=True)
    key_mask = ops.logical_or(padding_mask, ops.logical_not(any_real))
    return key_mask[:, None, None, :]


def chunked_attention(query, key, value, key_mask, chunk_size):
    """`ops.dot_product_attention` computed `chunk_size` queries at a time.

    Each query's softmax runs over all keys either way, so the result equals
    the one-shot attention (within float rounding of the matmuls); peak memory
    is `B * H * chunk_size * T` scores instead of `B * H * T * T`. Sequences of
    at most `chunk_size` frames take the one-shot path unchanged.

    Args:
        query, key, value: float `[B, T, H, F]`.
        key_mask: bool `[B, 1, 1, T]` (see `attention_key_mask`).
        chunk_size: queries per chunk (int >= 1), or None for one shot.

    Returns:
        float `[B, T, H, F]`.
    """

    def one_shot():
        return ops.dot_product_attention(query, key, value, mask=key_mask)

    if chunk_size is None:
        return one_shot()
    num_frames = query.shape[1]
    if num_frames is not None and not isinstance(num_frames, int):
        # A symbolic length (JAX's shape-polymorphic SavedModel export) cannot be
        # compared with chunk_size while tracing: the export attends in one shot.
        return one_shot()
    if num_frames is not None:
        return (
            one_shot()
            if num_frames <= chunk_size
            else _attend_in_chunks(query, key, value, key_mask, chunk_size)
        )
    # Length unknown while tracing (e.g. a tf.function with relaxed shapes).
    return ops.cond(
        ops.shape(query)[1] > chunk_size,
        lambda: _attend_in_chunks(query, key, value, key_mask, chunk_size),
        one_shot,
    )


def _attend_in_chunks(query, key, value, key_mask, chunk_size):
    num_frames = ops.shape(query)[1]
    num_heads, head_dim = query.shape[2], query.shape[3]
    # A static batch size stays static (a compiled decode loop needs its shape).
    batch_size = -1 if query.shape[0] is None else query.shape[0]
    num_chunks = (num_frames + chunk_size - 1) // chunk_size
    # Equal chunks of <= chunk_size queries: fewer than num_chunks padded queries.
    chunk_size = (num_frames + num_chunks - 1) // num_chunks
    padded = ops.pad(query, [[0, 0], [0, num_chunks * chunk_size - num_frames], [0, 0], [0, 0]])
    # [B, n * c, H, F] -> [n, B, c, H, F]: one map step per chunk of queries.
    chunks = ops.reshape(padded, (batch_size, num_chunks, chunk_size, num_heads, head_dim))
    chunks = ops.transpose(chunks, (1, 0, 2, 3, 4))

    def attend(query_chunk):
        return ops.dot_product_attention(query_chunk, key, value, mask=key_mask)

    outputs = backend.sequential_map(attend, chunks)
    outputs = ops.transpose(outputs, (1, 0, 2, 3, 4))
    outputs = ops.reshape(outputs, (batch_size, num_chunks * chunk_size, num_heads, head_dim))
    return outputs[:, :num_frames]


def validate_attention_chunk_size(attention_chunk_size):
    """Raises ValueError unless `attention_chunk_size` is None or an int >= 1."""
    if attention_chunk_size is None:
        return
    if (
        isinstance(attention_chunk_size, bool)
        or not isinstance(attention_chunk_size, numbers.Integral)
        or attention_chunk_size < 1
    ):
        raise ValueError(
            f"`attention_chunk_size` must be an int >= 1 or None; got {attention_chunk_size!r}."
        )


CONV_NORMS = ("layer_norm", "channel_norm")
EVEN_KERNEL_PADDINGS = ("right", "left")


def validate_architecture_options(conv_expansion_factor, conv_norm_type, even_kernel_padding):
    """Raises ValueError naming the first bad Conformer architecture option."""
    if (
        isinstance(conv_expansion_factor, bool)
        or not isinstance(conv_expansion_factor, numbers.Integral)
        or conv_expansion_factor < 1
    ):
        raise ValueError(
            f"`conv_expansion_factor` must be an int >= 1; got {conv_expansion_factor!r}."
        )
    if conv_norm_type not in CONV_NORMS:
        raise ValueError(f"`conv_norm_type` must be one of {CONV_NORMS}; got {conv_norm_type!r}.")
    if even_kernel_padding not in EVEN_KERNEL_PADDINGS:
        raise ValueError(
            f"`even_kernel_padding` must be one of {EVEN_KERNEL_PADDINGS}; "
            f"got {even_kernel_padding!r}."
        )


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class ConformerBlock(layers.Layer):
    """One Conformer block.

    Args:
        hidden_dim: model width D.
        num_heads: attention heads H (D must be divisible by H).
        intermediate_dim: feed-forward width.
        conv_kernel_size: depthwise convolution kernel size.
        dropout: dropout rate of every module's output.
        layer_norm_epsilon: epsilon of all layer norms.
        attention_chunk_size: sequences longer than this attend in chunks of
            this many queries (memory linear in T, same result); None attends
            in one shot whatever the length.
        conv_expansion_factor: the convolution module's depthwise width is
            `conv_expansion_factor * hidden_dim` (1: ours; 2: lucidrains').
        conv_norm_type: the convolution module after its depthwise convolution:
            `"layer_norm"` (LayerNorm then SiLU, ours) or `"channel_norm"`
            (SiLU then a scale-only channel norm computed in float32, the
            lucidrains Conformer's).
        attention_bias: whether the query, key and value projections have biases.
        even_kernel_padding: for an even `conv_kernel_size`, where the extra
            frame of padding goes: `"right"` (Keras "same", ours) or `"left"`
            (the PyTorch references': `k / 2` frames left, `k / 2 - 1` right).
            Odd kernels pad `(k - 1) / 2` on each side either way.

    Call args:
        x: float `[B, T, D]`.
        padding_mask: bool `[B, T]`, True on real frames.

    Returns:
        float `[B, T, D]`.
    """

    def __init__(
        self,
        hidden_dim,
        num_heads,
        intermediate_dim,
        conv_kernel_size=5,
        dropout=0.0,
        layer_norm_epsilon=1e-5,
        attention_chunk_size=DEFAULT_ATTENTION_CHUNK_SIZE,
        conv_expansion_factor=1,
        conv_norm_type="layer_norm",
        attention_bias=True,
        even_kernel_padding="right",
        **kwargs,
    ):
        super().__init__(**kwargs)
        validate_architecture_options(conv_expansion_factor, conv_norm_type, even_kernel_padding)
        self.conv_expansion_factor = conv_expansion_factor
        self.conv_norm_type = conv_norm_type
        self.attention_bias = bool(attention_bias)
        self.even_kernel_padding = even_kernel_padding
        conv_dim = conv_expansion_factor * hidden_dim
        if hidden_dim % num_heads:
            raise ValueError(
                f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` ({num_heads})."
            )
        validate_attention_chunk_size(attention_chunk_size)
        if attention_chunk_size is not None:
            attention_chunk_size = int(attention_chunk_size)
        self.attention_chunk_size = attention_chunk_size
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.conv_kernel_size = conv_kernel_size
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        head_dim = hidden_dim // num_heads

        def norm(name):
            return layers.LayerNormalization(
                epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name=name
            )

        def dense(units, name, activation=None):
            return layers.Dense(units, activation=activation, dtype=self.dtype_policy, name=name)

        self.ffn_in_norms = [norm(f"ffn_{i}_norm") for i in (1, 2)]
        self.ffn_in = [dense(intermediate_dim, f"ffn_{i}_intermediate", "silu") for i in (1, 2)]
        self.ffn_out = [dense(hidden_dim, f"ffn_{i}_output") for i in (1, 2)]

        self.attention_norm = norm("attention_norm")
        self.qkv = layers.EinsumDense(
            "btd,dkhf->btkhf",
            output_shape=(None, 3, num_heads, head_dim),
            bias_axes="khf" if attention_bias else None,
            dtype=self.dtype_policy,
            name="attention_qkv",
        )
        self.rotary = RotaryEmbedding(
            sequence_axis=1, feature_axis=-1, dtype=self.dtype_policy, name="rotary"
        )
        self.attention_out = layers.EinsumDense(
            "bthf,hfd->btd",
            output_shape=(None, hidden_dim),
            bias_axes="d",
            dtype=self.dtype_policy,
            name="attention_output",
        )

        self.conv_norm = norm("conv_norm")
        self.conv_pointwise_in = dense(2 * conv_dim, "conv_pointwise_in")
        # Explicit padding only where it differs from "same" (an even kernel, left).
        self.conv_padding = None
        if conv_kernel_size % 2 == 0 and even_kernel_padding == "left":
            self.conv_padding = (conv_kernel_size // 2, conv_kernel_size // 2 - 1)
        self.conv_depthwise = layers.DepthwiseConv1D(
            conv_kernel_size,
            padding="same" if self.conv_padding is None else "valid",
            dtype=self.dtype_policy,
            name="conv_depthwise",
        )
        if conv_norm_type == "channel_norm":
            self.conv_depthwise_norm = ScaleOnlyChannelNorm(
                dtype=self.dtype_policy, name="conv_depthwise_norm"
            )
        else:
            self.conv_depthwise_norm = norm("conv_depthwise_norm")
        self.conv_pointwise_out = dense(hidden_dim, "conv_pointwise_out")

        self.output_norm = norm("output_norm")
        self.dropout_layer = layers.Dropout(dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        d = self.hidden_dim
        for norm_layer, ffn_in, ffn_out in zip(self.ffn_in_norms, self.ffn_in, self.ffn_out):
            norm_layer.build(input_shape)
            ffn_in.build(input_shape)
            ffn_out.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))
        for norm_layer in (self.attention_norm, self.conv_norm, self.output_norm):
            norm_layer.build(input_shape)
        self.qkv.build(input_shape)
        head_dim = d // self.num_heads
        self.attention_out.build(tuple(input_shape[:-1]) + (self.num_heads, head_dim))
        self.conv_pointwise_in.build(input_shape)
        conv_shape = tuple(input_shape[:-1]) + (self.conv_expansion_factor * d,)
        self.conv_depthwise.build(conv_shape)
        self.conv_depthwise_norm.build(conv_shape)
        self.conv_pointwise_out.build(conv_shape)
        self.built = True

    def _feed_forward(self, i, x, training):
        y = self.ffn_in[i](self.ffn_in_norms[i](x))
        y = self.dropout_layer(y, training=training)
        return self.dropout_layer(self.ffn_out[i](y), training=training)

    def _self_attention(self, x, key_mask, training):
        qkv = self.qkv(self.attention_norm(x))  # [B, T, 3, H, F]
        query = self.rotary(qkv[:, :, 0])
        key = self.rotary(qkv[:, :, 1])
        y = chunked_attention(query, key, qkv[:, :, 2], key_mask, self.attention_chunk_size)
        return self.dropout_layer(self.attention_out(y), training=training)

    def _convolution(self, x, padding_mask, training):
        y = self.conv_pointwise_in(self.conv_norm(x))
        value, gate = ops.split(y, 2, axis=-1)
        y = value * ops.sigmoid(gate)  # GLU
        # Zero padded frames so the depthwise kernel sees nothing beyond the end.
        y = y * ops.cast(padding_mask[:, :, None], y.dtype)
        if self.conv_padding is not None:
            y = ops.pad(y, [[0, 0], list(self.conv_padding), [0, 0]])
        y = self.conv_depthwise(y)
        if self.conv_norm_type == "channel_norm":
            y = self.conv_depthwise_norm(ops.silu(y))
        else:
            y = ops.silu(self.conv_depthwise_norm(y))
        return self.dropout_layer(self.conv_pointwise_out(y), training=training)

    def call(self, x, padding_mask, training=None):
        key_mask = attention_key_mask(padding_mask)
        x = x + 0.5 * self._feed_forward(0, x, training)
        x = x + self._self_attention(x, key_mask, training)
        x = x + self._convolution(x, padding_mask, training)
        x = x + 0.5 * self._feed_forward(1, x, training)
        return self.output_norm(x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "conv_kernel_size": self.conv_kernel_size,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "attention_chunk_size": self.attention_chunk_size,
                "conv_expansion_factor": self.conv_expansion_factor,
                "conv_norm_type": self.conv_norm_type,
                "attention_bias": self.attention_bias,
                "even_kernel_padding": self.even_kernel_padding,
            }
        )
        return config
