"""Callbacks for long, resumable training runs."""

import json
import os
import time

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
