"""Registration of the package's Keras-serializable classes, deferred until keras-hub loads.

`import keras_soundstorm` imports neither Keras nor keras-hub (the CLI answers
`--help` in a second, and keras-hub imports its whole model zoo and TensorFlow).
But `keras_hub.models.Backbone.from_preset(dir)` and `keras.saving` find a class
only if the module that registers it (`@keras.saving.register_keras_serializable`)
has been imported. The rule, simplest that always holds:

- every module listed in `SERIALIZABLE_MODULES` is imported when keras-hub
  finishes importing (a one-shot `sys.meta_path` hook, installed by
  `import keras_soundstorm`), or at once if keras-hub is already imported;
- `register_serializables()` does the same on demand, e.g. before
  `keras.saving.load_model` of a file with our layers when neither keras-hub
  nor the layer's module has been imported.

The hook imports leaf modules only, so it works while a package `__init__` of
ours is still running. One constraint follows: a module of ours that imports
keras_hub at its top must live in `keras_soundstorm.models`, whose `__init__`
imports keras_hub first - so keras-hub never finishes loading while one of our
serializable modules is half-imported (tests/test_startup.py checks this).
"""

import importlib
import importlib.abc
import importlib.util
import sys

# Every module that calls `register_keras_serializable` (tests/test_startup.py
# checks the list is complete). Leaf modules, not packages.
SERIALIZABLE_MODULES = (
    "keras_soundstorm.layers.norms",
    "keras_soundstorm.layers.attention",
    "keras_soundstorm.layers.conformer",
    "keras_soundstorm.codecs.quantizer",
    "keras_soundstorm.codecs.encodec_layers",
    "keras_soundstorm.codecs.seanet",
    "keras_soundstorm.codecs.spectral",
    "keras_soundstorm.codecs.discriminator",
    "keras_soundstorm.codecs.soundstream",
    "keras_soundstorm.codecs.speechtokenizer",
    "keras_soundstorm.models.soundstorm.embeddings",
    "keras_soundstorm.models.soundstorm.level_heads",
    "keras_soundstorm.models.soundstorm.masking",
    "keras_soundstorm.models.soundstorm.soundstorm_backbone",
    "keras_soundstorm.models.soundstorm.soundstorm_task",
    "keras_soundstorm.layers.transformer",
    "keras_soundstorm.models.text_to_semantic.positions",
    "keras_soundstorm.models.text_to_semantic.prefix_decoder",
    "keras_soundstorm.models.text_to_semantic.backbone",
    "keras_soundstorm.models.text_to_semantic.task",
)


def register_serializables():
    """Imports every module of `SERIALIZABLE_MODULES` (imports Keras and keras-hub)."""
    for name in SERIALIZABLE_MODULES:
        importlib.import_module(name)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs `callback()` once, right after the top-level module `name` is executed."""

    def __init__(self, name, callback):
        self.name = name
        self.callback = callback

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name or self not in sys.meta_path:
            return None
        sys.meta_path.remove(self)  # one shot; and lets the real finders find the module
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        exec_module = loader.exec_module
        callback = self.callback

        def exec_then_callback(module):
            del loader.exec_module  # the loader is as it was for anyone else
            exec_module(module)
            callback()

        loader.exec_module = exec_then_callback
        return spec


def register_when_keras_hub_loads():
    """Registers now if keras-hub is imported, else right after it is (idempotent)."""
    if "keras_hub" in sys.modules:
        register_serializables()
        return
    if not any(isinstance(finder, _AfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport("keras_hub", register_serializables))
