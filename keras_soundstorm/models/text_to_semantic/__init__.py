"""The text-to-semantic stage: USLM's autoregressive model (VALL-E AR) in Keras."""

from keras_soundstorm.models.text_to_semantic.backbone import (
    TextToSemanticBackbone,
    parameter_count,
)
from keras_soundstorm.models.text_to_semantic.configs import TEXT_TO_SEMANTIC_CONFIGS
from keras_soundstorm.models.text_to_semantic.positions import ScaledSinusoidalPosition
from keras_soundstorm.models.text_to_semantic.prefix_decoder import PrefixDecoder
from keras_soundstorm.models.text_to_semantic.task import TextToSemantic

__all__ = [
    "PrefixDecoder",
    "ScaledSinusoidalPosition",
    "TEXT_TO_SEMANTIC_CONFIGS",
    "TextToSemantic",
    "TextToSemanticBackbone",
    "parameter_count",
]
