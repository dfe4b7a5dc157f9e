"""Converters from public PyTorch checkpoints to keras-soundstorm models.

`speechtokenizer(config, checkpoint)` converts the SpeechTokenizer codec,
`soundstorm_speechtokenizer(checkpoint, num_heads=8)` the SoundStorm that
generates its acoustic levels from its semantic level, `uslm(checkpoint, symbols)`
USLM's text-to-semantic stage. Each
converter is strict: every tensor of the checkpoint is used exactly once, and a
missing, unknown or wrongly shaped tensor raises ValueError naming it. torch is
needed only to read checkpoint files (`torch.load(weights_only=True)`).
"""

from keras_soundstorm.convert.checkpoints import (
    StateDictReader,
    fold_weight_norm,
    load_state_dict,
)
from keras_soundstorm.convert.soundstorm import (
    soundstorm_speechtokenizer,
    soundstorm_speechtokenizer_config,
)
from keras_soundstorm.convert.speechtokenizer import speechtokenizer, speechtokenizer_config
from keras_soundstorm.convert.uslm import read_k2symbols, uslm, uslm_config

__all__ = [
    "StateDictReader",
    "fold_weight_norm",
    "load_state_dict",
    "read_k2symbols",
    "soundstorm_speechtokenizer",
    "soundstorm_speechtokenizer_config",
    "speechtokenizer",
    "speechtokenizer_config",
    "uslm",
    "uslm_config",
]
