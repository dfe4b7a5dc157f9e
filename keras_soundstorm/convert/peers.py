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


def vallex_reference(num_text_tokens=512):
    """The `vallex.models.vallex` module of `vall-e-x` (PyPI), for USLM parity.

    Its package `__init__`s import the whole training stack (lhotse, encodec,
    gradio, ...); the modules the AR model needs use torch only. The packages
    `vallex`, `vallex.data` and `vallex.models` are entered without running
    their `__init__`, `vallex.data.input_strategies` gets a stand-in, and the
    text vocabulary constant is set to USLM's (512) before the model module
    reads it. Build USLM's model as `VALLF(..., decoder_cls=TransformerEncoder,
    decoder_layer_cls=TransformerEncoderLayer, prepend_bos=False)`.
    """
    import importlib
    import importlib.util

    if "vallex.models.vallex" not in sys.modules:
        spec = importlib.util.find_spec("vallex")
        if spec is None:
            raise ImportError("vall-e-x is not installed: pip install --no-deps vall-e-x==0.0.2a1")
        root = spec.submodule_search_locations[0]
        for name in ("vallex", "vallex.data", "vallex.models"):
            package = types.ModuleType(name)
            package.__path__ = [root + name[len("vallex") :].replace(".", "/")]
            sys.modules.setdefault(name, package)
        strategies = types.ModuleType("vallex.data.input_strategies")
        strategies.PromptedFeatures = type("PromptedFeatures", (), {})
        sys.modules.setdefault("vallex.data.input_strategies", strategies)
        macros = importlib.import_module("vallex.models.macros")
        macros.NUM_TEXT_TOKENS = num_text_tokens
    module = importlib.import_module("vallex.models.vallex")
    if module.NUM_TEXT_TOKENS != num_text_tokens:
        raise ValueError(
            f"vallex was imported with NUM_TEXT_TOKENS={module.NUM_TEXT_TOKENS}, not "
            f"{num_text_tokens}."
        )
    return module
