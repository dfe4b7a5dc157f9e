"""PyTorch SpeechTokenizer checkpoints (`config.json` + state dict) -> `kss.codecs.SpeechTokenizer`.

The public files: Hugging Face `fnlp/SpeechTokenizer`,
`speechtokenizer_hubert_avg/config.json` and `SpeechTokenizer.pt`, and the
AnyGPT release's `speechtokenizer/config.json` and `ckpt.dev`. The
architecture comes from the config; every tensor of the checkpoint is checked
against it and used exactly once.
"""

import json
import os

import numpy as np

from keras_soundstorm.codecs.speechtokenizer import SpeechTokenizer
from keras_soundstorm.convert.checkpoints import StateDictReader, load_state_dict

# Reference config key -> SpeechTokenizer argument.
CONFIG_KEYS = {
    "sample_rate": "sample_rate",
    "n_filters": "channels",
    "dimension": "latent_dim",
    "semantic_dimension": "semantic_dim",
    "strides": "strides",
    "n_q": "num_levels",
    "codebook_size": "codebook_size",
    "lstm_layers": "lstm_layers",
    "bidirectional": "bidirectional",
    "residual_kernel_size": "residual_kernel_size",
    "n_residual_layers": "num_residual_layers",
    "dilation_base": "dilation_base",
}


def speechtokenizer_config(config):
    """A reference `config.json` (a path or its dict) -> `SpeechTokenizer` arguments.

    Training-only keys (learning rate, segment size, ...) are ignored; the
    activation must be ELU, the only one the public models use.
    """
    if isinstance(config, (str, os.PathLike)):
        path = os.fspath(config)
        if not os.path.isfile(path):
            raise ValueError(f"SpeechTokenizer config {path!r} does not exist or is not a file.")
        with open(path) as f:
            try:
                config = json.load(f)
            except json.JSONDecodeError as error:
                raise ValueError(f"SpeechTokenizer config {path!r} is not JSON: {error}") from None
    if not isinstance(config, dict):
        raise ValueError(f"A SpeechTokenizer config must be a JSON object; got {config!r:.80}.")
    missing = [key for key in CONFIG_KEYS if key not in config]
    if missing:
        raise ValueError(
            f"The SpeechTokenizer config lacks {', '.join(repr(k) for k in missing)}; is it "
            "the config.json that comes with the checkpoint?"
        )
    activation = config.get("activation", "ELU")
    if activation != "ELU":
        raise ValueError(
            f"The SpeechTokenizer config's activation is {activation!r}; only 'ELU' is supported."
        )
    if not isinstance(config["bidirectional"], bool):
        raise ValueError(
            f"The config's 'bidirectional' must be true or false; got {config['bidirectional']!r}."
        )
    arguments = {ours: config[theirs] for theirs, ours in CONFIG_KEYS.items()}
    if not isinstance(arguments["strides"], (list, tuple)):
        raise ValueError(f"The config's 'strides' must be a list; got {arguments['strides']!r}.")
    # The reference lists strides in decoder (upsampling) order; ours are in encoder order.
    arguments["strides"] = tuple(reversed(arguments["strides"]))
    return arguments


def speechtokenizer(config, checkpoint):
    """Converts a PyTorch SpeechTokenizer into a `kss.codecs.SpeechTokenizer`.

    Args:
        config: the reference `config.json`: a path or its dict.
        checkpoint: the state dict: a path (read with `torch.load(weights_only=True)`)
            or a mapping of names to torch tensors / numpy arrays.

    Returns: a `SpeechTokenizer` holding the checkpoint's weights (weight
    normalisation folded into plain kernels). Raises ValueError naming the
    first missing or wrongly shaped tensor, or the unknown ones; nothing is
    written anywhere. Save the result with `save_to_preset`.
    """
    arguments = speechtokenizer_config(config)
    tensors = load_state_dict(checkpoint)
    codec = SpeechTokenizer(**arguments)
    reader = StateDictReader(tensors, "a SpeechTokenizer checkpoint that matches the config")
    assignments = []
    _encoder(reader, codec.encoder, assignments)
    _quantizer(reader, codec.quantizer, assignments)
    _decoder(reader, codec.decoder, assignments)
    _semantic_projection(reader, codec.semantic_projection, assignments)
    reader.finish()
    for variable, value in assignments:
        variable.assign(value)
    return codec


def _conv(reader, prefix, conv, assignments):
    """A `ReflectConv1D` / `TrimmedConv1DTranspose` from a (transposed) weight-normed conv.

    PyTorch keeps Conv1d kernels as `[out, in, k]` and ConvTranspose1d kernels
    as `[in, out, k]`; ours are `[k, in, out]` and `[k, out, in]`: both
    reverse the axes.
    """
    kernel_shape = tuple(conv.kernel.shape)
    kernel = reader.take_weight_normed(prefix, kernel_shape[::-1])
    assignments.append((conv.kernel, np.transpose(kernel, (2, 1, 0))))
    assignments.append((conv.bias, reader.take(f"{prefix}.bias", tuple(conv.bias.shape))))


def _residual_block(reader, prefix, block, assignments):
    _conv(reader, f"{prefix}.block.1.conv.conv", block.inner_conv, assignments)
    _conv(reader, f"{prefix}.block.3.conv.conv", block.outer_conv, assignments)
    _conv(reader, f"{prefix}.shortcut.conv.conv", block.shortcut, assignments)


def _lstm(reader, prefix, skip_lstm, assignments):
    """torch.nn.LSTM (gates i, f, g, o, two biases) -> Keras LSTM cells (same gate order)."""
    units = skip_lstm.units
    for index in range(skip_lstm.num_layers):
        for direction, lstm in zip(["", "_reverse"], skip_lstm.directions(index)):
            suffix = f"_l{index}{direction}"
            cell = lstm.cell
            inputs = cell.kernel.shape[0]
            w_ih = reader.take(f"{prefix}.weight_ih{suffix}", (4 * units, inputs))
            w_hh = reader.take(f"{prefix}.weight_hh{suffix}", (4 * units, units))
            b_ih = reader.take(f"{prefix}.bias_ih{suffix}", (4 * units,))
            b_hh = reader.take(f"{prefix}.bias_hh{suffix}", (4 * units,))
            assignments.append((cell.kernel, w_ih.T))
            assignments.append((cell.recurrent_kernel, w_hh.T))
            assignments.append((cell.bias, b_ih + b_hh))


def _encoder(reader, encoder, assignments):
    # The reference's nn.Sequential numbers activations too: count them.
    index = 0
    _conv(reader, f"encoder.model.{index}.conv.conv", encoder.input_conv, assignments)
    index += 1
    for blocks, downsample in zip(encoder.residual_blocks, encoder.downsample_convs):
        for block in blocks:
            _residual_block(reader, f"encoder.model.{index}", block, assignments)
            index += 1
        index += 1  # ELU
        _conv(reader, f"encoder.model.{index}.conv.conv", downsample, assignments)
        index += 1
    if encoder.lstm is not None:
        _lstm(reader, f"encoder.model.{index}.lstm", encoder.lstm, assignments)
        index += 1
    index += 1  # ELU
    _conv(reader, f"encoder.model.{index}.conv.conv", encoder.output_conv, assignments)


def _decoder(reader, decoder, assignments):
    index = 0
    _conv(reader, f"decoder.model.{index}.conv.conv", decoder.input_conv, assignments)
    index += 1
    if decoder.lstm is not None:
        _lstm(reader, f"decoder.model.{index}.lstm", decoder.lstm, assignments)
        index += 1
    for upsample, blocks in zip(decoder.upsample_convs, decoder.residual_blocks):
        index += 1  # ELU
        _conv(reader, f"decoder.model.{index}.convtr.convtr", upsample, assignments)
        index += 1
        for block in blocks:
            _residual_block(reader, f"decoder.model.{index}", block, assignments)
            index += 1
    index += 1  # ELU
    _conv(reader, f"decoder.model.{index}.conv.conv", decoder.output_conv, assignments)


def _quantizer(reader, quantizer, assignments):
    size, dim = quantizer.codebook_size, quantizer.dim
    codebooks = []
    for level in range(quantizer.num_levels):
        prefix = f"quantizer.vq.layers.{level}._codebook"
        codebooks.append(reader.take(f"{prefix}.embed", (size, dim)))
        # Training state of the EMA codebooks: checked, not needed for inference.
        inited = reader.take(f"{prefix}.inited", (1,))
        reader.take(f"{prefix}.cluster_size", (size,))
        reader.take(f"{prefix}.embed_avg", (size, dim))
        if not inited[0]:
            raise ValueError(
                f"Codebook {level + 1} was never initialised ({prefix}.inited is 0): the "
                "checkpoint is of an untrained model."
            )
    assignments.append((quantizer.codebooks, np.stack(codebooks)))


def _semantic_projection(reader, projection, assignments):
    if projection is None:
        return
    kernel = projection.kernel
    weight = reader.take("transform.weight", tuple(kernel.shape)[::-1])
    assignments.append((kernel, weight.T))
    assignments.append(
        (projection.bias, reader.take("transform.bias", tuple(projection.bias.shape)))
    )
