"""SoundStorm (Borsos et al., 2023): backbone, task, training masks, parallel decoding, export."""

from keras_soundstorm.models.soundstorm.configs import CONFIGS
from keras_soundstorm.models.soundstorm.decoding_settings import DECODING_DEFAULTS
from keras_soundstorm.models.soundstorm.embeddings import CodeEmbedding, ConditioningEmbedding
from keras_soundstorm.models.soundstorm.level_heads import LevelHeads
from keras_soundstorm.models.soundstorm.masking import TrainingMasker
from keras_soundstorm.models.soundstorm.soundstorm_backbone import SoundStormBackbone
from keras_soundstorm.models.soundstorm.soundstorm_task import SoundStorm

__all__ = [
    "CONFIGS",
    "DECODING_DEFAULTS",
    "CodeEmbedding",
    "ConditioningEmbedding",
    "LevelHeads",
    "SoundStorm",
    "SoundStormBackbone",
    "TrainingMasker",
]
