"""Callbacks for long, resumable training runs."""

import json
import os
import time
import uuid
import warnings

import keras

from keras_soundstorm.utils.files import atomic_write_text


class WallTime(keras.callbacks.Callback):
    """Adds up training wall time over resumed runs, in a JSON file.

    After every epoch `path` holds `{"seconds": total, "epochs_done": n}`
    (written atomically); a new run starts from the total stored there.
    """

    def __init__(self, path):
        super().__init__()
        self.path = os.fspath(path)
        self.previous, self.epochs_done = 0.0, 0
        if os.path.exists(self.path):
            with open(self.path) as f:
                stored = json.load(f)
            self.previous, self.epochs_done = float(stored["seconds"]), int(stored["epochs_done"])
        self.start = time.time()

    @property
    def seconds(self):
        """Training seconds so far, this run included."""
        return self.previous + time.time() - self.start

    def on_epoch_end(self, epoch, logs=None):
        atomic_write_text(
            self.path, json.dumps({"seconds": self.seconds, "epochs_done": epoch + 1})
        )


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose backup a kill cannot corrupt.

    Keras writes `latest.weights.h5` in place: a run killed during that write
    leaves a truncated file that every rerun fails to load. Here each backup
    is written under a temporary name, renamed to a new
    `checkpoint-<epoch>-<id>.weights.h5` once complete, and only then named
    in `training_metadata.json` (replaced atomically), which is what a rerun
    reads; the previous checkpoint is deleted after that. Killed at any
    moment, the directory holds a complete backup of the last completed
    epoch (or none, before the first). A rerun that finds no usable backup
    (e.g. one left by Keras' own callback, truncated) warns and starts over
    instead of failing.
    """

    _WEIGHTS_PREFIX = "checkpoint-"
    _PARTIAL_PREFIX = ".partial-"
    _LEGACY_WEIGHTS = "latest.weights.h5"

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__(os.fspath(backup_dir), save_freq, delete_checkpoint=delete_checkpoint)

    def on_train_begin(self, logs=None):
        if not self.model.built:
            return super().on_train_begin(logs)  # Keras' error for unbuilt models
        record = self._read_record()
        if record is None:
            return
        epoch, weights = record
        path = os.path.join(self.backup_dir, weights)
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        variables = {id(v): v for v in self.model.variables}
        if optimizer is not None:
            variables.update((id(v), v) for v in optimizer.variables)
        variables = list(variables.values())
        before = [keras.ops.convert_to_numpy(v.value) for v in variables]
        try:
            self.model.load_weights(path)
        except Exception as error:  # truncated, corrupt or not this model's
            for variable, value in zip(variables, before):
                variable.assign(value)
            self._start_over(f"its weights {path} cannot be loaded ({error})")
            return
        self.model._initial_epoch = epoch
        print(f"Resuming from the backup in {self.backup_dir}: {epoch} epoch(s) done.")

    def _start_over(self, reason):
        warnings.warn(
            f"The backup in {self.backup_dir} is not usable: {reason}. Training starts "
            "over from epoch 0 (the next completed epoch replaces it).",
            stacklevel=2,
        )

    def _read_record(self):
        """`(epoch, weights file name)` of the last complete backup, or None."""
        if not os.path.exists(self._training_metadata_path):
            leftovers = os.path.isdir(self.backup_dir) and any(
                name.endswith(".weights.h5") for name in os.listdir(self.backup_dir)
            )
            if leftovers:
                self._start_over("no training_metadata.json (a kill before the first backup)")
            return None
        try:
            with open(self._training_metadata_path) as f:
                record = json.load(f)
            epoch = record["epoch"]
            weights = record.get("weights", self._LEGACY_WEIGHTS)
            valid = (
                isinstance(epoch, int)
                and epoch >= 0
                and isinstance(weights, str)
                and weights == os.path.basename(weights)
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            self._start_over(f"{self._training_metadata_path} cannot be read ({error})")
            return None
        if not valid:
            self._start_over(f"{self._training_metadata_path} holds {record!r}")
            return None
        if not os.path.exists(os.path.join(self.backup_dir, weights)):
            self._start_over(f"the weights it names, {weights}, are missing")
            return None
        return epoch, weights

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"{self._WEIGHTS_PREFIX}{self._current_epoch:05d}-{uuid.uuid4().hex[:8]}.weights.h5"
        partial = os.path.join(self.backup_dir, f"{self._PARTIAL_PREFIX}{os.getpid()}.weights.h5")
        try:
            self.model.save_weights(partial, overwrite=True)
            with open(partial, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(partial, os.path.join(self.backup_dir, name))
        except BaseException:
            if os.path.exists(partial):
                os.remove(partial)
            raise
        record = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": name}
        atomic_write_text(self._training_metadata_path, json.dumps(record))
        for old in os.listdir(self.backup_dir):
            ours = old.startswith((self._WEIGHTS_PREFIX, self._PARTIAL_PREFIX))
            if old != name and (ours or old == self._LEGACY_WEIGHTS) and old.endswith(".h5"):
                os.remove(os.path.join(self.backup_dir, old))
