"""USLM's text-to-semantic (AR) checkpoint -> `kss.TextToSemantic`.

The public file (Hugging Face `fnlp/USLM`, `USLM_libritts/USLM.pt`) holds
`{"model": state_dict}` of lifeiteng's VALL-E as USLM builds it: the `ar_*`
tensors are the autoregressive text -> SpeechTokenizer RVQ-1 model converted
here; the `nar_*` tensors are USLM's own acoustic stage (SoundStorm replaces
it) and are counted, not converted. Its phoneme table
(`unique_text_tokens.k2symbols`) gives the text ids, stored in the model.
"""

import logging
import re

import numpy as np

from keras_soundstorm.convert.checkpoints import StateDictReader, load_state_dict
from keras_soundstorm.models.text_to_semantic import configs

DESCRIPTION = "a USLM (VALL-E AR) checkpoint"
TEXT_TABLE = "ar_text_embedding.word_embeddings.weight"
SEMANTIC_TABLE = "ar_audio_embedding.word_embeddings.weight"
OUTPUT = "ar_predict_layer.weight"
LOGGER = logging.getLogger(__name__)
SOUNDSTORM_HINT = (
    " (it looks like a SoundStorm checkpoint: use kss.convert.soundstorm_speechtokenizer)"
)


def uslm_config(checkpoint, num_heads=16):
    """`TextToSemanticBackbone` arguments inferred from a USLM checkpoint's shapes.

    `checkpoint`: a path, a state dict, or `{name: shape tuple}` (e.g. the
    shapes of a model built on torch's meta device). The head count is not in
    the shapes (16 in USLM). Raises ValueError when the tensors are not a
    USLM / VALL-E AR model this package can build (e.g. with a prenet or an
    audio BOS).
    """
    if isinstance(checkpoint, dict) and all(isinstance(v, tuple) for v in checkpoint.values()):
        shapes = checkpoint
    else:
        shapes = {name: tuple(t.shape) for name, t in _ar_tensors(checkpoint)[0].items()}

    def shape(name, rank):
        if name not in shapes:
            hint = SOUNDSTORM_HINT if _looks_like_soundstorm(shapes) else ""
            raise ValueError(f"Missing tensor {name!r}: not {DESCRIPTION}{hint}.")
        if len(shapes[name]) != rank:
            raise ValueError(
                f"Tensor {name!r} has shape {shapes[name]}, expected rank {rank}: "
                f"not {DESCRIPTION}."
            )
        return shapes[name]

    text_vocabulary_size, hidden_dim = shape(TEXT_TABLE, 2)
    semantic_rows = shape(SEMANTIC_TABLE, 2)[0]
    output_rows = shape(OUTPUT, 2)[0]
    if semantic_rows != output_rows:
        raise ValueError(
            f"Tensor {SEMANTIC_TABLE!r} has {semantic_rows} rows but {OUTPUT!r} has "
            f"{output_rows}: a VALL-E with an audio BOS (prepend_bos) is not supported; "
            f"not {DESCRIPTION}."
        )
    prenets = sorted(n for n in shapes if n.startswith(("ar_text_prenet.", "ar_audio_prenet.")))
    if prenets:
        raise ValueError(f"Tensors {prenets[:3]}: VALL-E prenets are not supported.")
    pattern = re.compile(r"ar_decoder\.layers\.(\d+)\.norm1\.weight")
    indices = sorted(int(m.group(1)) for m in map(pattern.fullmatch, shapes) if m)
    if not indices or indices != list(range(len(indices))):
        raise ValueError(f"No decoder layers 'ar_decoder.layers.0.' ...: not {DESCRIPTION}.")
    intermediate_dim = shape("ar_decoder.layers.0.linear1.weight", 2)[0]
    if (
        isinstance(num_heads, bool)
        or not isinstance(num_heads, int)
        or num_heads < 1
        or hidden_dim % num_heads
    ):
        raise ValueError(
            f"`num_heads` = {num_heads!r} must be an int dividing the width {hidden_dim}."
        )
    return {
        "text_vocabulary_size": text_vocabulary_size,
        "codebook_size": semantic_rows - 1,
        "hidden_dim": hidden_dim,
        "num_layers": len(indices),
        "num_heads": num_heads,
        "intermediate_dim": intermediate_dim,
        "dropout": 0.1,
        "layer_norm_epsilon": 1e-5,
        "norm_first": "ar_decoder.norm.weight" in shapes,
    }


def read_k2symbols(path):
    """USLM's text ids from a k2 symbol table: `["<pad>", "<bos>", "<eos>", *sorted symbols]`.

    As USLM's text collater builds them: the file's symbols (lines `symbol
    id`; id 0 is `<eps>` when the file has none), sorted, after the three
    specials. Raises ValueError naming the file and line for a malformed line.
    """
    by_id = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
                raise ValueError(
                    f"{path!r} line {number}: expected 'symbol id', got {line.strip()!r}."
                )
            symbol, index = fields[0], int(fields[1])
            if index in by_id or symbol in by_id.values():
                raise ValueError(
                    f"{path!r} line {number}: duplicate symbol or id {line.strip()!r}."
                )
            by_id[index] = symbol
    by_id.setdefault(0, "<eps>")
    specials = [configs.PAD_SYMBOL, configs.BOS_SYMBOL, configs.EOS_SYMBOL]
    clashes = sorted(set(specials) & set(by_id.values()))
    if clashes:
        raise ValueError(f"{path!r} defines the reserved symbols {clashes}.")
    return specials + sorted(by_id.values())


def uslm(checkpoint, symbols, num_heads=16):
    """Converts USLM's AR model into a `kss.TextToSemantic`.

    Args:
        checkpoint: `USLM.pt` (read with `torch.load(weights_only=True)`), its
            `{"model": state_dict}` or the state dict itself.
        symbols: the `unique_text_tokens.k2symbols` path, or the list of text
            symbols by id (see `read_k2symbols`); None stores no table.
        num_heads: attention heads (not in the shapes; 16 in USLM).

    Every `ar_*` tensor is used exactly once; the `nar_*` ones are counted and
    logged as not needed. Raises ValueError naming missing, unknown, wrongly
    shaped or non-finite tensors; nothing is written anywhere (save the
    result with `save_to_preset`).
    """
    from keras_soundstorm.models.text_to_semantic import TextToSemantic, TextToSemanticBackbone

    tensors, not_needed = _ar_tensors(checkpoint)
    config = uslm_config({name: tuple(t.shape) for name, t in tensors.items()}, num_heads)
    if symbols is not None and not isinstance(symbols, (list, tuple)):
        symbols = read_k2symbols(symbols)
    bad = [
        name for name, t in tensors.items() if t.dtype.kind == "f" and not np.all(np.isfinite(t))
    ]
    if bad:
        raise ValueError(
            f"Tensor{'s' if len(bad) > 1 else ''} {bad[:5]} hold NaN or inf: not a usable "
            f"{DESCRIPTION}."
        )
    model = TextToSemantic(TextToSemanticBackbone(**config), symbols=symbols)
    reader = StateDictReader(tensors, DESCRIPTION + " of a consistent architecture")
    assignments = _assignments(reader, model, config)
    reader.finish()
    for variable, value in assignments:
        variable.assign(np.asarray(value, dtype="float32"))
    LOGGER.info(
        "Converted %d ar_* tensors; %d nar_* tensors (USLM's acoustic stage) are not needed.",
        len(tensors),
        not_needed,
    )
    return model


def _ar_tensors(checkpoint):
    """`({name: array} of the ar_* tensors, count of nar_* tensors)`; others are an error."""
    tensors = load_state_dict(checkpoint, nested_key="model")
    ar = {name: t for name, t in tensors.items() if name.startswith("ar_")}
    not_needed = sum(name.startswith("nar_") for name in tensors)
    unknown = [name for name in tensors if not name.startswith(("ar_", "nar_"))]
    if unknown:
        hint = SOUNDSTORM_HINT if _looks_like_soundstorm(unknown) else ""
        shown = ", ".join(repr(name) for name in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise ValueError(f"Unknown tensors {shown}{more}: not {DESCRIPTION}{hint}.")
    return ar, not_needed


def _looks_like_soundstorm(names):
    return any(name.startswith(("net.", "code_embeds.", "conformer.")) for name in names)


def _assignments(reader, model, config):
    d, h = config["hidden_dim"], config["num_heads"]
    f = d // h
    backbone = model.backbone
    text_table = backbone.text_embedding.embeddings
    semantic_table = backbone.semantic_embedding.embeddings
    out = [
        (text_table, reader.take(TEXT_TABLE, tuple(text_table.shape))),
        (semantic_table, reader.take(SEMANTIC_TABLE, tuple(semantic_table.shape))),
        (backbone.text_position.alpha, reader.take("ar_text_position.alpha", (1,))),
        (backbone.semantic_position.alpha, reader.take("ar_audio_position.alpha", (1,))),
    ]
    for index, block in enumerate(backbone.decoder.blocks):
        prefix = f"ar_decoder.layers.{index}."
        attention = block.attention
        # torch packs [q; k; v] rows of (head, feature): [3 d, d] -> ours [d, 3, h, f].
        qkv = reader.take(prefix + "self_attn.in_proj_weight", (3 * d, d))
        out.append((attention.qkv.kernel, qkv.reshape(3, h, f, d).transpose(3, 0, 1, 2)))
        bias = reader.take(prefix + "self_attn.in_proj_bias", (3 * d,))
        out.append((attention.qkv.bias, bias.reshape(3, h, f)))
        output = reader.take(prefix + "self_attn.out_proj.weight", (d, d))
        out.append((attention.attention_output.kernel, output.T.reshape(h, f, d)))
        output_bias = reader.take(prefix + "self_attn.out_proj.bias", (d,))
        out.append((attention.attention_output.bias, output_bias))
        _linear(reader, prefix + "linear1", block.ffn_in, out)
        _linear(reader, prefix + "linear2", block.ffn_out, out)
        _norm(reader, prefix + "norm1", block.attention_norm, out)
        _norm(reader, prefix + "norm2", block.ffn_norm, out)
    if backbone.decoder.final_norm is not None:
        _norm(reader, "ar_decoder.norm", backbone.decoder.final_norm, out)
    kernel = model.semantic_head.kernel
    out.append((kernel, reader.take(OUTPUT, tuple(kernel.shape)[::-1]).T))
    return out


def _linear(reader, prefix, dense, out):
    """torch Linear `[out, in]` -> Dense kernel `[in, out]`."""
    out.append((dense.kernel, reader.take(f"{prefix}.weight", tuple(dense.kernel.shape)[::-1]).T))
    out.append((dense.bias, reader.take(f"{prefix}.bias", tuple(dense.bias.shape))))


def _norm(reader, prefix, norm, out):
    out.append((norm.gamma, reader.take(f"{prefix}.weight", tuple(norm.gamma.shape))))
    out.append((norm.beta, reader.take(f"{prefix}.bias", tuple(norm.beta.shape))))
