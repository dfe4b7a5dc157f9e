"""Quickstart: train a tiny SoundStorm on the toy task, generate, check and export."""

import dataclasses
import os
import time

import keras
import numpy as np

from keras_soundstorm.data import toy
from keras_soundstorm.models.soundstorm import CONFIGS
from keras_soundstorm.train_preset import train_preset
from keras_soundstorm.utils.files import check_writable
from keras_soundstorm.utils.validation import require_int


@dataclasses.dataclass
class QuickstartResult:
    """What `run_quickstart` produced: paths, generated codes and their accuracy."""

    preset: str
    codes_path: str
    codes_shape: tuple
    generate_seconds: float
    accuracy: float
    saved_model: str | None  # None on torch (no SavedModel export)


def run_quickstart(output, epochs=25):
    """Trains the "tiny" config on toy data into `output`, then generates and exports.

    Writes `output/preset`, `output/generated_codes.npy` and (TF and JAX
    backends) `output/saved_model/1`. `accuracy` is the fraction of
    generated tokens equal to the toy task's true codes (a trained tiny
    model reaches 1.0).
    """
    epochs = require_int("epochs", epochs, minimum=1)
    check_writable("`output`", output, "directory")
    os.makedirs(output, exist_ok=True)
    preset = os.path.join(output, "preset")
    model = train_preset(
        CONFIGS["tiny"],
        preset,
        epochs=epochs,
        batch_size=32,
        max_frames=16,
        learning_rate=3e-3,
        seed=0,
        resume_dir=os.path.join(output, "backup"),
    )
    test = toy.toy_batch(8, 48, model.backbone.get_config(), seed=123)
    start = time.time()
    codes = model.generate(conditioning=test["conditioning"], seed=0)
    seconds = time.time() - start
    codes_path = os.path.join(output, "generated_codes.npy")
    np.save(codes_path, codes)
    saved_model = None
    if keras.backend.backend() in ("tensorflow", "jax"):
        saved_model = model.export_saved_model(os.path.join(output, "saved_model", "1"))
    return QuickstartResult(
        preset=preset,
        codes_path=codes_path,
        codes_shape=codes.shape,
        generate_seconds=seconds,
        accuracy=float((codes == test["codes"]).mean()),
        saved_model=saved_model,
    )
