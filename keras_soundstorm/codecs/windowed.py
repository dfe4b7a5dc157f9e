"""Codec encode / decode over windows, in memory that does not grow with the input's length.

`WindowedCodec` wraps a codec built from the EnCodec-style stacks of
`encodec_layers` (SpeechTokenizer): a convolution stack at the sample rate, an
optional (bidirectional) LSTM at the frame rate, a convolution at the frame
rate. Its output equals the codec's own `encode` / `decode` of the whole input
(to float rounding), because:

- the convolution stacks run over windows overlapping by their receptive
  field (computed from the layers' kernels, dilations and strides), and only
  each window's middle, which never sees the window's edges, is kept;
- the LSTMs run over chunks of frames carrying their state from chunk to
  chunk (the backward direction of a bidirectional LSTM from the last chunk to
  the first), which is exactly the recurrence over the whole sequence.

The frame-rate sequences between the stages (e.g. 1024 floats per frame for
SpeechTokenizer: 120 MB per 10 minutes) are kept in temporary files, not in
memory, so peak memory is set by the window length alone. Other codecs (no
such stacks) are encoded / decoded whole.
"""

import math
import os
import tempfile

import numpy as np
from keras import ops

from keras_soundstorm import backend
from keras_soundstorm.codecs import codec_inputs
from keras_soundstorm.utils.memory import release_free_heap


class WindowedCodec:
    """Encodes / decodes with `codec` window by window.

    Args:
        codec: a codec with EnCodec-style `encoder` / `decoder` stacks (e.g.
            `kss.codecs.SpeechTokenizer`); others are run whole.
        window_seconds: audio per window (default 20 s); memory grows with it.

    Example:
    ```python
    windowed = WindowedCodec(codec)
    codes = windowed.encode(waveform)           # float [N] -> int32 [ceil(N / hop), Q]
    for chunk in windowed.decode_chunks(codes):  # float32 [<= window] each
        writer.write(chunk)
    ```
    """

    def __init__(self, codec, window_seconds=20.0):
        if not isinstance(window_seconds, int | float) or not window_seconds > 0:
            raise ValueError(f"`window_seconds` must be a positive number; got {window_seconds!r}.")
        self.codec = codec
        self.window_frames = max(1, int(round(window_seconds * codec.frame_rate)))
        self.streams = supports_windows(codec)
        # Compiled stages live on the codec, so that every `WindowedCodec` of it
        # (one per `speak` / `resynthesize` call) reuses them; set past Keras'
        # attribute tracking, which has nothing to save here.
        if not hasattr(codec, _COMPILED):
            object.__setattr__(codec, _COMPILED, {})
        self._functions = getattr(codec, _COMPILED)
        if self.streams:
            hop = codec.hop_length
            # Receptive fields (one side is at most the whole), plus one frame of margin.
            self.encoder_context = math.ceil(_encoder_reach(codec.encoder) / hop) + 1
            self.encoder_head_context = _conv_reach(codec.encoder.output_conv, 1) + 1
            self.decoder_head_context = _conv_reach(codec.decoder.input_conv, 1) + 1
            self.decoder_context = math.ceil(_decoder_reach(codec.decoder)) + 1

    # --- Public -------------------------------------------------------------

    def encode(self, waveform, num_levels=None):
        """Waveform float `[N]` at the codec's rate -> codes int32 `[ceil(N / hop), k]`."""
        codec = self.codec
        num_levels = codec_inputs.checked_num_levels(num_levels, codec.num_levels, codec.num_levels)
        if not self.streams:
            return codec.encode(np.asarray(waveform)[None], num_levels=num_levels)[0]
        waveform = np.asarray(waveform)
        if waveform.ndim != 1 or not len(waveform):
            raise ValueError(
                f"`waveform` must be a non-empty [samples] array; got {waveform.shape}."
            )
        hop = codec.hop_length
        total = -(-len(waveform) // hop)
        encoder = codec.encoder
        with _FrameStores() as stores:
            features = stores.new(total)
            convolve = self._function("encoder_convolutions", self._encoder_convolutions)
            for start, end, lo, hi in self._windows(total, self.encoder_context):
                out = convolve(ops.convert_to_tensor(self._samples(waveform, lo, hi)))
                features.write(start, _numpy(out)[0, start - lo : end - lo])
            frames = features
            if encoder.lstm is not None:
                frames = self._run_lstm(encoder.lstm, features, stores)
            codes = np.zeros((total, num_levels), "int32")
            head = self._function(("encoder_head", num_levels), self._encoder_head(num_levels))
            for start, end, lo, hi in self._windows(total, self.encoder_head_context):
                out, finite = head(ops.convert_to_tensor(frames.read(lo, hi)[None]))
                if not bool(_numpy(finite)):
                    raise ValueError(
                        f"{type(codec).__name__}.encode: the encoder produced NaN or infinite "
                        "latents for this waveform; the codec's weights are degenerate."
                    )
                codes[start:end] = _numpy(out)[0, start - lo : end - lo]
        return codes

    def semantic_tokens(self, waveform):
        """Waveform float `[N]` -> RVQ level-1 codes int32 `[ceil(N / hop)]`."""
        return self.encode(waveform, num_levels=1)[:, 0]

    def decode_chunks(self, codes):
        """Codes int `[T, k]` -> float32 waveform chunks, in order, `T * hop` samples in all."""
        codec = self.codec
        codes = codec_inputs.checked_codes(np.asarray(codes)[None], codec.num_levels,
                                           codec.codebook_size)[0]  # fmt: skip
        if not self.streams:
            yield codec.decode(codes[None])[0]
            return
        total, num_levels = codes.shape
        hop = codec.hop_length
        decoder = codec.decoder
        with _FrameStores() as stores:
            latents = stores.new(total)
            head = self._function(("decoder_head", num_levels), self._decoder_head(num_levels))
            for start, end, lo, hi in self._windows(total, self.decoder_head_context):
                out = head(ops.convert_to_tensor(codes[None, lo:hi]))
                latents.write(start, _numpy(out)[0, start - lo : end - lo])
            frames = latents
            if decoder.lstm is not None:
                frames = self._run_lstm(decoder.lstm, latents, stores)
            convolve = self._function("decoder_convolutions", self._decoder_convolutions)
            for start, end, lo, hi in self._windows(total, self.decoder_context):
                out = _numpy(convolve(ops.convert_to_tensor(frames.read(lo, hi)[None])))[0]
                chunk = out[(start - lo) * hop : (end - lo) * hop]
                if not np.isfinite(chunk).all():
                    raise ValueError(
                        f"{type(codec).__name__}.decode produced NaN or infinite audio; the "
                        "codec's weights are degenerate."
                    )
                yield chunk

    def decode(self, codes):
        """Codes int `[T, k]` -> float32 waveform `[T * hop]` (all windows joined)."""
        return np.concatenate(list(self.decode_chunks(codes)))

    # --- Stages (mirror `EncodecEncoder.call` / `EncodecDecoder.call`) -------

    def _encoder_convolutions(self, waveform):
        encoder = self.codec.encoder
        x = encoder.input_conv(ops.expand_dims(waveform, -1))
        for blocks, downsample in zip(encoder.residual_blocks, encoder.downsample_convs):
            for block in blocks:
                x = block(x)
            x = downsample(ops.elu(x))
        return x

    def _encoder_head(self, num_levels):
        def head(x):
            latents = self.codec.encoder.output_conv(ops.elu(x))
            codes = self.codec.quantizer.quantize_latents(latents, num_levels=num_levels)
            return codes, ops.all(ops.isfinite(latents))

        return head

    def _decoder_head(self, num_levels):
        def head(codes):
            latents = self.codec.quantizer.dequantize(codes, num_levels)
            return self.codec.decoder.input_conv(latents)

        return head

    def _decoder_convolutions(self, x):
        decoder = self.codec.decoder
        for upsample, blocks in zip(decoder.upsample_convs, decoder.residual_blocks):
            x = upsample(ops.elu(x))
            for block in blocks:
                x = block(x)
        return ops.squeeze(decoder.output_conv(ops.elu(x)), -1)

    def _run_lstm(self, skip_lstm, inputs, stores):
        """A `SkipLSTM` over a whole stored sequence, chunk by chunk: its stored output."""
        total = inputs.length
        layer_input = inputs
        for index in range(skip_lstm.num_layers):
            outputs = []
            for direction in skip_lstm.directions(index):
                output = stores.new(total)
                self._run_direction(direction, layer_input, output)
                outputs.append(output)
            layer_input = _Concatenated(outputs)
        skip = _Concatenated([inputs, inputs]) if skip_lstm.bidirectional else inputs
        result = stores.new(total)
        for start in range(0, total, self.window_frames):
            end = min(total, start + self.window_frames)
            result.write(start, layer_input.read(start, end) + skip.read(start, end))
        return result

    def _run_direction(self, lstm, inputs, output):
        """One `keras.layers.LSTM` (forward, or `go_backwards`) with its state carried."""
        backwards = bool(lstm.go_backwards)
        step = self._function(("lstm", id(lstm)), _lstm_chunk(lstm, backwards))
        state = [np.zeros((1, lstm.units), "float32")] * 2
        starts = list(range(0, inputs.length, self.window_frames))
        for start in reversed(starts) if backwards else starts:
            end = min(inputs.length, start + self.window_frames)
            y, h, c = step(ops.convert_to_tensor(inputs.read(start, end)[None]), *state)
            state = [_numpy(h), _numpy(c)]
            output.write(start, _numpy(y)[0])
            release_free_heap()

    # --- Plumbing -----------------------------------------------------------

    def _samples(self, waveform, lo, hi):
        """Frames `[lo, hi)` of `waveform` as checked float32 `[1, (hi - lo) * hop]`.

        Checked and zero-padded (at the end) per window, so the source is never copied whole.
        """
        hop = self.codec.hop_length
        window = codec_inputs.checked_waveform(
            waveform[None, lo * hop : hi * hop],
            max_amplitude=getattr(self.codec, "max_amplitude", None),
        )
        return np.pad(window, [(0, 0), (0, (hi - lo) * hop - window.shape[1])])

    def _windows(self, total, context):
        """`(start, end, lo, hi)`: frames `[start, end)` kept from a window over `[lo, hi)`.

        After each window the C heap's free pages go back to the OS, so the
        resident memory does not creep up with the number of windows.
        """
        for start in range(0, total, self.window_frames):
            end = min(total, start + self.window_frames)
            yield start, end, max(0, start - context), min(total, end + context)
            release_free_heap()

    def _function(self, key, function):
        key = (key, bool(self.codec.run_eagerly))
        if key not in self._functions:
            self._functions[key] = backend.compiled_inference(
                function, self.codec.variables, run_eagerly=bool(self.codec.run_eagerly)
            )
        return self._functions[key]


# The codec attribute holding {stage key: compiled function}.
_COMPILED = "_kss_windowed_functions"


def supports_windows(codec):
    """Whether `codec`'s encoder and decoder are EnCodec-style stacks `WindowedCodec` can split."""
    encoder, decoder = getattr(codec, "encoder", None), getattr(codec, "decoder", None)
    needed_encoder = ("input_conv", "residual_blocks", "downsample_convs", "lstm", "output_conv")
    needed_decoder = ("input_conv", "residual_blocks", "upsample_convs", "lstm", "output_conv")
    return (
        all(hasattr(encoder, name) for name in needed_encoder)
        and all(hasattr(decoder, name) for name in needed_decoder)
        and hasattr(codec.quantizer, "quantize_latents")
        and hasattr(codec.quantizer, "dequantize")
    )


def _lstm_chunk(lstm, backwards):
    """`(x [1, n, d], h, c) -> (y [1, n, units] in time order, h, c)` for one LSTM layer."""

    def run(x, h, c):
        _, outputs, states = lstm.inner_loop(x, [h, c], mask=None)
        if backwards:  # the loop emits the reversed sequence's outputs
            outputs = ops.flip(outputs, axis=1)
        return outputs, states[0], states[1]

    return run


def _conv_reach(conv, step):
    """How far (in units of `step` positions) a `ReflectConv1D` looks to one side, at most."""
    return (conv.kernel_size - 1) * conv.dilation_rate * step


def _block_reach(blocks, step):
    return sum(
        _conv_reach(conv, step)
        for block in blocks
        for conv in (block.inner_conv, block.outer_conv, block.shortcut)
    )


def _encoder_reach(encoder):
    """Samples on one side that an encoder frame (before its LSTM) can depend on, at most."""
    step = 1
    reach = _conv_reach(encoder.input_conv, step)
    for blocks, downsample in zip(encoder.residual_blocks, encoder.downsample_convs):
        reach += _block_reach(blocks, step)
        reach += _conv_reach(downsample, step)
        step *= downsample.strides
    return reach


def _decoder_reach(decoder):
    """Frames on one side that a decoded sample (after the LSTM) can depend on, at most."""
    step = 1.0  # frames per position
    reach = 0.0
    for upsample, blocks in zip(decoder.upsample_convs, decoder.residual_blocks):
        # A transposed convolution's output reads ceil(kernel / stride) inputs.
        reach += math.ceil(upsample.kernel_size / upsample.strides) * step
        step /= upsample.strides
        reach += _block_reach(blocks, step)
    return reach + _conv_reach(decoder.output_conv, step)


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


class _FrameStore:
    """A float32 `[length, width]` sequence in a temporary file (not counted in RSS)."""

    def __init__(self, folder, length):
        self.length = length
        self.width = None
        handle, self._path = tempfile.mkstemp(dir=folder, suffix=".f32")
        self._fd = handle

    def write(self, start, rows):
        rows = np.ascontiguousarray(rows, "float32")
        if self.width is None:
            self.width = rows.shape[1]
        os.pwrite(self._fd, rows.tobytes(), start * self.width * 4)

    def read(self, start, end):
        size = (end - start) * self.width * 4
        data = os.pread(self._fd, size, start * self.width * 4)
        return np.frombuffer(data, "float32").reshape(end - start, self.width)

    def close(self):
        os.close(self._fd)
        os.remove(self._path)


class _Concatenated:
    """Stores read side by side along channels."""

    def __init__(self, stores):
        self.stores = stores
        self.length = stores[0].length

    def read(self, start, end):
        return np.concatenate([store.read(start, end) for store in self.stores], axis=-1)


class _FrameStores:
    """Creates `_FrameStore`s in one temporary folder, all removed on exit."""

    def __enter__(self):
        self._folder = tempfile.TemporaryDirectory(prefix="kss-windows-")
        self._stores = []
        return self

    def new(self, length):
        store = _FrameStore(self._folder.name, length)
        self._stores.append(store)
        return store

    def __exit__(self, *exc):
        for store in self._stores:
            store.close()
        self._folder.cleanup()
        return False
