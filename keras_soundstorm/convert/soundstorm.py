"""PyTorch SpeechTokenizer-SoundStorm checkpoints -> `kss.SoundStorm`.

The public files: Hugging Face `fnlp/USLM`,
`SoundStorm_LibriSpeech/SoundStorm_best_dev.pt`, and `fnlp/AnyGPT-speech-modules`,
`soundstorm/speechtokenizer_soundstorm_mls.pt`: state dicts of a lucidrains
`soundstorm_pytorch.SoundStorm` (its `ConformerWrapper` under `net.`, the
semantic token embedding as `semantic_token_emb`). The architecture is
inferred from the tensors' shapes except the head count, which they do not
determine. The converted model generates the codec's RVQ levels 2.. (its level
`q`, 0-based, is RVQ level `q + 2`) conditioned on RVQ level 1 at the same rate.
"""

import re

import numpy as np

from keras_soundstorm.convert.checkpoints import StateDictReader, load_state_dict

DESCRIPTION = "a SpeechTokenizer-SoundStorm (soundstorm_pytorch) checkpoint"


def soundstorm_speechtokenizer_config(checkpoint, num_heads=8):
    """`SoundStormBackbone` arguments inferred from a checkpoint (path, state dict or tensors).

    Raises ValueError when the checkpoint is not a lucidrains SoundStorm /
    ConformerWrapper state dict, or `num_heads` does not divide its width.
    """
    tensors = checkpoint if _is_tensor_dict(checkpoint) else load_state_dict(checkpoint)
    prefix = _prefix(tensors)

    def shape(name):
        if name not in tensors:
            raise ValueError(f"Missing tensor {name!r}: not {DESCRIPTION}.")
        return tuple(tensors[name].shape)

    num_levels, hidden_dim, codebook_size = _expect_rank(
        f"{prefix}to_logits.2.weight", shape(f"{prefix}to_logits.2.weight"), 3
    )
    rows, width = _expect_rank(
        f"{prefix}code_embeds.weight", shape(f"{prefix}code_embeds.weight"), 2
    )
    if (rows, width) != (num_levels * (codebook_size + 1), hidden_dim):
        raise ValueError(
            f"Tensor {prefix + 'code_embeds.weight'!r} has shape {(rows, width)}, expected "
            f"{(num_levels * (codebook_size + 1), hidden_dim)} (grouped quantizers are not "
            f"supported): not {DESCRIPTION}."
        )
    layer_pattern = re.compile(re.escape(prefix) + r"conformer\.layers\.(\d+)\.post_norm\.weight")
    indices = sorted(int(m.group(1)) for m in map(layer_pattern.fullmatch, tensors) if m)
    if not indices or indices != list(range(len(indices))):
        raise ValueError(f"No Conformer layers numbered 0, 1, ...: not {DESCRIPTION}.")
    layer = f"{prefix}conformer.layers.0."
    intermediate_dim = shape(layer + "ff1.fn.fn.net.0.weight")[0]
    conv_inner = shape(layer + "conv.net.4.conv.weight")
    conv_kernel_size = _expect_rank(layer + "conv.net.4.conv.weight", conv_inner, 3)[2]
    if conv_inner[0] % hidden_dim:
        raise ValueError(
            f"Tensor {layer + 'conv.net.4.conv.weight'!r} has {conv_inner[0]} channels, not a "
            f"multiple of the width {hidden_dim}: not {DESCRIPTION}."
        )
    if (
        isinstance(num_heads, bool)
        or not isinstance(num_heads, int)
        or num_heads < 1
        or hidden_dim % num_heads
        or (hidden_dim // num_heads) % 2
    ):
        raise ValueError(
            f"--num-heads / num_heads = {num_heads!r} must divide the width {hidden_dim} into "
            "heads of an even size."
        )
    conditioning = "semantic_token_emb.weight"
    vocabulary = shape(conditioning)[0] if conditioning in tensors else 0
    return {
        "num_levels": num_levels,
        "codebook_size": codebook_size,
        "conditioning_vocabulary_size": vocabulary,
        "conditioning_rate_ratio": 1,
        "hidden_dim": hidden_dim,
        "num_layers": len(indices),
        "num_heads": num_heads,
        "intermediate_dim": intermediate_dim,
        "conv_kernel_size": conv_kernel_size,
        "layer_norm_epsilon": 1e-5,
        "conv_expansion_factor": conv_inner[0] // hidden_dim,
        "conv_norm_type": "channel_norm",
        "attention_bias": False,
        "even_kernel_padding": "left",
    }


def soundstorm_speechtokenizer(checkpoint, num_heads=8):
    """Converts a SpeechTokenizer-SoundStorm checkpoint into a `kss.SoundStorm`.

    Args:
        checkpoint: the state dict: a path (read with `torch.load(weights_only=True)`)
            or a mapping of names to torch tensors / numpy arrays. A bare
            `ConformerWrapper` state dict (no `net.` prefix, no semantic
            embedding) converts to an unconditional model.
        num_heads: attention heads (the shapes do not determine it; 8 in the
            public checkpoints).

    Returns: a `SoundStorm` whose level `q` (0-based) is the codec's RVQ level
    `q + 2` and whose conditioning is RVQ level 1 (rate ratio 1). Raises
    ValueError naming the first missing or wrongly shaped tensor, or the
    unknown ones; nothing is written anywhere. Save it with `save_to_preset`.
    """
    from keras_soundstorm.models.soundstorm import SoundStorm, SoundStormBackbone

    tensors = load_state_dict(checkpoint)
    config = soundstorm_speechtokenizer_config(tensors, num_heads=num_heads)
    prefix = _prefix(tensors)
    model = SoundStorm(SoundStormBackbone(**config), head_projection=True)
    reader = StateDictReader(tensors, DESCRIPTION + " of a consistent architecture")
    assignments = []
    backbone = model.backbone
    embeddings = backbone.code_embedding.embeddings
    assignments.append(
        (embeddings, reader.take(f"{prefix}code_embeds.weight", tuple(embeddings.shape)))
    )
    if backbone.conditioning_embedding is not None:
        table = backbone.conditioning_embedding.embeddings
        assignments.append((table, reader.take("semantic_token_emb.weight", tuple(table.shape))))
    for index, block in enumerate(backbone.conformer_layers):
        _block(reader, f"{prefix}conformer.layers.{index}.", block, assignments)
    _heads(reader, prefix, model.level_heads, assignments)
    reader.finish()
    for variable, value in assignments:
        variable.assign(np.asarray(value, dtype="float32"))
    return model


def _is_tensor_dict(value):
    return isinstance(value, dict) and all(isinstance(v, np.ndarray) for v in value.values())


def _prefix(tensors):
    if "net.code_embeds.weight" in tensors:
        return "net."
    if "code_embeds.weight" in tensors:
        return ""
    hint = ""
    if any(name.startswith(("encoder.", "decoder.", "quantizer.")) for name in tensors):
        hint = " (it looks like a codec checkpoint, e.g. SpeechTokenizer's)"
    if any(name.startswith("ar_") for name in tensors):
        hint = " (it looks like a USLM text-to-semantic checkpoint: use kss.convert.uslm)"
    raise ValueError(f"No tensor 'net.code_embeds.weight': not {DESCRIPTION}{hint}.")


def _expect_rank(name, shape, rank):
    if len(shape) != rank:
        raise ValueError(
            f"Tensor {name!r} has shape {shape}, expected rank {rank}: not {DESCRIPTION}."
        )
    return shape


def _norm(reader, prefix, norm, assignments):
    assignments.append((norm.gamma, reader.take(f"{prefix}.weight", tuple(norm.gamma.shape))))
    assignments.append((norm.beta, reader.take(f"{prefix}.bias", tuple(norm.beta.shape))))


def _linear(reader, prefix, dense, assignments, bias=True):
    """torch Linear `[out, in]` -> Dense kernel `[in, out]`."""
    kernel = dense.kernel
    assignments.append((kernel, reader.take(f"{prefix}.weight", tuple(kernel.shape)[::-1]).T))
    if bias:
        assignments.append((dense.bias, reader.take(f"{prefix}.bias", tuple(dense.bias.shape))))


def _pointwise(reader, prefix, dense, assignments):
    """torch Conv1d `[out, in, 1]` -> Dense kernel `[in, out]`."""
    kernel = dense.kernel
    weight = reader.take(f"{prefix}.weight", tuple(kernel.shape)[::-1] + (1,))
    assignments.append((kernel, weight[:, :, 0].T))
    assignments.append((dense.bias, reader.take(f"{prefix}.bias", tuple(dense.bias.shape))))


def _block(reader, prefix, block, assignments):
    d, h = block.hidden_dim, block.num_heads
    f = d // h
    for i, name in enumerate(("ff1", "ff2")):
        _norm(reader, f"{prefix}{name}.fn.norm", block.ffn_in_norms[i], assignments)
        _linear(reader, f"{prefix}{name}.fn.fn.net.0", block.ffn_in[i], assignments)
        _linear(reader, f"{prefix}{name}.fn.fn.net.3", block.ffn_out[i], assignments)
    _norm(reader, f"{prefix}attn.norm", block.attention_norm, assignments)
    query = reader.take(f"{prefix}attn.fn.to_q.weight", (h * f, d))
    key_value = reader.take(f"{prefix}attn.fn.to_kv.weight", (2 * h * f, d))
    # torch [(h f), d] -> ours [d, 3, h, f]; to_kv holds keys then values.
    qkv = np.stack([query, key_value[: h * f], key_value[h * f :]], axis=0)  # [3, h f, d]
    qkv = qkv.reshape(3, h, f, d).transpose(3, 0, 1, 2)
    assignments.append((block.qkv.kernel, qkv))
    output = reader.take(f"{prefix}attn.fn.to_out.weight", (d, h * f))
    assignments.append((block.attention_out.kernel, output.T.reshape(h, f, d)))
    assignments.append(
        (block.attention_out.bias, reader.take(f"{prefix}attn.fn.to_out.bias", (d,)))
    )
    _norm(reader, f"{prefix}conv.net.0", block.conv_norm, assignments)
    _pointwise(reader, f"{prefix}conv.net.2", block.conv_pointwise_in, assignments)
    depthwise = block.conv_depthwise
    kernel_size, channels, _ = depthwise.kernel.shape
    weight = reader.take(f"{prefix}conv.net.4.conv.weight", (channels, 1, kernel_size))
    assignments.append((depthwise.kernel, weight.transpose(2, 0, 1)))
    assignments.append((depthwise.bias, reader.take(f"{prefix}conv.net.4.conv.bias", (channels,))))
    gamma = reader.take(f"{prefix}conv.net.6.gamma", (1, channels, 1))
    assignments.append((block.conv_depthwise_norm.gamma, gamma.reshape(channels)))
    _pointwise(reader, f"{prefix}conv.net.7", block.conv_pointwise_out, assignments)
    _norm(reader, f"{prefix}post_norm", block.output_norm, assignments)


def _heads(reader, prefix, heads, assignments):
    q, d, c = heads.kernel.shape
    projection = reader.take(f"{prefix}heads.0.weight", (q * d, d))  # [(q d_out), d_in]
    assignments.append((heads.projection_kernel, projection.reshape(q, d, d).transpose(0, 2, 1)))
    bias = reader.take(f"{prefix}heads.0.bias", (q * d,))
    assignments.append((heads.projection_bias, bias.reshape(q, d)))
    assignments.append((heads.norm_gamma, reader.take(f"{prefix}to_logits.0.weight", (d,))))
    assignments.append((heads.norm_beta, reader.take(f"{prefix}to_logits.0.bias", (d,))))
    assignments.append((heads.kernel, reader.take(f"{prefix}to_logits.2.weight", (q, d, c))))
    bias = reader.take(f"{prefix}to_logits.2.bias", (1, 1, q, c))
    assignments.append((heads.bias, bias.reshape(q, c)))
