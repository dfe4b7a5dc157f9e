"""Importing the PyTorch reference implementations, for parity tests and benchmarks.

`soundstorm_pytorch`'s `__init__` imports training-only packages (audiolm-pytorch,
spear-tts-pytorch, accelerate) that its model does not use, and beartype, whose
recent releases reject one of its type hints: `stub_soundstorm_pytorch_imports`
puts empty stand-ins for them in `sys.modules` (never replacing a real module,
except beartype, which only checks types).
"""

import sys
import types
import typing

_TRAINING_ONLY = {
    "spear_tts_pytorch": ["TextToSemantic"],
    "audiolm_pytorch": ["SoundStream", "HubertWithKmeans", "FairseqVQWav2Vec"],
    "audiolm_pytorch.data": ["get_dataloader"],
    "audiolm_pytorch.optimizer": ["get_optimizer"],
    "accelerate": ["Accelerator", "DistributedType"],
}


def stub_soundstorm_pytorch_imports():
    """Makes `import soundstorm_pytorch` work with only torch and einops installed."""
    for name, attributes in _TRAINING_ONLY.items():
        module = types.ModuleType(name)
        for attribute in attributes:
            setattr(module, attribute, type(attribute, (), {}))
        sys.modules.setdefault(name, module)
    beartype = types.ModuleType("beartype")
    beartype.beartype = lambda function: function
    door = types.ModuleType("beartype.door")
    door.is_bearable = lambda *args: True
    beartype.door, beartype.typing = door, typing
    sys.modules.update({"beartype": beartype, "beartype.door": door, "beartype.typing": typing})
