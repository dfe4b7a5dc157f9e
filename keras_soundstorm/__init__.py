"""keras-soundstorm: SoundStorm (Borsos et al., 2023) for Keras 3.

Every class registered with `keras.saving.register_keras_serializable` is
imported here, so that `keras_hub.models.Backbone.from_preset` finds it once
`keras_soundstorm` is imported.
"""

from keras_soundstorm import (
    audio,
    codecs,
    convert,
    data,
    decoding,
    distribution,
    evaluation,
    export,
    layers,
    masking,
    pipelines,
    text,
)
from keras_soundstorm.models.configs import CONFIGS
from keras_soundstorm.models.soundstorm import SoundStorm, TrainingMasker
from keras_soundstorm.models.soundstorm_backbone import SoundStormBackbone
from keras_soundstorm.models.text_to_semantic import (
    TEXT_TO_SEMANTIC_CONFIGS,
    TextToSemantic,
    TextToSemanticBackbone,
)
from keras_soundstorm.version import __version__

__all__ = [
    "CONFIGS",
    "SoundStorm",
    "SoundStormBackbone",
    "TEXT_TO_SEMANTIC_CONFIGS",
    "TextToSemantic",
    "TextToSemanticBackbone",
    "TrainingMasker",
    "__version__",
    "audio",
    "codecs",
    "convert",
    "data",
    "decoding",
    "distribution",
    "evaluation",
    "export",
    "layers",
    "masking",
    "pipelines",
    "text",
]
