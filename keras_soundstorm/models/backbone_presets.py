"""Preset I/O of a KerasHub backbone: atomic saves, weight checksums, checked loads.

A mixin placed before `keras_hub.models.Backbone` (`class MyBackbone(BackbonePresets,
keras_hub.models.Backbone)`), the backbone's counterpart of `TaskPresets`:
`save_to_preset` writes atomically and records the sha256 of each weight file;
`from_preset` takes a shipped preset's name and verifies the files; and
`keras_hub.models.Backbone.from_preset`, which builds through `from_config` and
loads through `load_weights` (skipping `from_preset`), runs the same checks.
"""

from keras_soundstorm.utils import files, preset_files, preset_registry


class BackbonePresets:
    """Preset methods shared by the package's KerasHub backbones."""

    def save_to_preset(self, preset_dir, max_shard_size=10):
        """Saves config and weights to `preset_dir`, atomically.

        `metadata.json` records the sha256 of each weight file. `preset_dir`
        must be new, empty or a backbone preset; anything else is a ValueError.
        """
        kind = preset_files.preset_kind(type(self), task=False)
        with files.atomic_directory(preset_dir, kind=kind) as staging_dir:
            super().save_to_preset(staging_dir, max_shard_size=max_shard_size)
            preset_files.record_checksums(staging_dir)

    @preset_registry.classproperty
    def presets(cls):
        """Shipped presets whose backbone this class loads."""
        return preset_registry.list_presets(cls.__name__)

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """Loads a backbone from a shipped preset's name, a directory or a KerasHub handle."""
        preset = preset_registry.resolve_preset(preset, cls.__name__)
        preset = preset_files.download_preset(preset)
        preset = preset_files.check_preset(preset, cls, task=False, load_weights=load_weights)
        backbone = super().from_preset(preset, load_weights=False, **kwargs)
        if load_weights:
            preset_files.load_backbone_weights(preset, backbone)
        return backbone

    @classmethod
    def from_config(cls, config):
        return super().from_config(preset_files.checked_config(config, cls))

    def load_weights(self, filepath, *args, **kwargs):
        load = lambda path: super(BackbonePresets, self).load_weights(path, *args, **kwargs)  # noqa: E731
        return preset_files.load_preset_weights(self, filepath, load)
