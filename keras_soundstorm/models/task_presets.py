"""Preset I/O of a KerasHub task: atomic saves, weight checksums, shipped names.

A mixin placed before `keras_hub.models.Task` (`class MyTask(TaskPresets,
keras_hub.models.Task)`): the task's `save_to_preset` writes atomically and
records the sha256 of each weight file, `from_preset` takes a shipped
preset's name and verifies the files, and presets keep the weights needed for
inference and fine-tuning only (no optimizer state).
"""

import json
import os

import keras

from keras_soundstorm.utils import files, preset_files, preset_registry

# Keyword arguments a task passes on to `keras_hub.models.Task` (Keras' functional
# model ignores any other one silently, so a misspelt argument would be lost).
TASK_KEYWORDS = frozenset({"inputs", "outputs", "name", "trainable", "dtype", "compile"})


class TaskPresets:
    """Preset methods shared by the package's KerasHub tasks."""

    def __init__(self, *args, **kwargs):
        unknown = sorted(set(kwargs) - TASK_KEYWORDS)
        if unknown:
            raise ValueError(
                f"{type(self).__name__} got unknown keyword arguments {unknown}; accepted besides "
                f"its own: {sorted(TASK_KEYWORDS - {'inputs', 'outputs'})}."
            )
        super().__init__(*args, **kwargs)

    def save_to_preset(self, preset_dir, max_shard_size=10, metadata=None):
        """Saves the task (config, weights) to `preset_dir`, atomically.

        `metadata`: an optional JSON-serializable dict merged into the
        preset's `metadata.json` (e.g. what the model was trained on).
        `metadata.json` also records the sha256 of each weight file
        (`weights_sha256`), which `from_preset` verifies.

        `preset_dir` must be new, empty or a preset of this class (it is
        replaced); anything else is a ValueError and is left untouched.
        """
        kind = preset_files.preset_kind(type(self), task=True)
        with files.atomic_directory(preset_dir, kind=kind) as staging_dir:
            super().save_to_preset(staging_dir, max_shard_size=max_shard_size)
            if metadata:
                path = os.path.join(staging_dir, "metadata.json")
                with open(path) as f:
                    merged = {**json.load(f), **metadata}
                with open(path, "w") as f:
                    json.dump(merged, f, indent=2)
            preset_files.record_checksums(staging_dir)

    def _preset_skips(self):
        """Objects left out of task weights: the backbone, and optimizer state
        (a preset is for inference and fine-tuning; resuming uses checkpoints)."""
        skips = list(self.backbone._flatten_layers())
        return skips + [self.optimizer] if self.optimizer is not None else skips

    def save_task_weights(self, filepath):
        keras.saving.save_weights(self, filepath, objects_to_skip=self._preset_skips())

    def load_task_weights(self, filepath):
        keras.saving.load_weights(self, filepath, objects_to_skip=self._preset_skips())

    @preset_registry.classproperty
    def presets(cls):
        """The shipped presets: `{name: {description, parameter_count, trained_on, metadata}}`.

        `metadata` holds the preset's training record and evaluation.
        """
        return preset_registry.list_presets(cls.__name__)

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """Loads the task from a shipped preset's name, a directory or a handle.

        `preset`: a name of `cls.presets` (e.g. "soundstorm_espeak_small"),
        a directory written by `save_to_preset`, or a `kaggle://` / `hf://` handle.

        Raises ValueError naming the file for a preset whose weight files are
        missing, fail their recorded sha256, or do not match its config.
        """
        preset = preset_registry.resolve_preset(preset, cls.__name__)
        preset = preset_files.download_preset(preset)
        preset = preset_files.check_preset(preset, cls, task=True, load_weights=load_weights)
        if "dtype" not in kwargs and os.path.isdir(str(preset)):
            # keras-hub 0.32 cannot read a mixed policy (e.g. "mixed_bfloat16")
            # back from config.json by itself; passing it explicitly works.
            with open(os.path.join(preset, "config.json")) as f:
                policy = json.load(f).get("config", {}).get("dtype")
            if isinstance(policy, dict):
                policy = policy.get("config", {}).get("name")
            if isinstance(policy, str) and policy.startswith("mixed_"):
                kwargs["dtype"] = policy
        model = super().from_preset(preset, load_weights=False, **kwargs)
        if load_weights:
            backbone_ids = {id(v) for v in model.backbone.weights}
            preset_files.load_checked_weights(
                preset,
                "task.weights.h5",
                [v for v in model.weights if id(v) not in backbone_ids],
                model.load_task_weights,
            )
            preset_files.load_backbone_weights(preset, model.backbone)
        return model
