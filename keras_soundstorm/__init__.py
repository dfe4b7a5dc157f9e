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
    distribution,
    evaluation,
    layers,
    models,
    pipelines,
    text,
)

# `kss.decoding`, `kss.export`, `kss.masking` and `kss.prompting` keep working after
# their move into models/soundstorm/.
from keras_soundstorm.models.soundstorm import (
    CONFIGS,
    SoundStorm,
    SoundStormBackbone,
    TrainingMasker,
    decoding,
    export,
    masking,
    prompting,
)
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
    "models",
    "pipelines",
    "prompting",
    "text",
]
