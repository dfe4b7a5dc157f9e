"""Layers shared by the package's models (SoundStorm-only layers live in models/soundstorm/)."""

from keras_soundstorm.layers.attention import SelfAttention
from keras_soundstorm.layers.conformer import ConformerBlock
from keras_soundstorm.layers.norms import ScaleOnlyChannelNorm

__all__ = [
    "ConformerBlock",
    "ScaleOnlyChannelNorm",
    "SelfAttention",
]
