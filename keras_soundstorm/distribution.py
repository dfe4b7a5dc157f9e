"""Training SoundStorm on many devices: `keras.distribution` (JAX) and `tf.distribute` (TF).

JAX (TPU pods, multi-GPU, multi-host) uses Keras' own distribution API: one
global program (GSPMD), the batch split over a `"batch"` mesh axis and, with
`ModelParallel`, the large weights split over a `"model"` axis by
`layout_map` (= `SoundStormBackbone.get_layout_map`):

```python
import keras_soundstorm as kss
from keras_soundstorm import distribution

# 8 chips: 2 data-parallel replicas x 4-way tensor parallelism. Must run before
# the model is created (weights are placed when they are created).
distribution.jax_distribution(model_parallel_size=4, config=kss.CONFIGS["paper"])
model = kss.SoundStorm(kss.SoundStormBackbone(**kss.CONFIGS["paper"]))
model.compile()
model.fit(dataset)  # a global batch, divisible by the 2 replicas
```

Multi-host (a TPU pod slice or several GPU machines): start the same script on
every host with `multi_host=True`; on Cloud TPU, JAX finds the coordinator by
itself, elsewhere pass `job_addresses="10.0.0.1:1234"` (the coordinator),
`num_processes` and `process_id`, or set the `KERAS_DISTRIBUTION_JOB_ADDRESSES`,
`KERAS_DISTRIBUTION_NUM_PROCESSES` and `KERAS_DISTRIBUTION_PROCESS_ID`
environment variables (`keras.distribution.initialize`). Every host reads the
same `tf.data` pipeline; Keras shards it across hosts.

TensorFlow uses a `tf.distribute` strategy; `make_strategy()` picks a
`TPUStrategy` on a TPU (Colab and Kaggle TPU VMs, Cloud TPU), a
`MirroredStrategy` over the GPUs, else the default strategy:

```python
strategy = distribution.make_strategy()
with strategy.scope():
    model = kss.SoundStorm(kss.SoundStormBackbone(**kss.CONFIGS["paper"]))
    model.compile()
model.fit(dataset)  # global batch = per-replica batch x strategy.num_replicas_in_sync
```
"""

import glob
import os

import keras

# Which weights the "model" mesh axis splits, by regex on `variable.path`
# (fully matched; the leading `(.*/)?` keeps them valid if the model is
# nested), and the axis of each that is split ("model"; None = whole).
# Megatron-style pairs: the layer that widens splits its output axis, the one
# that narrows back splits its input axis, so each pair needs one all-reduce.
# Norms, biases and the depthwise kernel are O(hidden_dim) and stay replicated.
MODEL_PARALLEL_WEIGHTS = {
    # [Q * (C + 1), D] and [V, D]: split the hidden axis.
    r"(.*/)?code_embedding/embeddings": (None, "model"),
    r"(.*/)?conditioning_embedding/embeddings": (None, "model"),
    # [D, 3, H, F] and [H, F, D] of every SelfAttention: split the heads.
    r"(.*/)?attention_qkv/kernel": (None, None, "model", None),
    r"(.*/)?attention_output/kernel": ("model", None, None),
    # [D, I] and [I, D]: split the intermediate axis.
    r"(.*/)?conformer_layer_\d+/ffn_\d+_intermediate/kernel": (None, "model"),
    r"(.*/)?conformer_layer_\d+/ffn_\d+_output/kernel": ("model", None),
    # [D, 2D] and [D, D] around the GLU and depthwise convolution (channel-wise).
    r"(.*/)?conformer_layer_\d+/conv_pointwise_in/kernel": (None, "model"),
    r"(.*/)?conformer_layer_\d+/conv_pointwise_out/kernel": ("model", None),
    # [Q, D, C]: split the codes (vocabulary-parallel logits).
    r"(.*/)?level_heads/kernel": (None, None, "model"),
    # [Q, D, D] (heads with a projection, `head_projection=True`): split its output.
    r"(.*/)?level_heads/projection_kernel": (None, None, "model"),
}

# The config sizes that the "model" axis splits (see `MODEL_PARALLEL_WEIGHTS`).
_SPLIT_SIZES = ("hidden_dim", "num_heads", "intermediate_dim", "codebook_size")


def layout_map(device_mesh, model_parallel_dim_name="model", data_parallel_dim_name="batch"):
    """A `keras.distribution.LayoutMap` that shards SoundStorm's large weights.

    Splits over `model_parallel_dim_name`: the code and conditioning embeddings
    (hidden axis), attention q/k/v and output (heads), feed-forward and
    convolution-module pointwise kernels (intermediate axis) and the level
    heads (codes). Everything else (norms, biases, depthwise kernel) is
    replicated. Weights are not split over `data_parallel_dim_name`, which
    only splits the batch: the paper's 350M model with its AdamW state
    (about 4 GB in float32) fits on one TPU v4 / v5e chip.

    Args:
        device_mesh: a `keras.distribution.DeviceMesh` with both axes.
        model_parallel_dim_name: mesh axis that splits weights.
        data_parallel_dim_name: mesh axis that splits the batch.

    Returns:
        `keras.distribution.LayoutMap`, for
        `keras.distribution.ModelParallel(layout_map=..., batch_dim_name=...)`.
    """
    if not isinstance(device_mesh, keras.distribution.DeviceMesh):
        raise ValueError(
            f"`device_mesh` must be a `keras.distribution.DeviceMesh`; got {device_mesh!r}."
        )
    for argument, name in [
        ("model_parallel_dim_name", model_parallel_dim_name),
        ("data_parallel_dim_name", data_parallel_dim_name),
    ]:
        if name not in device_mesh.axis_names:
            raise ValueError(
                f"`{argument}` {name!r} is not an axis of the device mesh; "
                f"its axes are {list(device_mesh.axis_names)}."
            )
    if model_parallel_dim_name == data_parallel_dim_name:
        raise ValueError(
            "`model_parallel_dim_name` and `data_parallel_dim_name` must differ; "
            f"both are {model_parallel_dim_name!r}."
        )
    layouts = keras.distribution.LayoutMap(device_mesh)
    for pattern, axes in MODEL_PARALLEL_WEIGHTS.items():
        layouts[pattern] = tuple(model_parallel_dim_name if a == "model" else a for a in axes)
    return layouts


def check_model_parallel_size(config, model_parallel_size):
    """Raises ValueError unless every split size of `config` divides evenly.

    Args:
        config: a backbone config dict (e.g. `kss.CONFIGS["paper"]`) or a
            `SoundStormBackbone`.
        model_parallel_size: devices along the "model" mesh axis.
    """
    if hasattr(config, "get_config"):
        config = config.get_config()
    for name in _SPLIT_SIZES:
        if config[name] % model_parallel_size:
            raise ValueError(
                f"`model_parallel_size` ({model_parallel_size}) must divide `{name}` "
                f"({config[name]}), one of the sizes it splits: "
                + ", ".join(f"{n}={config[n]}" for n in _SPLIT_SIZES)
                + "."
            )


def jax_distribution(
    model_parallel_size=1,
    devices=None,
    config=None,
    multi_host=False,
    job_addresses=None,
    num_processes=None,
    process_id=None,
    set_global=True,
):
    """Sets up `keras.distribution` for SoundStorm on the JAX backend.

    Call it before creating the model. With `model_parallel_size=1` every
    device holds all weights and takes a slice of the batch (`DataParallel`);
    otherwise the devices form a `(batch, model)` mesh of shape
    `(num_devices / model_parallel_size, model_parallel_size)` and the weights
    are split by `layout_map` (`ModelParallel`). The global batch must be
    divisible by the number of data-parallel replicas.

    Args:
        model_parallel_size: devices each weight is split over.
        devices: device list (default: all, `keras.distribution.list_devices()`).
        config: optional backbone config (dict or backbone), checked to be
            divisible by `model_parallel_size`.
        multi_host: call `keras.distribution.initialize(job_addresses,
            num_processes, process_id)` first (one process per host; all
            None on Cloud TPU, or set by `KERAS_DISTRIBUTION_*` variables).
        set_global: make it the global distribution
            (`keras.distribution.set_distribution`); else use
            `with distribution.scope():`.

    Returns:
        The `keras.distribution.DataParallel` or `ModelParallel`.
    """
    if keras.backend.backend() != "jax":
        raise ValueError(
            "`jax_distribution` needs the JAX backend (KERAS_BACKEND=jax); got "
            f"{keras.backend.backend()!r}. On TensorFlow use `make_strategy()`."
        )
    if isinstance(model_parallel_size, bool) or not isinstance(model_parallel_size, int):
        raise ValueError(f"`model_parallel_size` must be an int >= 1; got {model_parallel_size!r}.")
    if model_parallel_size < 1:
        raise ValueError(f"`model_parallel_size` must be an int >= 1; got {model_parallel_size}.")
    if multi_host:
        keras.distribution.initialize(job_addresses, num_processes, process_id)
    devices = list(devices) if devices is not None else keras.distribution.list_devices()
    if not devices or len(devices) % model_parallel_size:
        raise ValueError(
            f"`model_parallel_size` ({model_parallel_size}) must divide the number of "
            f"devices ({len(devices)})."
        )
    if config is not None:
        check_model_parallel_size(config, model_parallel_size)

    if model_parallel_size == 1:
        mesh = keras.distribution.DeviceMesh((len(devices),), ("batch",), devices)
        result = keras.distribution.DataParallel(device_mesh=mesh)
    else:
        mesh = keras.distribution.DeviceMesh(
            (len(devices) // model_parallel_size, model_parallel_size),
            ("batch", "model"),
            devices,
        )
        result = keras.distribution.ModelParallel(
            layout_map=layout_map(mesh, "model", "batch"), batch_dim_name="batch"
        )
    if set_global:
        keras.distribution.set_distribution(result)
    return result


# --- TensorFlow -------------------------------------------------------------

# Environment variables set where a TPU is attached or named.
_TPU_ENVIRONMENT = (
    "TPU_NAME",  # Cloud TPU, some notebooks
    "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS",  # GKE
    "TPU_CONFIG",
    "COLAB_TPU_ADDR",  # legacy Colab TPU node
    "TPU_ACCELERATOR_TYPE",  # TPU VMs (Colab, Kaggle, Cloud)
)


def tpu_available():
    """Whether this machine looks like it has a TPU (environment or `/dev`)."""
    if any(os.environ.get(name) for name in _TPU_ENVIRONMENT):
        return True
    # TPU VMs expose their chips as /dev/accel* (v2-v4) or /dev/vfio/* (v5e+).
    return bool(glob.glob("/dev/accel[0-9]*") or glob.glob("/dev/vfio/[0-9]*"))


def tpu_strategy(tpu=None):
    """Connects to the TPU, initializes it and returns a `tf.distribute.TPUStrategy`.

    Args:
        tpu: TPU name or `grpc://` address. Default: `$COLAB_TPU_ADDR` on a
            legacy Colab TPU node, the TPU named by `$TPU_NAME` (or GKE's
            variables), else `"local"`, the chips attached to this TPU VM (Colab
            and Kaggle TPU runtimes).

    TensorFlow needs its TPU build on the VM (`pip install tensorflow-tpu`
    with the matching version); the JAX backend with `jax_distribution` is
    the better-supported way to train on TPUs.
    """
    import tensorflow as tf

    if tpu is None:
        if os.environ.get("COLAB_TPU_ADDR"):
            tpu = "grpc://" + os.environ["COLAB_TPU_ADDR"]
        elif not any(
            os.environ.get(name)
            for name in ("TPU_NAME", "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS", "TPU_CONFIG")
        ):
            tpu = "local"
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver.connect(tpu=tpu)
    return tf.distribute.TPUStrategy(resolver)


def make_strategy(devices=None, tpu=None):
    """The `tf.distribute` strategy for this machine (TensorFlow backend).

    Args:
        devices: explicit device names (e.g. `["/cpu:0", "/cpu:1"]`) for a
            `MirroredStrategy`; overrides detection.
        tpu: TPU name or address, forces `tpu_strategy(tpu)`.

    Returns:
        `TPUStrategy` if a TPU is found (`tpu_available()`), else a
        `MirroredStrategy` over all GPUs, else the default strategy
        (one device).
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "`make_strategy` needs the TensorFlow backend (KERAS_BACKEND=tensorflow); got "
            f"{keras.backend.backend()!r}. On JAX use `jax_distribution()`."
        )
    import tensorflow as tf

    if devices is not None:
        devices = list(devices)
        if not devices:
            raise ValueError("`devices` must name at least one device; got an empty list.")
        return tf.distribute.MirroredStrategy(devices)
    if tpu is not None or tpu_available():
        return tpu_strategy(tpu)
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return tf.distribute.MirroredStrategy([gpu.name for gpu in gpus])
    return tf.distribute.get_strategy()
