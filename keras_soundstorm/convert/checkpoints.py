"""Strict reading of PyTorch state dicts: every tensor is used exactly once.

A converter asks a `StateDictReader` for each tensor it needs, by name and
expected shape; the reader raises ValueError naming a missing or wrongly shaped
tensor, and `finish()` names the tensors nobody asked for. torch is imported
only to read a checkpoint file.
"""

import os

import numpy as np


def load_state_dict(checkpoint, nested_key=None):
    """A checkpoint path or a state dict -> `{name: numpy array}`.

    A path is read with `torch.load(weights_only=True, map_location="cpu")`;
    a mapping is used as it is (its values may be torch tensors or numpy
    arrays). Floating-point tensors become float32. With `nested_key` (e.g.
    "model" for icefall / VALL-E training checkpoints), a mapping holding a
    mapping under that key is reduced to it. Raises ValueError for a file
    torch cannot read, or for anything that is not a flat name -> tensor
    mapping.
    """
    source = "the state dict"
    if isinstance(checkpoint, (str, os.PathLike)):
        source = repr(os.fspath(checkpoint))
        checkpoint = _torch_load(os.fspath(checkpoint))
    if nested_key is not None and hasattr(checkpoint, "items"):
        inner = checkpoint.get(nested_key)
        if hasattr(inner, "items"):
            checkpoint = inner
    if not hasattr(checkpoint, "items"):
        raise ValueError(
            f"{source} holds a {type(checkpoint).__name__}, not a state dict (a mapping of "
            "parameter names to tensors)."
        )
    if not checkpoint:
        raise ValueError(f"{source} is an empty state dict.")
    tensors = {}
    for name, value in checkpoint.items():
        array = _to_numpy(value)
        if array is None and hasattr(value, "items"):
            raise ValueError(
                f"{source} holds a nested state dict under {name!r} (a training checkpoint, "
                "such as USLM's, whose model is under 'model': convert it with "
                "kss.convert.uslm), not a flat state dict."
            )
        if array is None:
            raise ValueError(
                f"{source} is not a flat state dict: entry {name!r} is a "
                f"{type(value).__name__}, not a tensor."
            )
        tensors[str(name)] = array
    return tensors


def _torch_load(path):
    if not os.path.isfile(path):
        raise ValueError(f"Checkpoint {path!r} does not exist or is not a file.")
    try:
        import torch
    except ImportError:
        raise ValueError(
            "Reading a PyTorch checkpoint needs torch: pip install torch (CPU is enough)."
        ) from None
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:  # torch raises several kinds for a bad file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"{path!r} is not a PyTorch checkpoint that torch.load(weights_only=True) can "
            f"read: {reason}"
        ) from None


def _to_numpy(value):
    if isinstance(value, np.ndarray):
        array = value
    elif type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        tensor = value.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.float()
        array = tensor.numpy()
    else:
        return None
    if array.dtype.kind == "f":
        array = array.astype("float32")
    return array


class StateDictReader:
    """Hands out the tensors of a state dict, each once, checking their shapes.

    Args:
        tensors: `{name: numpy array}` (see `load_state_dict`).
        description: what the checkpoint should be, for error messages (e.g.
            "a SpeechTokenizer checkpoint for this config").
    """

    def __init__(self, tensors, description="the checkpoint"):
        self.tensors = dict(tensors)
        self.description = description
        self.used = set()

    def __contains__(self, name):
        return name in self.tensors

    def take(self, name, shape):
        """The tensor `name`, which must have `shape`; each name can be taken once."""
        if name in self.used:
            raise ValueError(f"Tensor {name!r} was used twice by the converter (a bug).")
        if name not in self.tensors:
            raise ValueError(
                f"Missing tensor {name!r} (shape {tuple(shape)}): not {self.description}."
            )
        array = self.tensors[name]
        if tuple(array.shape) != tuple(shape):
            raise ValueError(
                f"Tensor {name!r} has shape {tuple(array.shape)}, expected {tuple(shape)}: "
                f"not {self.description}."
            )
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
            raise ValueError(
                f"Tensor {name!r} holds {bad} NaN or infinite value(s): the checkpoint is "
                "corrupted or was saved from a diverged model."
            )
        self.used.add(name)
        return array

    def take_weight_normed(self, prefix, shape):
        """The kernel `weight` of module `prefix`, of `shape`, with weight normalisation folded in.

        Accepts the three layouts PyTorch writes: `weight_g` + `weight_v`
        (`torch.nn.utils.weight_norm`), `parametrizations.weight.original0` +
        `original1` (its parametrization form), or a plain `weight`. The norm
        is over every axis but the first, as both weight-norm forms default to.
        """
        gain_shape = (shape[0],) + (1,) * (len(shape) - 1)
        for gain, direction in [
            ("weight_g", "weight_v"),
            ("parametrizations.weight.original0", "parametrizations.weight.original1"),
        ]:
            if f"{prefix}.{gain}" in self.tensors or f"{prefix}.{direction}" in self.tensors:
                g = self.take(f"{prefix}.{gain}", gain_shape)
                v = self.take(f"{prefix}.{direction}", shape)
                return fold_weight_norm(g, v, name=f"{prefix}.{direction}")
        if f"{prefix}.weight" in self.tensors:
            return self.take(f"{prefix}.weight", shape)
        raise ValueError(
            f"Missing tensor {prefix + '.weight_v'!r} (shape {tuple(shape)}) and its "
            f"{'weight_g'!r} (or {prefix + '.weight'!r}): not {self.description}."
        )

    def finish(self):
        """Raises ValueError naming the tensors that were never taken."""
        unused = [name for name in self.tensors if name not in self.used]
        if unused:
            shown = ", ".join(repr(name) for name in unused[:5])
            more = f" and {len(unused) - 5} more" if len(unused) > 5 else ""
            raise ValueError(
                f"Unknown tensor{'s' if len(unused) > 1 else ''} {shown}{more} "
                f"({len(unused)} of {len(self.tensors)} unused): not {self.description}."
            )


def fold_weight_norm(gain, direction, name="the weight-norm direction"):
    """`gain * direction / ||direction||`, the norm over every axis but the first.

    Raises ValueError naming tensor `name` if a direction has zero norm (its
    kernel would be NaN: PyTorch divides by that norm too).
    """
    direction = direction.astype("float64")
    axes = tuple(range(1, direction.ndim))
    norm = np.sqrt(np.sum(np.square(direction), axis=axes, keepdims=True))
    zero = np.flatnonzero(norm.reshape(-1) == 0)
    if zero.size:
        raise ValueError(
            f"Tensor {name!r} has {zero.size} output channel(s) of zero norm (first: "
            f"{int(zero[0])}): weight normalisation would divide by zero. The checkpoint is "
            "corrupted or untrained."
        )
    return (gain.astype("float64") * direction / norm).astype("float32")
