"""Multi-head self-attention: rotary or none, bidirectional / causal / prefix
masks, query chunking for long sequences and an optional key/value cache for
incremental decoding (keras-hub `CachedMultiHeadAttention` style: the cache and
its index are passed in and the updated cache returned, so it runs inside a
compiled loop on every backend).
"""

import numbers

import keras
from keras import layers, ops

from keras_soundstorm import backend

# Sequences longer than this attend in chunks of at most this many queries, so
# the scores take B * H * chunk * T floats instead of B * H * T * T and memory
# grows linearly with T; shorter ones take the one-shot path. 512 (10 s at
# 50 Hz) was as fast as one shot or faster on a 2-core x86 CPU (see
# examples/results/memory_sweep.csv) and keeps a 15000-frame score chunk of the
# small config (8 heads) at 250 MB.
DEFAULT_ATTENTION_CHUNK_SIZE = 512

ATTENTION_MODES = ("bidirectional", "causal", "prefix")


def attention_key_mask(padding_mask):
    """`[B, T]` bool -> `[B, 1, 1, T]` key mask for `dot_product_attention`.

    A fully padded example attends everywhere (finite garbage, never counted)
    instead of producing NaN from a row of all-masked keys.
    """
    any_real = ops.any(padding_mask, axis=1, keepdims=True)
    key_mask = ops.logical_or(padding_mask, ops.logical_not(any_real))
    return key_mask[:, None, None, :]


def single_query_attention(query, key, value, mask=None):
    """Attention of one query per example against a cache laid out heads first.

    Equals `ops.dot_product_attention` for T = 1 with keys and values given as
    `[B, H, S, F]`, the decoding cache's layout: both products then have their
    batch axes (B, H) leading, as the CPU matmul kernels want, so no step
    transposes the cache.

    Args:
        query: float `[B, 1, H, F]`; key, value: float `[B, H, S, F]`.
        mask: bool broadcastable to `[B, 1, 1, S]` (True: attend), or None.

    Returns:
        float `[B, 1, H, F]`.
    """
    scale = ops.cast(1.0 / float(query.shape[-1]) ** 0.5, query.dtype)
    scores = ops.cast(ops.einsum("bhf,bhsf->bhs", query[:, 0] * scale, key), "float32")
    if mask is not None:
        scores = ops.where(mask[:, 0], scores, -1e30)
    weights = ops.cast(ops.softmax(scores, axis=-1), value.dtype)
    return ops.einsum("bhs,bhsf->bhf", weights, value)[:, None]


def chunked_attention(query, key, value, key_mask, chunk_size, query_mask_fn=None):
    """`ops.dot_product_attention` computed `chunk_size` queries at a time.

    Each query's softmax runs over all keys either way, so the result equals
    the one-shot attention (within float rounding of the matmuls); peak memory
    is `B * H * chunk_size * S` scores instead of `B * H * T * S`. Sequences of
    at most `chunk_size` frames take the one-shot path unchanged.

    Args:
        query: float `[B, T, H, F]`.
        key, value: float `[B, S, H, F]`.
        key_mask: bool `[B, 1, 1, S]` (see `attention_key_mask`), or None.
        chunk_size: queries per chunk (int >= 1), or None for one shot.
        query_mask_fn: None (every query sees the same keys: `key_mask`), or a
            function of the query indices (int `[c]`, 0-based in `query`) that
            returns the bool mask `[B or 1, 1, c, S]` used instead of
            `key_mask`, so a causal mask is built one chunk at a time.

    Returns:
        float `[B, T, H, F]`.
    """

    def attend(query_chunk, query_indices=None):
        mask = key_mask if query_mask_fn is None else query_mask_fn(query_indices)
        return ops.dot_product_attention(query_chunk, key, value, mask=mask)

    def one_shot():
        indices = None if query_mask_fn is None else ops.arange(ops.shape(query)[1])
        return attend(query, indices)

    if chunk_size is None:
        return one_shot()
    num_frames = query.shape[1]
    if num_frames is not None and not isinstance(num_frames, int):
        # A symbolic length (JAX's shape-polymorphic SavedModel export) cannot be
        # compared with chunk_size while tracing: the export attends in one shot.
        return one_shot()
    if num_frames is not None:
        if num_frames <= chunk_size:
            return one_shot()
        return _attend_in_chunks(attend, query, chunk_size, query_mask_fn is not None)
    # Length unknown while tracing (e.g. a tf.function with relaxed shapes).
    return ops.cond(
        ops.shape(query)[1] > chunk_size,
        lambda: _attend_in_chunks(attend, query, chunk_size, query_mask_fn is not None),
        one_shot,
    )


def _attend_in_chunks(attend, query, chunk_size, with_indices):
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
    if with_indices:
        indices = ops.reshape(ops.arange(num_chunks * chunk_size), (num_chunks, chunk_size))
        outputs = backend.sequential_map(lambda pair: attend(*pair), (chunks, indices))
    else:
        outputs = backend.sequential_map(attend, chunks)
    outputs = ops.transpose(outputs, (1, 0, 2, 3, 4))
    outputs = ops.reshape(outputs, (batch_size, num_chunks * chunk_size, num_heads, head_dim))
    return outputs[:, :num_frames]


def validate_attention_chunk_size(attention_chunk_size, name="attention_chunk_size"):
    """Raises ValueError unless `attention_chunk_size` is None or an int >= 1."""
    if attention_chunk_size is None:
        return
    if (
        isinstance(attention_chunk_size, bool)
        or not isinstance(attention_chunk_size, numbers.Integral)
        or attention_chunk_size < 1
    ):
        raise ValueError(f"`{name}` must be an int >= 1 or None; got {attention_chunk_size!r}.")


def visibility_mask(query_positions, num_keys, attention_mode, prefix_length=None):
    """Which keys each query sees: bool `[B or 1, 1, T, S]`.

    Key `j` is visible to the query at absolute position `i` if `j <= i`
    (causal), or also if `j < prefix_length` (prefix).

    Args:
        query_positions: int `[T]`, absolute positions of the queries.
        num_keys: S, keys at positions `0 .. S - 1`.
        attention_mode: "causal" or "prefix".
        prefix_length: int scalar or int `[B]` (prefix mode).
    """
    key_positions = ops.arange(num_keys)[None, :]
    visible = key_positions <= ops.cast(query_positions, key_positions.dtype)[:, None]
    visible = visible[None, None]
    if attention_mode == "prefix":
        prefix = ops.cast(ops.convert_to_tensor(prefix_length), key_positions.dtype)
        if len(prefix.shape) == 1:
            prefix = prefix[:, None, None, None]
        visible = ops.logical_or(visible, key_positions[None, None] < prefix)
    return visible


@keras.saving.register_keras_serializable(package="keras_soundstorm")
class SelfAttention(layers.Layer):
    """Multi-head self-attention with optional rotary positions and key/value cache.

    q, k and v come from one packed projection (`attention_qkv`, kernel
    `[D, 3, H, F]`, F = D / H), the heads are merged back by `attention_output`
    (kernel `[H, F, D]`).

    Args:
        hidden_dim: model width D.
        num_heads: heads H (D must be divisible by H).
        use_rotary: rotate queries and keys by their absolute positions (RoPE).
        rotary_max_wavelength: the rotary embedding's longest wavelength.
        qkv_bias: whether the q/k/v projection has a bias.
        output_bias: whether the output projection has a bias.
        chunk_size: sequences longer than this attend in chunks of this many
            queries (memory linear in T, same result); None: one shot.
        dropout: dropout rate of the output (after `attention_output`).

    Call args:
        x: float `[B, T, D]`.
        padding_mask: bool `[B, T_keys]`, True on real keys (T_keys = S, the
            cache length, when a cache is given), or None (all real).
        attention_mode: "bidirectional", "causal" or "prefix": key j is visible
            to query i if j < prefix_length or j <= i, positions absolute
            (offset by `cache_index`).
        prefix_length: int scalar or int `[B]` (prefix mode only).
        cache: `(keys, values)`, each float `[B, H, S, F]` (see
            `empty_cache`), or None.
        cache_index: int scalar, the position of `x[:, 0]` in the cache
            (required with a cache; also offsets rotary and causal positions).
        training: enables dropout.

    Returns:
        float `[B, T, D]`, or `(y, new_cache)` when `cache` is given, the new
        cache holding this call's keys and values at `cache_index`.

    Example:
    >>> layer = SelfAttention(64, 4, use_rotary=True)
    >>> y = layer(keras.ops.ones((2, 10, 64)), attention_mode="causal")
    """

    def __init__(
        self,
        hidden_dim,
        num_heads,
        use_rotary=False,
        rotary_max_wavelength=10000,
        qkv_bias=True,
        output_bias=True,
        chunk_size=None,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("hidden_dim", hidden_dim), ("num_heads", num_heads)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"`{name}` must be an int >= 1; got {value!r}.")
        if hidden_dim % num_heads:
            raise ValueError(
                f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` ({num_heads})."
            )
        validate_attention_chunk_size(chunk_size, "chunk_size")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1); got {dropout!r}.")
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.head_dim = self.hidden_dim // self.num_heads
        self.use_rotary = bool(use_rotary)
        self.rotary_max_wavelength = rotary_max_wavelength
        self.qkv_bias = bool(qkv_bias)
        self.output_bias = bool(output_bias)
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.dropout = dropout

        self.qkv = layers.EinsumDense(
            "btd,dkhf->btkhf",
            output_shape=(None, 3, self.num_heads, self.head_dim),
            bias_axes="khf" if self.qkv_bias else None,
            dtype=self.dtype_policy,
            name="attention_qkv",
        )
        self.rotary = None
        if self.use_rotary:
            # Imported here, not at the top: keras_hub imports its model zoo and
            # TensorFlow, which `import keras_soundstorm.layers` must not pay for.
            from keras_hub.layers import RotaryEmbedding

            self.rotary = RotaryEmbedding(
                max_wavelength=rotary_max_wavelength,
                sequence_axis=1,
                feature_axis=-1,
                dtype=self.dtype_policy,
                name="rotary",
            )
        self.attention_output = layers.EinsumDense(
            "bthf,hfd->btd",
            output_shape=(None, self.hidden_dim),
            bias_axes="d" if self.output_bias else None,
            dtype=self.dtype_policy,
            name="attention_output",
        )
        self.dropout_layer = layers.Dropout(dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        self.qkv.build(input_shape)
        self.attention_output.build(tuple(input_shape[:-1]) + (self.num_heads, self.head_dim))
        self.built = True

    def call(
        self,
        x,
        padding_mask=None,
        attention_mode="bidirectional",
        prefix_length=None,
        cache=None,
        cache_index=None,
        training=None,
    ):
        if attention_mode not in ATTENTION_MODES:
            raise ValueError(
                f"`attention_mode` must be one of {ATTENTION_MODES}; got {attention_mode!r}."
            )
        if (attention_mode == "prefix") != (prefix_length is not None):
            raise ValueError(
                "`prefix_length` is required with attention_mode='prefix' and accepted only "
                f"there; got attention_mode={attention_mode!r}, prefix_length={prefix_length!r}."
            )
        if cache is not None and cache_index is None:
            raise ValueError("`cache_index` is required with a `cache` (the position of x[:, 0]).")
        if cache is not None and (not isinstance(cache, (tuple, list)) or len(cache) != 2):
            raise ValueError(
                "`cache` must be a pair (keys, values), each [B, H, S, F] "
                f"(see `SelfAttention.empty_cache`); got {type(cache).__name__}."
            )
        start = 0 if cache_index is None else cache_index

        qkv = self.qkv(x)  # [B, T, 3, H, F]
        query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        if self.rotary is not None:
            query = self.rotary(query, start_index=start)
            key = self.rotary(key, start_index=start)
        new_cache = None
        if cache is not None:
            # Keys and values in two tensors, not one [B, 2, S, H, F]: XLA:CPU
            # fuses the slice of a stacked cache into the attention's dot and
            # loses its fast kernel. Heads first ([B, H, S, F]): a decoding step's
            # products then need no transposed copy of the cache (TensorFlow,
            # 500 tokens: 10.2 -> 16.1 tokens/s;
            # examples/results/text_to_semantic_profile.md).
            cached_key, cached_value = cache
            index = [0, 0, start, 0]
            key = ops.slice_update(cached_key, index, _heads_first(key, cached_key.dtype))
            value = ops.slice_update(cached_value, index, _heads_first(value, cached_value.dtype))
            new_cache = (key, value)
            num_keys = ops.shape(key)[2]
            if query.shape[1] != 1:  # a prompt: `chunked_attention` takes [B, S, H, F]
                key, value = _heads_first(key), _heads_first(value)
        else:
            num_keys = ops.shape(key)[1]

        key_mask = None if padding_mask is None else attention_key_mask(padding_mask)
        query_mask_fn = None
        if attention_mode != "bidirectional":

            def query_mask_fn(query_indices):
                visible = visibility_mask(
                    query_indices + start, num_keys, attention_mode, prefix_length
                )
                if padding_mask is not None:
                    visible = ops.logical_and(visible, padding_mask[:, None, None, :])
                # A query that sees no real key attends everywhere (finite
                # garbage, like a fully padded example) instead of giving NaN.
                sees_any = ops.any(visible, axis=-1, keepdims=True)
                return ops.logical_or(visible, ops.logical_not(sees_any))

        if cache is not None and query.shape[1] == 1:
            mask = key_mask if query_mask_fn is None else query_mask_fn(ops.arange(1))
            y = single_query_attention(query, key, value, mask)
        else:
            y = chunked_attention(query, key, value, key_mask, self.chunk_size, query_mask_fn)
        y = self.dropout_layer(self._merge_heads(y), training=training)
        return y if cache is None else (y, new_cache)

    def empty_cache(self, batch_size, length, dtype=None):
        """A zero key/value cache of `length` slots: `(keys, values)`, each
        `[B, H, length, F]`, in `dtype` (default: the layer's compute dtype)."""
        shape = (batch_size, self.num_heads, length, self.head_dim)
        dtype = dtype or self.compute_dtype
        return ops.zeros(shape, dtype), ops.zeros(shape, dtype)

    def _merge_heads(self, y):
        """`[B, T, H, F]` -> `[B, T, D]` through `attention_output` (kernel `[H, F, D]`).

        One `[B, T, H*F] x [H*F, D]` matmul instead of the layer's einsum: for
        the einsum, XLA:CPU lays the kernel out to match the attention's
        output and copies (transposes) the whole kernel on every call: 4 MB
        per layer per decoded token at width 1024 (one full-size step at 400
        slots: 96 -> 67 ms).
        """
        projection = self.attention_output
        batch_size, num_frames = ops.shape(y)[0], ops.shape(y)[1]
        y = ops.reshape(y, (batch_size, num_frames, self.hidden_dim))
        kernel = ops.reshape(projection.kernel, (self.hidden_dim, self.hidden_dim))
        y = ops.matmul(y, ops.cast(kernel, y.dtype))
        if projection.bias is not None:
            y = y + ops.cast(projection.bias, y.dtype)
        return y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "use_rotary": self.use_rotary,
                "rotary_max_wavelength": self.rotary_max_wavelength,
                "qkv_bias": self.qkv_bias,
                "output_bias": self.output_bias,
                "chunk_size": self.chunk_size,
                "dropout": self.dropout,
            }
        )
        return config


def _heads_first(x, dtype=None):
    """`[B, T, H, F]` <-> `[B, H, T, F]` (the same swap both ways), cast to `dtype`."""
    x = ops.transpose(x, (0, 2, 1, 3))
    return x if dtype is None else ops.cast(x, dtype)
