"""keras-soundstorm: SoundStorm (Borsos et al., 2023) for Keras 3.

Importing the package is cheap: it imports neither Keras nor keras-hub (which
imports its model zoo and TensorFlow). Every public name below is imported on
first use (PEP 562 `__getattr__`), e.g. `kss.SoundStorm` imports
`keras_soundstorm.models.soundstorm`. To export a new name, add it to
`_EXPORTS` (a class or function: the module that defines it) or `_SUBMODULES`
(a module). The Keras-serializable classes register themselves when keras-hub
is imported (see `keras_soundstorm/serializables.py`), so
`keras_hub.models.Backbone.from_preset` finds them after `import keras_soundstorm`.
"""

import importlib

from keras_soundstorm.serializables import register_serializables, register_when_keras_hub_loads
from keras_soundstorm.version import __version__

# name -> the module that defines it.
_EXPORTS = {
    "CONFIGS": "keras_soundstorm.models.soundstorm",
    "SoundStorm": "keras_soundstorm.models.soundstorm",
    "SoundStormBackbone": "keras_soundstorm.models.soundstorm",
    "TrainingMasker": "keras_soundstorm.models.soundstorm",
    "TEXT_TO_SEMANTIC_CONFIGS": "keras_soundstorm.models.text_to_semantic",
    "TextToSemantic": "keras_soundstorm.models.text_to_semantic",
    "TextToSemanticBackbone": "keras_soundstorm.models.text_to_semantic",
}

# name -> module. `kss.decoding`, `kss.export`, `kss.masking` and `kss.prompting`
# keep working after their move into models/soundstorm/.
_SUBMODULES = {
    "audio": "keras_soundstorm.audio",
    "codecs": "keras_soundstorm.codecs",
    "convert": "keras_soundstorm.convert",
    "data": "keras_soundstorm.data",
    "decoding": "keras_soundstorm.models.soundstorm.decoding",
    "distribution": "keras_soundstorm.distribution",
    "evaluation": "keras_soundstorm.evaluation",
    "export": "keras_soundstorm.models.soundstorm.export",
    "layers": "keras_soundstorm.layers",
    "masking": "keras_soundstorm.models.soundstorm.masking",
    "models": "keras_soundstorm.models",
    "pipelines": "keras_soundstorm.pipelines",
    "prompting": "keras_soundstorm.models.soundstorm.prompting",
    "text": "keras_soundstorm.text",
}

# Every name of _EXPORTS and _SUBMODULES, and the two imported above (tests/test_startup.py).
__all__ = [
    "__version__",
    "audio",
    "codecs",
    "CONFIGS",
    "convert",
    "data",
    "decoding",
    "distribution",
    "evaluation",
    "export",
    "layers",
    "masking",
    "models",
    "pipelines",
    "prompting",
    "register_serializables",
    "SoundStorm",
    "SoundStormBackbone",
    "text",
    "TEXT_TO_SEMANTIC_CONFIGS",
    "TextToSemantic",
    "TextToSemanticBackbone",
    "TrainingMasker",
]

register_when_keras_hub_loads()


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(_SUBMODULES[name])
    else:
        raise AttributeError(f"module 'keras_soundstorm' has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
