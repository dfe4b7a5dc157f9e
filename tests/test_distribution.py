"""Multi-device training and generation: `keras.distribution` (JAX), `tf.distribute` (TF).

The device count is fixed when JAX or TensorFlow starts, and other tests may
have started it in this process, so the multi-device checks run this file as a
script in a fresh process (`python tests/test_distribution.py jax|tensorflow`,
environment set by `run_worker`): 8 virtual CPU devices for JAX, 2 logical
CPUs for TensorFlow. The worker prints its measurements as one JSON line; the
tests assert on them. The JAX checks run in the JAX CI job and the TF checks in
the TensorFlow job (skipped in the others); the layout-map checks run in all.
"""

import json
import os
import re
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import keras_soundstorm as kss
from keras_soundstorm import distribution
from keras_soundstorm.data import toy

BACKEND = keras.backend.backend()
# One layer; every split size (hidden, heads, intermediate, codes) divides by 4.
CONFIG = dict(
    kss.CONFIGS["tiny"],
    num_levels=2,
    codebook_size=32,
    conditioning_vocabulary_size=16,
    hidden_dim=32,
    num_layers=1,
    intermediate_dim=64,
)
MODEL_PARALLEL_SIZE = 4
NUM_JAX_DEVICES = 8
STEPS_PER_LEVEL = (2, 1)
BATCH_SIZE = 8
NUM_STEPS = 3
RESULT_PREFIX = "DISTRIBUTION_RESULT "


def is_split_weight(path):
    """Which weights the layout map must split, written apart from its regexes:
    every kernel and embedding table except the (tiny) depthwise kernel."""
    name = path.split("/")[-1]
    return name in ("kernel", "projection_kernel", "embeddings") and "conv_depthwise" not in path


def make_mesh(shape=(2, MODEL_PARALLEL_SIZE), axis_names=("batch", "model")):
    # Device names suffice: a mesh and a layout map touch no device.
    devices = [f"cpu:{i}" for i in range(int(np.prod(shape)))]
    return keras.distribution.DeviceMesh(shape, axis_names, devices)


def tiny_task():
    return kss.SoundStorm(kss.SoundStormBackbone(**CONFIG), seed=0)


def training_data(batch_size=BATCH_SIZE * NUM_STEPS):
    return toy.toy_batch(batch_size, 16, CONFIG, seed=0)


# --- Layout map and helpers (every backend) ---------------------------------


def test_layout_map_splits_exactly_the_large_weights():
    # With every optional weight: the level heads' projection (head_projection=True).
    model = kss.SoundStorm(
        kss.SoundStormBackbone(**dict(CONFIG, num_layers=2)), head_projection=True
    )
    layout_map = kss.SoundStormBackbone.get_layout_map(make_mesh())
    expected = {v.path for v in model.variables if is_split_weight(v.path)}
    # 2 embeddings, 8 kernels per Conformer layer, the level heads and their projection.
    assert len(expected) == 3 + 8 * 2 + 1
    split, used_keys = set(), set()
    for variable in model.variables:
        keys = [key for key in layout_map if re.fullmatch(key, variable.path)]
        assert len(keys) <= 1, (variable.path, keys)
        if not keys:
            continue
        used_keys.update(keys)
        split.add(variable.path)
        axes = layout_map[variable.path].axes
        assert len(axes) == len(variable.shape), (variable.path, axes)
        assert axes.count("model") == 1 and "batch" not in axes, (variable.path, axes)
        assert variable.shape[axes.index("model")] % MODEL_PARALLEL_SIZE == 0
    assert split == expected
    assert used_keys == set(layout_map), "layout-map keys matching no variable"


def test_layout_map_uses_the_given_axis_names():
    mesh = make_mesh(axis_names=("data", "tensor"))
    layout_map = distribution.layout_map(mesh, "tensor", "data")
    axes = layout_map["conformer_layer_0/attention_qkv/kernel"].axes
    assert axes == (None, None, "tensor", None)
    # Still matched when the model is nested in another one.
    assert layout_map["outer/level_heads/kernel"].axes == (None, None, "tensor")


def test_layout_map_rejects_bad_meshes():
    with pytest.raises(ValueError, match="is not an axis of the device mesh"):
        distribution.layout_map(make_mesh(axis_names=("batch", "tensor")))
    with pytest.raises(ValueError, match="data_parallel_dim_name"):
        distribution.layout_map(make_mesh(), data_parallel_dim_name="replica")
    with pytest.raises(ValueError, match="must differ"):
        distribution.layout_map(make_mesh(), "model", "model")
    with pytest.raises(ValueError, match="DeviceMesh"):
        distribution.layout_map((2, 4))


def test_model_parallel_size_must_divide_the_split_sizes():
    distribution.check_model_parallel_size(kss.CONFIGS["paper"], 16)
    distribution.check_model_parallel_size(kss.SoundStormBackbone(**CONFIG), 4)
    with pytest.raises(ValueError, match="must divide `num_heads` \\(16\\)"):
        distribution.check_model_parallel_size(kss.CONFIGS["paper"], 32)
    with pytest.raises(ValueError, match="must divide `hidden_dim` \\(32\\)"):
        distribution.check_model_parallel_size(CONFIG, 3)


def test_helpers_name_the_backend_they_need():
    if BACKEND != "jax":
        with pytest.raises(ValueError, match="needs the JAX backend"):
            distribution.jax_distribution()
    else:
        with pytest.raises(ValueError, match="must divide the number of devices"):
            distribution.jax_distribution(3, devices=["cpu:0", "cpu:1"], set_global=False)
        with pytest.raises(ValueError, match="int >= 1"):
            distribution.jax_distribution(0, set_global=False)
    if BACKEND != "tensorflow":
        with pytest.raises(ValueError, match="needs the TensorFlow backend"):
            distribution.make_strategy()
    else:
        with pytest.raises(ValueError, match="at least one device"):
            distribution.make_strategy(devices=[])


def test_tpu_detection_reads_the_environment(monkeypatch):
    for name in distribution._TPU_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(distribution.glob, "glob", lambda pattern: [])
    assert not distribution.tpu_available()
    monkeypatch.setenv("TPU_ACCELERATOR_TYPE", "v5litepod-8")
    assert distribution.tpu_available()
    monkeypatch.delenv("TPU_ACCELERATOR_TYPE")
    monkeypatch.setattr(distribution.glob, "glob", lambda pattern: ["/dev/accel0"])
    assert distribution.tpu_available()


# --- Worker (a fresh process) -------------------------------------------------


class LossRecorder(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))


def max_difference(weights_a, weights_b):
    return max(
        float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(weights_a, weights_b)
    )


def describe_sharding(variable):
    sharding = variable.value.sharding
    spec = list(getattr(sharding, "spec", ()))  # a SingleDeviceSharding has none
    spec += [None] * (len(variable.shape) - len(spec))
    return {
        "path": variable.path,
        "trainable": variable.trainable,
        "spec": spec,
        "replicated": bool(sharding.is_fully_replicated),
        "devices": len(sharding.device_set),
    }


def jax_worker():
    import jax

    assert len(jax.devices()) == NUM_JAX_DEVICES, jax.devices()
    data = training_data()
    conditioning = data["conditioning"][:2]
    keras.utils.set_random_seed(0)
    initial_weights = tiny_task().get_weights()
    result = {}
    for name, make in [
        ("single_device", lambda: None),
        ("data_parallel", lambda: distribution.jax_distribution(set_global=False)),
        (
            "model_parallel",
            lambda: distribution.jax_distribution(
                MODEL_PARALLEL_SIZE, config=CONFIG, set_global=False
            ),
        ),
    ]:
        start = time.perf_counter()
        keras.distribution.set_distribution(make())
        model = tiny_task()
        model.set_weights(initial_weights)
        model.compile(optimizer=keras.optimizers.Adam(1e-3, name="adam"))
        recorder = LossRecorder()
        model.fit(
            data, batch_size=BATCH_SIZE, epochs=1, shuffle=False, verbose=0, callbacks=[recorder]
        )
        codes = model.generate(
            conditioning=conditioning, seed=3, steps_per_level=STEPS_PER_LEVEL, bucket_frames=16
        )
        weights = model.get_weights()
        entry = {"losses": recorder.losses, "codes": codes.tolist()}
        if name == "single_device":
            reference_weights = weights
        else:
            entry["weight_difference"] = max_difference(weights, reference_weights)
        entry["variables"] = [describe_sharding(v) for v in model.variables]
        entry["optimizer_variables"] = [describe_sharding(v) for v in model.optimizer.variables]
        entry["seconds"] = round(time.perf_counter() - start, 1)
        result[name] = entry
    keras.distribution.set_distribution(None)
    return result


def per_replica_loss(model, batch, seed_state, num_replicas):
    """Mean over replicas of the loss each computes on its slice of `batch`:
    every replica starts from seed state `seed_state` (the state is mirrored)
    and draws its masks from its own stream (its replica id)."""
    from keras_soundstorm import backend

    size = len(batch["codes"]) // num_replicas
    losses = []
    replica_id = backend.replica_id
    try:
        for replica in range(num_replicas):
            part = {k: v[replica * size : (replica + 1) * size] for k, v in batch.items()}
            model.training_masker.seed_generator.state.assign(seed_state)
            backend.replica_id = lambda replica=replica: replica
            losses.append(float(model.compute_loss(y_pred=model(part, training=True))))
    finally:
        backend.replica_id = replica_id
    return float(np.mean(losses))


def tensorflow_worker():
    import tensorflow as tf

    # Before TensorFlow's runtime starts: split the CPU into 2 logical devices.
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = distribution.make_strategy(devices=["/cpu:0", "/cpu:1"])
    data = training_data()
    # Work-around: Keras' symbolic build under a strategy MEAN-reduces a batch,
    # which TensorFlow cannot do for bool tensors.
    int_mask_data = dict(data, padding_mask=data["padding_mask"].astype("int32"))
    conditioning = data["conditioning"][:2]
    keras.utils.set_random_seed(0)
    reference = tiny_task()  # default strategy: one device
    initial_weights = reference.get_weights()
    initial_seed = reference.training_masker.seed_generator.state.numpy()
    first_batch = {key: value[:BATCH_SIZE] for key, value in data.items()}
    result = {
        "replicas": strategy.num_replicas_in_sync,
        "replica_mean_loss": per_replica_loss(
            reference, first_batch, initial_seed, strategy.num_replicas_in_sync
        ),
    }

    start = time.perf_counter()
    with strategy.scope():
        model = tiny_task()
        model.set_weights(initial_weights)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
    recorder = LossRecorder()
    model.fit(
        int_mask_data,
        batch_size=BATCH_SIZE,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[recorder],
    )
    result["losses"] = recorder.losses
    result["weight_change"] = max_difference(model.get_weights(), initial_weights)
    replica_difference = 0.0
    for variable in model.trainable_variables:
        values = [np.asarray(v) for v in strategy.experimental_local_results(variable.value)]
        assert len(values) == strategy.num_replicas_in_sync, variable.path
        replica_difference = max(replica_difference, max_difference(values[:1], values[1:]))
    result["replica_difference"] = replica_difference
    result["codes"] = model.generate(
        conditioning=conditioning, seed=3, steps_per_level=STEPS_PER_LEVEL, bucket_frames=16
    ).tolist()
    reference.set_weights(model.get_weights())
    result["single_device_codes"] = reference.generate(
        conditioning=conditioning, seed=3, steps_per_level=STEPS_PER_LEVEL, bucket_frames=16
    ).tolist()

    # The masks each replica draws for its slice of one batch.
    batches = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(first_batch).batch(BATCH_SIZE)
    )

    @tf.function
    def replica_masks(batch):
        def mask(batch):
            sample = model.training_masker(batch["codes"], batch["padding_mask"])
            return tf.cast(sample["loss_mask"], "int32"), sample["level"]

        return strategy.run(mask, args=(batch,))

    loss_masks, levels = replica_masks(next(iter(batches)))
    local = [strategy.experimental_local_results(x) for x in (loss_masks, levels)]
    result["replicas_draw_the_same_masks"] = all(
        np.array_equal(values[0], values[1]) for values in local
    )

    # A bool padding mask, as the data pipelines produce.
    with strategy.scope():
        bool_model = tiny_task()
        bool_model.compile(optimizer=keras.optimizers.Adam(1e-3))
    try:
        bool_model.fit(
            data, batch_size=BATCH_SIZE, epochs=1, steps_per_epoch=1, shuffle=False, verbose=0
        )
        result["bool_mask_error"] = None
    except Exception as error:  # noqa: BLE001 - reported to the test
        result["bool_mask_error"] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def run_worker(backend):
    """Runs this file as a worker for `backend` in a fresh process."""
    env = dict(os.environ, KERAS_BACKEND=backend)
    if backend == "jax":
        # Optimization level 0 halves XLA:CPU compile time; sharding
        # (SPMD partitioning) happens before the backend optimizations anyway.
        env["XLA_FLAGS"] = (
            env.get("XLA_FLAGS", "")
            + f" --xla_force_host_platform_device_count={NUM_JAX_DEVICES}"
            + " --xla_backend_optimization_level=0"
        )
    start = time.perf_counter()
    process = subprocess.run(
        [sys.executable, os.path.abspath(__file__), backend],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in process.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if process.returncode or not lines:
        raise AssertionError(
            f"{backend} worker failed (exit code {process.returncode}):\n" + process.stderr[-4000:]
        )
    result = json.loads(lines[-1][len(RESULT_PREFIX) :])
    result["worker_seconds"] = round(time.perf_counter() - start, 1)
    print(f"{backend} worker: {result['worker_seconds']} s")
    return result


# --- JAX: keras.distribution on 8 virtual devices -----------------------------

needs_jax = pytest.mark.skipif(
    BACKEND != "jax",
    reason="keras.distribution runs on JAX; these checks run in the KERAS_BACKEND=jax job",
)


@pytest.fixture(scope="module")
def jax_result():
    return run_worker("jax")


@needs_jax
def test_model_parallel_shards_what_the_layout_map_says(jax_result):
    mesh = make_mesh()
    layout_map = distribution.layout_map(mesh)
    result = jax_result["model_parallel"]
    slots = {v["path"]: v for v in result["optimizer_variables"]}
    split = 0
    for variable in result["variables"]:
        path = variable["path"]
        assert variable["devices"] == NUM_JAX_DEVICES, path
        if is_split_weight(path):
            assert not variable["replicated"], path
            assert variable["spec"] == list(layout_map[path].axes), path
            split += 1
        else:
            assert variable["replicated"], path  # norms, biases, depthwise, seed
        if variable["trainable"]:  # Adam's moments are laid out like their weight.
            for moment in ("momentum", "velocity"):
                slot = slots[f"adam/{path.replace('/', '_')}_{moment}"]
                assert slot["spec"] == variable["spec"], (path, moment)
    assert split == 3 + 8 * CONFIG["num_layers"]


@needs_jax
def test_data_parallel_replicates_every_weight(jax_result):
    result = jax_result["data_parallel"]
    for variable in result["variables"] + result["optimizer_variables"]:
        assert variable["replicated"], variable["path"]
        assert variable["devices"] == NUM_JAX_DEVICES, variable["path"]


@needs_jax
@pytest.mark.parametrize("name", ["data_parallel", "model_parallel"])
def test_fit_matches_one_device(jax_result, name):
    # Same weights, same data, same mask seed: JAX's random numbers do not
    # depend on the sharding, so the masks are the same and so are the losses.
    reference = jax_result["single_device"]["losses"]
    assert len(reference) == NUM_STEPS and np.all(np.isfinite(reference))
    np.testing.assert_allclose(jax_result[name]["losses"], reference, rtol=1e-5)
    assert jax_result[name]["weight_difference"] < 1e-4


@needs_jax
@pytest.mark.parametrize("name", ["data_parallel", "model_parallel"])
def test_generate_matches_one_device(jax_result, name):
    codes = np.array(jax_result[name]["codes"])
    assert codes.shape == (2, 16, CONFIG["num_levels"])
    np.testing.assert_array_equal(codes, jax_result["single_device"]["codes"])


# --- TensorFlow: tf.distribute.MirroredStrategy on 2 logical CPUs -------------

needs_tensorflow = pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="tf.distribute runs on TensorFlow; these checks run in the KERAS_BACKEND=tensorflow job",
)


@pytest.fixture(scope="module")
def tensorflow_result():
    return run_worker("tensorflow")


@needs_tensorflow
def test_mirrored_strategy_fits_and_generates(tensorflow_result):
    result = tensorflow_result
    assert result["replicas"] == 2
    assert len(result["losses"]) == NUM_STEPS and np.all(np.isfinite(result["losses"]))
    assert result["weight_change"] > 1e-4  # it trained
    assert result["replica_difference"] == 0.0  # and the mirrors agree
    codes = np.array(result["codes"])
    assert codes.shape == (2, 16, CONFIG["num_levels"])
    np.testing.assert_array_equal(codes, result["single_device_codes"])


@needs_tensorflow
def test_mirrored_strategy_loss_is_the_mean_over_replicas(tensorflow_result):
    np.testing.assert_allclose(
        tensorflow_result["losses"][0], tensorflow_result["replica_mean_loss"], rtol=1e-4
    )


@needs_tensorflow
def test_mirrored_replicas_draw_independent_masks(tensorflow_result):
    assert not tensorflow_result["replicas_draw_the_same_masks"]


@needs_tensorflow
def test_mirrored_strategy_accepts_a_bool_padding_mask(tensorflow_result):
    assert tensorflow_result["bool_mask_error"] is None


if __name__ == "__main__":
    worker = {"jax": jax_worker, "tensorflow": tensorflow_worker}[sys.argv[1]]
    if keras.backend.backend() != sys.argv[1]:
        raise SystemExit(f"Set KERAS_BACKEND={sys.argv[1]} (see `run_worker`).")
    print(RESULT_PREFIX + json.dumps(worker()), flush=True)
