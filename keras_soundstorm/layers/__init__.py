from keras_soundstorm.layers.attention import SelfAttention
from keras_soundstorm.layers.conformer import ConformerBlock
from keras_soundstorm.layers.embeddings import CodeEmbedding, ConditioningEmbedding
from keras_soundstorm.layers.level_heads import LevelHeads
from keras_soundstorm.layers.norms import ScaleOnlyChannelNorm

__all__ = [
    "CodeEmbedding",
    "ConditioningEmbedding",
    "ConformerBlock",
    "LevelHeads",
    "ScaleOnlyChannelNorm",
    "SelfAttention",
]
