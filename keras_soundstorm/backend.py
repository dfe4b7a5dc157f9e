"""The backend seam: the only module that branches on the Keras backend.

Compiled inference, tf.distribute replica facts, stateless noise and the
export options differ between JAX, TensorFlow and PyTorch; everything else in
the package is written once with `keras.ops`.
"""

import contextlib

import keras
import numpy as np


def name():
    """The Keras backend in use: "jax", "tensorflow", "torch" or "numpy"."""
    return keras.backend.backend()


def compiled_inference(function, variables, run_eagerly=False):
    """Compiles `function(*tensors)` for inference on the current backend.

    JAX: `jax.jit` of a stateless call (the current values of `variables` are
    passed in, so later weight updates are seen). TensorFlow: a `tf.function`
    (graph mode without XLA: oneDNN's bf16 kernels use a CPU's AMX units,
    XLA:CPU does not; without AutoGraph: loops and branches on tensors are
    `ops.fori_loop` / `ops.cond`, and converting every layer's source took
    most of the first call). PyTorch: eager under `torch.no_grad()`.

    Args:
        function: takes and returns tensors (or nests of them).
        variables: every `keras.Variable` that `function` reads.
        run_eagerly: if True, `function` runs op by op (no compilation), for
            debugging and for checking the compiled version against it.
    """
    backend = name()
    if backend == "torch":
        import torch

        def no_grad(*args):
            with torch.no_grad():
                return function(*args)

        return no_grad
    if run_eagerly:
        return function
    if backend == "jax":
        import jax

        variables = list(variables)

        @jax.jit
        def stateless(values, *args):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return function(*args)

        return lambda *args: stateless([v.value for v in variables], *args)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, reduce_retracing=True, autograph=False)
    return function


def sequential_map(function, xs):
    """`keras.ops.map(function, xs)`, one element at a time.

    `xs` is a tensor or a tuple of tensors (mapped together along their first
    axis, `function` then gets a tuple); `function` must return a single tensor
    of the shape and dtype of `xs[0]` (of the first tensor's element for a
    tuple). Used to bound memory (e.g. attention in query chunks): TensorFlow's
    `map_fn` runs up to 10 iterations at once in a graph, so it is asked to
    run one.
    """
    if name() == "tensorflow":
        import tensorflow as tf

        first = xs[0] if isinstance(xs, tuple) else xs
        signature = tf.TensorSpec(first.shape[1:], first.dtype)
        return tf.map_fn(function, xs, parallel_iterations=1, fn_output_signature=signature)
    return keras.ops.map(function, xs)


def depthwise_conv1d(x, kernel, padding="same"):
    """`keras.ops.depthwise_conv` (stride 1, channel multiplier 1) at library speed.

    TensorFlow: `ops.depthwise_conv` itself (`tf.nn.depthwise_conv2d`, fast on
    CPU). JAX: XLA:CPU runs a grouped convolution ~25x slower than a sum of K
    shifted, scaled copies of the input, which it fuses into one loop (on
    `[1, 150, 2048]`, k=31, one core: ~115 ms vs ~5 ms). PyTorch: a 2-D
    convolution on a channels-last view of the input takes oneDNN's depthwise
    kernel (~1.5 ms vs ~20 ms for Keras' path or `conv1d`). Results differ from
    `ops.depthwise_conv` by float rounding only.

    Args:
        x: float `[B, T, C]`.
        kernel: `[K, C, 1]` (a `keras.layers.DepthwiseConv1D` kernel).
        padding: "same" (as Keras: `(K - 1) // 2` frames left, the rest
            right) or "valid".

    Returns:
        `[B, T, C]` ("same") or `[B, T - K + 1, C]` ("valid").
    """
    backend = name()
    kernel = keras.ops.cast(kernel, x.dtype)
    if backend not in ("jax", "torch"):
        return keras.ops.depthwise_conv(x, kernel, 1, padding)
    size, channels = kernel.shape[0], kernel.shape[1]
    if padding == "same":
        left = (size - 1) // 2
        x = keras.ops.pad(x, [[0, 0], [left, size - 1 - left], [0, 0]])
    kernel = kernel[:, :, 0]  # [K, C]
    if backend == "torch":
        import torch

        # [B, C, T, 1] strides of channels-last data select oneDNN's NHWC kernel.
        weight = kernel.T[:, None, :, None]  # [C, 1, K, 1]
        y = torch.nn.functional.conv2d(x.transpose(1, 2)[..., None], weight, groups=channels)
        return y[..., 0].transpose(1, 2)
    # Static slice bounds (negative ends), so symbolic lengths (export) work too.
    y = x[:, : (1 - size) or None] * kernel[0]
    for k in range(1, size):
        y = y + x[:, k : k + 1 - size or None] * kernel[k]
    return y


def default_bucket_frames(num_frames):
    """`SoundStorm.generate`'s default length bucket for `num_frames` frames.

    JAX and TensorFlow compile one decode per input shape, so lengths are
    padded up to a multiple of a power of two an eighth of their octave (at
    least 8): 150 frames run as 160, 1500 as 1536. Nearby lengths share one
    compiled decode (eight shapes per octave) and the padded work stays under
    12.5% (a fixed 128 decoded 150 frames as 256: 1.7x the work). PyTorch runs
    eagerly, with nothing to reuse: 1, no padding.
    """
    if name() == "torch":
        return 1
    return max(8, 2 ** (max(1, int(num_frames)).bit_length() - 4))


def replica_count():
    """Replicas of the current tf.distribute strategy (1 elsewhere).

    tf.distribute sums the replicas' gradients, so each replica's loss is
    divided by this (as Keras does for its built-in losses).
    """
    if name() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def replica_id():
    """This replica's index under tf.distribute (0 elsewhere)."""
    if name() != "tensorflow":
        return 0
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    return 0 if context is None else context.replica_id_in_sync_group


def uniform_noise(shape, seed, counter):
    """Uniform noise in (0, 1) from a scalar int seed tensor and a step counter.

    Stateless, so it works inside any compiled loop on every backend, and the
    same `(seed, counter)` always gives the same numbers on a given backend.
    """
    tiny = 1e-7
    backend = name()
    if backend == "jax":
        import jax

        key = jax.random.fold_in(jax.random.PRNGKey(seed), counter)
        return jax.random.uniform(key, shape, minval=tiny, maxval=1.0 - tiny)
    if backend == "tensorflow":
        import tensorflow as tf

        pair = tf.stack([tf.cast(seed, "int32"), tf.cast(counter, "int32")])
        return tf.random.stateless_uniform(shape, seed=pair, minval=tiny, maxval=1.0 - tiny)
    if backend == "torch":
        import torch

        generator = torch.Generator(device="cpu")
        generator.manual_seed((int(seed) * 1_000_003 + int(counter)) & 0xFFFFFFFF)
        noise = torch.rand(tuple(int(d) for d in shape), generator=generator)
        # convert_to_tensor moves it to the device Keras computes on.
        return keras.ops.convert_to_tensor(noise.clamp_(tiny, 1.0 - tiny))
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(counter)])
    return np.clip(rng.random(shape), tiny, 1.0 - tiny).astype("float32")


def concrete_value(x):
    """`x` as a numpy array, or None if it is traced (inside jit / a tf.function).

    For argument checks that can only run on values known now.
    """
    if isinstance(x, (np.ndarray, np.generic, list, tuple, int, float)):
        return np.asarray(x)
    backend = name()
    if backend == "jax":
        import jax

        if isinstance(x, jax.core.Tracer):
            return None
    elif backend == "tensorflow":
        import tensorflow as tf

        if isinstance(x, tf.Tensor) and not hasattr(x, "numpy"):
            return None
    return np.asarray(keras.ops.convert_to_numpy(x))


def kth_largest(x, k):
    """The `k`-th largest value along the last axis: `[..., N] -> [..., 1]`.

    On JAX a sort: `lax.top_k` lowers to a StableHLO composite that the
    TensorFlow runtime of a JAX-exported SavedModel cannot deserialize (TF
    2.21), so a served model decoding with `top_k` would fail. Elsewhere
    `top_k`, a partial sort.
    """
    if name() == "jax":
        size = x.shape[-1]
        return keras.ops.sort(x, axis=-1)[..., size - k : size - k + 1]
    return keras.ops.top_k(x, k)[0][..., -1:]


def check_can_export():
    """Raises ValueError unless the backend can write a SavedModel endpoint."""
    if name() not in ("tensorflow", "jax"):
        raise ValueError(
            f"SavedModel export needs the tensorflow or jax backend; this is {name()!r}. "
            "Save a preset, then export it with KERAS_BACKEND=tensorflow (or jax)."
        )


def export_endpoint_kwargs(platforms):
    """Extra `ExportArchive.add_endpoint` arguments: JAX serializes for `platforms`."""
    if name() != "jax":
        return {}
    return dict(
        is_static=False,
        jax2tf_kwargs={
            "native_serialization": True,
            "native_serialization_platforms": tuple(platforms),
        },
    )


def default_jit_compile():
    """`jit_compile` for convolutional training: XLA on JAX only.

    On TensorFlow, XLA takes minutes to compile a codec's convolution stack for
    no faster steps on CPU.
    """
    return name() != "tensorflow"


@contextlib.contextmanager
def state_kept_on_error(model):
    """Gives `model` its variable values back if the `fit` inside fails.

    JAX's stateless training moves the values out of the variables while it
    runs (`_purge_model_variables`) and puts them back only at an epoch's end:
    an exception in between (a rejected batch, an interrupt) would leave
    `None` values, and the model unusable. On JAX the values before the call
    are put back (they are immutable arrays: keeping them costs nothing), and
    variables created inside the call (optimizer, metrics: all zero-initialised)
    get zeros. Elsewhere the variables keep their values: nothing to do.
    """
    if name() != "jax":
        yield
        return

    def state_variables():
        optimizer = getattr(model, "optimizer", None)
        found = list(model.variables) + list(getattr(model, "metrics_variables", []))
        return found + (list(optimizer.variables) if optimizer is not None else [])

    saved = {id(v): v._value for v in state_variables()}
    try:
        yield
    except BaseException:
        for variable in state_variables():
            if variable._value is None:
                value = saved.get(id(variable))
                if value is None:
                    value = keras.ops.zeros(variable.shape, variable.dtype)
                variable.assign(value)
        raise
