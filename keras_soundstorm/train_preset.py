"""Train a SoundStorm from a backbone config and save it as a preset, resumably.

What `keras-soundstorm train` and `quickstart` run: toy data or token
records, AdamW with warm-up + cosine decay, backup-and-restore callbacks.
"""

import glob
import shutil

import keras

from keras_soundstorm import training
from keras_soundstorm.data import toy
from keras_soundstorm.models.soundstorm import SoundStorm, SoundStormBackbone
from keras_soundstorm.utils.files import check_writable
from keras_soundstorm.utils.validation import require_int


def train_preset(
    config: dict,
    output: str,
    data: str | None = None,
    epochs: int = 10,
    steps_per_epoch: int | None = None,
    batch_size: int = 16,
    max_frames: int = 128,
    learning_rate: float = 3e-4,
    warmup_steps: int = 0,
    gradient_accumulation_steps: int = 1,
    resume_dir: str | None = None,
    seed: int = 0,
    log_dir: str | None = None,
    dtype: str | None = None,
):
    """Trains a `SoundStorm` and saves it to the preset directory `output`.

    Args:
        config: `SoundStormBackbone` arguments (e.g. `kss.CONFIGS["tiny"]`).
        output: preset directory to write.
        data: a TFRecord pattern from `write_token_records`; None trains on
            the toy task (`codes = f(conditioning)`, 16 batches an epoch).
        epochs, steps_per_epoch, batch_size, max_frames: ints >= 1
            (`steps_per_epoch` None: 100 with `data`, all toy batches without).
        learning_rate, warmup_steps, gradient_accumulation_steps: see
            `training.make_optimizer`; the cosine decay ends at 0.1 x the peak
            at the last step.
        seed: seed of the weights, data order and masks.
        resume_dir: checkpoints of an interrupted run (default
            `output + ".backup"`); rerun with the same arguments to resume.
            Deleted once the preset is saved.
        log_dir: TensorBoard log directory (needs tensorboard), or None.
        dtype: dtype policy of the backbone (None: Keras' global policy).

    Returns:
        the trained `SoundStorm`. Bad arguments raise ValueError before any work.
    """
    for name, value in [("epochs", epochs), ("batch_size", batch_size), ("max_frames", max_frames)]:
        require_int(name, value, minimum=1)
    if steps_per_epoch is not None:
        require_int("steps_per_epoch", steps_per_epoch, minimum=1)
    check_writable("`output`", output, "directory")
    resume_dir = resume_dir or str(output).rstrip("/") + ".backup"
    check_writable("`resume_dir`", resume_dir, "directory")
    if log_dir:
        check_writable("`log_dir`", log_dir, "directory")
    if data and not glob.glob(data):
        raise ValueError(f"`data` {data!r} matches no file.")
    keras.utils.set_random_seed(seed)
    if data:
        from keras_soundstorm.data.token_pipeline import token_dataset

        dataset = token_dataset(data, batch_size, max_frames, seed=seed, repeat=True)
        steps = steps_per_epoch or 100
    else:
        dataset = toy.toy_batch(batch_size * 16, max_frames, config, seed=seed)
        steps = steps_per_epoch
    # Steps are batches; the cosine decay ends at the last one. A resumed run
    # continues the schedule from the step count stored in the checkpoint.
    optimizer = training.make_optimizer(
        learning_rate,
        total_steps=epochs * (steps or 16),  # toy data: 16 batches an epoch
        warmup_steps=warmup_steps,
        gradient_accumulation_steps=gradient_accumulation_steps,
        alpha=0.1,
    )
    model = SoundStorm(SoundStormBackbone(**config, dtype=dtype), seed=seed)
    model.compile(optimizer=optimizer)
    # The backup goes only once the preset is saved: a run killed in between
    # resumes with all its epochs done and saves the preset.
    model.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=steps,
        batch_size=None if data else batch_size,
        callbacks=training.make_callbacks(
            backup_dir=resume_dir, log_dir=log_dir, delete_backup=False
        ),
    )
    model.save_to_preset(output)
    shutil.rmtree(resume_dir, ignore_errors=True)
    return model
