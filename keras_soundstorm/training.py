"""Long training runs: warm-up + cosine learning rate, gradient accumulation, resumable callbacks.

Everything here is plain Keras (`keras.optimizers.AdamW`,
`keras.optimizers.schedules.CosineDecay`, `keras.callbacks.BackupAndRestore`
and `TensorBoard`), set up the way SoundStorm trains, for the CLI, the
example scripts and the notebooks:

```python
from keras_soundstorm import training

model.compile(
    optimizer=training.make_optimizer(
        5e-4, total_steps=100_000, warmup_steps=10_000, gradient_accumulation_steps=4
    )
)
model.fit(
    dataset,
    epochs=100,
    steps_per_epoch=1000,
    callbacks=training.make_callbacks(backup_dir="run/backup", log_dir="run/logs"),
)
```

Steps are training steps, the batches `fit` runs (`optimizer._iterations`),
which is what Keras' learning-rate schedules count. With
`gradient_accumulation_steps=k` the weights change once every `k` steps,
with the mean gradient of those `k` batches, so `total_steps` steps make
`total_steps // k` updates. All of this state (step count, accumulated
gradients, Adam moments) is in the optimizer's variables, which
`BackupAndRestore` saves with the weights: a resumed run continues the
schedule and the accumulation where the killed one stopped.
"""

import importlib.util
import json
import os

import keras

from keras_soundstorm.callbacks import AtomicBackupAndRestore, WallTime
from keras_soundstorm.models.soundstorm import SoundStorm, SoundStormBackbone


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}; got {value!r}.")


def _check_learning_rate(learning_rate):
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)):
        raise ValueError(f"`learning_rate` must be a positive float; got {learning_rate!r}.")
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be a positive float; got {learning_rate!r}.")


def learning_rate_schedule(learning_rate, total_steps, warmup_steps=0, alpha=0.0):
    """Linear warm-up from 0 to `learning_rate`, then cosine decay to `alpha * learning_rate`.

    Args:
        learning_rate: peak learning rate, reached after `warmup_steps`.
        total_steps: training steps of the whole run; the decay ends there
            (and the rate stays at its final value after it).
        warmup_steps: steps of linear warm-up, `0 <= warmup_steps < total_steps`.
        alpha: final learning rate as a fraction of the peak, in `[0, 1]`.

    Returns:
        `keras.optimizers.schedules.CosineDecay`, evaluated at the step count.
    """
    _check_learning_rate(learning_rate)
    _check_int("total_steps", total_steps, 1)
    _check_int("warmup_steps", warmup_steps, 0)
    if warmup_steps >= total_steps:
        raise ValueError(
            f"`warmup_steps` ({warmup_steps}) must be smaller than `total_steps` "
            f"({total_steps}): the cosine decay runs over the steps after the warm-up."
        )
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise ValueError(f"`alpha` must be a float in [0, 1]; got {alpha!r}.")
    learning_rate, alpha = float(learning_rate), float(alpha)
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(learning_rate, total_steps, alpha=alpha)
    return keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=total_steps - warmup_steps,
        alpha=alpha,
        warmup_target=learning_rate,
        warmup_steps=warmup_steps,
    )


def make_optimizer(
    learning_rate=3e-4,
    total_steps=None,
    warmup_steps=0,
    gradient_accumulation_steps=None,
    weight_decay=0.01,
    global_clipnorm=1.0,
    alpha=0.0,
):
    """AdamW for SoundStorm, with warm-up + cosine decay and gradient accumulation.

    Args:
        learning_rate: peak learning rate.
        total_steps: training steps (batches) of the whole run, for the cosine
            decay; None keeps `learning_rate` constant (then `warmup_steps`
            must be 0).
        warmup_steps: steps of linear warm-up from 0.
        gradient_accumulation_steps: update the weights every this many
            steps with the mean gradient of their batches (effective batch =
            batch size x this); None or 1 updates every step.
        weight_decay: AdamW's decoupled weight decay.
        global_clipnorm: gradients are scaled so that their global norm is at
            most this (after averaging the accumulated ones); None: no clipping.
        alpha: final learning rate as a fraction of the peak.

    Returns:
        `keras.optimizers.AdamW`.
    """
    _check_learning_rate(learning_rate)
    if gradient_accumulation_steps is not None:
        _check_int("gradient_accumulation_steps", gradient_accumulation_steps, 1)
        if gradient_accumulation_steps == 1:
            gradient_accumulation_steps = None
    if total_steps is None:
        if warmup_steps:
            raise ValueError(
                f"`warmup_steps` ({warmup_steps}) needs `total_steps`, the length of the "
                "run the learning rate decays over."
            )
        schedule = float(learning_rate)
    else:
        schedule = learning_rate_schedule(learning_rate, total_steps, warmup_steps, alpha)
        if gradient_accumulation_steps and total_steps < gradient_accumulation_steps:
            raise ValueError(
                f"`total_steps` ({total_steps}) is smaller than `gradient_accumulation_steps` "
                f"({gradient_accumulation_steps}): the weights would never be updated."
            )
    return keras.optimizers.AdamW(
        schedule,
        weight_decay=weight_decay,
        global_clipnorm=global_clipnorm,
        gradient_accumulation_steps=gradient_accumulation_steps,
    )


def make_callbacks(backup_dir=None, log_dir=None, delete_backup=True):
    """Callbacks of a resumable, monitored run.

    Args:
        backup_dir: backup directory (`callbacks.AtomicBackupAndRestore`, a
            `keras.callbacks.BackupAndRestore` that a kill cannot corrupt): the
            model and optimizer state are saved at every epoch end, and a `fit`
            started again with the same directory resumes after the last saved
            epoch.
        log_dir: `keras.callbacks.TensorBoard` directory (loss, accuracy and
            learning rate per epoch); needs the `tensorboard` package.
        delete_backup: delete the backup when `fit` completes.

    Returns:
        A list of callbacks (empty if both directories are None).
    """
    callbacks = []
    if backup_dir is not None:
        callbacks.append(AtomicBackupAndRestore(str(backup_dir), delete_checkpoint=delete_backup))
    if log_dir is not None:
        if importlib.util.find_spec("tensorboard") is None:
            raise ValueError(
                f"TensorBoard logs (log dir {str(log_dir)!r}) need the `tensorboard` package: "
                "pip install tensorboard."
            )
        callbacks.append(keras.callbacks.TensorBoard(str(log_dir)))
    return callbacks


def recipe_callbacks(work_dir):
    """The callbacks of a recipe run in `work_dir` that a rerun resumes.

    Returns `(callbacks, wall_time)`: `callbacks.AtomicBackupAndRestore` in
    `work_dir/backup` (kept after `fit`, so that a rerun with more epochs
    continues), a `CSVLogger` appending to `work_dir/history.csv`, and the
    `WallTime` that adds up wall time in `work_dir/wall_time.json` (its
    `epochs_done` tells a rerun where its data stream should resume).
    """
    os.makedirs(work_dir, exist_ok=True)
    wall_time = WallTime(os.path.join(work_dir, "wall_time.json"))
    callbacks = [
        *make_callbacks(os.path.join(work_dir, "backup"), delete_backup=False),
        keras.callbacks.CSVLogger(os.path.join(work_dir, "history.csv"), append=True),
        wall_time,
    ]
    return callbacks, wall_time


# --- Provenance of trained presets ---------------------------------------------


def preset_training_record(preset):
    """The `training` record of a preset's `metadata.json` (`{}` if it has none).

    The record's own `initialised_from` is dropped: a chain of continued runs
    keeps only the totals of the run before.
    """
    path = os.path.join(preset, "metadata.json")
    if not os.path.exists(path):
        return {}
    with open(path) as file:
        record = json.load(file).get("training", {})
    record.pop("initialised_from", None)
    return record


def training_record(script, args, steps, wall_seconds, init_from=None, earlier=None, **fields):
    """The `training` metadata a recipe stores in its preset.

    Args:
        script: the recipe's path, for the command line.
        args: its `argparse.Namespace` (written back as the command).
        steps, wall_seconds: this run's training steps and wall time.
        init_from, earlier: the preset this run continued and its
            `preset_training_record`; their steps and minutes are added in.
        **fields: what the run trained on, its batch, ... (stored first).

    Returns: a dict for `save_to_preset(metadata={"training": ...})`.
    """
    earlier = earlier or {}
    minutes = wall_seconds / 60
    record = {
        **fields,
        "training_steps": steps + earlier.get("training_steps", 0),
        "training_wall_time_minutes": round(
            minutes + earlier.get("training_wall_time_minutes", 0), 1
        ),
        "training_machine": f"{os.cpu_count()} CPU cores, backend {keras.backend.backend()}",
        "training_command": f"python {script} "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
    }
    if init_from is not None:
        record["initialised_from"] = {"preset": init_from, "training": earlier}
        record["note"] = (
            f"Steps and wall time include the {earlier.get('training_steps', '?')} steps "
            f"({earlier.get('training_wall_time_minutes', '?')} min) of the preset it "
            f"continued; this run: {steps} steps, {minutes:.1f} min."
        )
    return record


# --- Continuing a trained model with classifier-free guidance ------------------


def with_conditioning_dropout(model, rate):
    """A copy of a trained conditional `SoundStorm` that trains with `conditioning_dropout=rate`.

    Continues a model trained without dropout so that it learns a null
    conditioning (classifier-free guidance, `generate(guidance_scale=w)`):
    every weight is copied; the null conditioning embedding is new (drawn from
    the conditioning embedding's initializer) unless the model already had one.
    The copy keeps the model's seed, decoding defaults and heads.
    """
    if not isinstance(model, SoundStorm):
        raise ValueError(f"`model` must be a keras_soundstorm.SoundStorm; got {type(model)}.")
    if not model.backbone.is_conditional:
        raise ValueError("`conditioning_dropout` needs a conditional model; this one has none.")
    if model.backbone.supports_guidance and not rate:
        raise ValueError(
            "`rate` must be > 0: this model has a null conditioning, and a copy without "
            "dropout would drop it."
        )
    config = {**model.backbone.get_config(), "conditioning_dropout": rate}
    backbone = SoundStormBackbone.from_config(config)  # checks `rate`
    copy = SoundStorm(
        backbone,
        seed=model.seed,
        decoding=dict(model.decoding),
        head_projection=model.head_projection,
    )
    trained = {variable.path: variable for variable in model.weights}
    for variable in copy.weights:
        if variable.path in trained:
            variable.assign(trained.pop(variable.path))
        elif variable.path != "conditioning_embedding/null_embedding":
            raise ValueError(f"The copy has a weight the model lacks: {variable.path}.")
    if trained:
        raise ValueError(f"Weights of the model the copy lacks: {sorted(trained)}.")
    return copy
