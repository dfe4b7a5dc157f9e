"""Text in a prompt's voice: text-to-semantic model, SoundStorm, then the codec's decoder.

The chain of the paper's text-to-speech demo with the public models: a
`kss.TextToSemantic` (USLM's AR stage) turns the phonemes of (prompt
transcript + " " + new text), continuing the prompt's RVQ-1 tokens, into the
new text's semantic tokens; SoundStorm generates the codec's levels 2..
conditioned on them, continuing the prompt's acoustic tokens (as
`resynthesize` does); the codec decodes, and the prompt is cut off the output.
Text longer than one window is split at sentence boundaries and each piece
continues the previous one (its text, semantic and acoustic tokens become the
next piece's prompt), so the voice carries on across pieces.
"""

import dataclasses
import math
import re

import numpy as np

from keras_soundstorm import audio
from keras_soundstorm.codecs.windowed import WindowedCodec
from keras_soundstorm.models.text_to_semantic.configs import TOKENS_PER_TEXT_ID
from keras_soundstorm.pipelines.common import (
    check_pair,
    frames_of,
    generate_acoustic,
    mono_at,
    progress_bar,
)
from keras_soundstorm.pipelines.resynthesis import CODEC_WINDOW_SECONDS
from keras_soundstorm.text import TextFrontend, text_to_symbols

# Phoneme symbols (word separators and punctuation included) per second of English speech,
# about: sizes the text pieces so that each one's speech fits one SoundStorm window.
SYMBOLS_PER_SECOND = 15

# Text ids / prompt tokens are padded to multiples of these (one compiled decode per bucket).
TEXT_BUCKET, PROMPT_BUCKET = 32, 128

_SENTENCE_BREAK = re.compile(r"(?<=[.!?\u2026])\s+|\s*\n\s*")
_CLAUSE_BREAK = re.compile(r"(?<=[,;:])\s+")


@dataclasses.dataclass
class Speech:
    """The result of `speak`.

    Attributes:
        waveform: float32 `[N]` at `sample_rate`: the new text only (the
            prompt is cut off); None from `speak_files` (it is in the file).
        sample_rate: the codec's rate (Hz).
        codes: int32 `[T, 1 + Q]`: the generated semantic tokens and levels.
        pieces: one dict per text piece: `text`, and `start` / `end`, its
            frames in `codes` (`N = T * hop`).
        num_samples: `N`.
    """

    waveform: np.ndarray
    sample_rate: int
    codes: np.ndarray
    pieces: list
    num_samples: int


@dataclasses.dataclass
class Voice:
    """A voice prompt ready to continue: its transcript and its codes int32 `[P, 1 + Q]`."""

    text: str
    codes: np.ndarray


class Speaker:
    """The models and settings `speak` and `dialogue` share (checked once).

    Args: see `speak`.
    """

    def __init__(
        self, text_to_semantic, model, codec, prompt_seconds=3.0, window_seconds=20.0,
        max_piece_symbols=None, temperature=1.0, top_k=None, top_p=1.0, symbol_table=None,
        **generate_kwargs,
    ):  # fmt: skip
        check_pair(model, codec)
        if not getattr(codec, "has_semantic_tokens", True):
            raise ValueError(f"`codec` ({type(codec).__name__}) has no semantic level 1.")
        semantic_size = text_to_semantic.backbone.codebook_size
        if semantic_size != codec.codebook_size:
            raise ValueError(
                f"The text-to-semantic model emits {semantic_size} semantic tokens, but the "
                f"codec's level 1 has {codec.codebook_size}: they are not a pair."
            )
        self.text_to_semantic, self.model, self.codec = text_to_semantic, model, codec
        self.frontend = text_frontend(text_to_semantic, symbol_table)
        self.prompt_frames = frames_of(prompt_seconds, codec.frame_rate, "prompt_seconds")
        self.window_frames = frames_of(window_seconds, codec.frame_rate, "window_seconds")
        if self.window_frames <= self.prompt_frames:
            raise ValueError(
                f"`window_seconds` ({window_seconds}) must exceed `prompt_seconds` "
                f"({prompt_seconds})."
            )
        if max_piece_symbols is None:
            max_piece_symbols = max(1, int(SYMBOLS_PER_SECOND * (window_seconds - prompt_seconds)))
        if (
            isinstance(max_piece_symbols, bool)
            or not isinstance(max_piece_symbols, int)
            or (max_piece_symbols < 1)
        ):
            raise ValueError(
                f"`max_piece_symbols` must be a positive int; got {max_piece_symbols!r}."
            )
        self.max_piece_symbols = max_piece_symbols
        self.sampling = dict(temperature=temperature, top_k=top_k, top_p=top_p)
        self.generate_kwargs = generate_kwargs
        self.windowed = WindowedCodec(codec, window_seconds=CODEC_WINDOW_SECONDS)

    def voice(self, prompt_audio, prompt_text, prompt_rate=None, name="prompt"):
        """The `Voice` of a recording (any rate, mono or `[N, channels]`) and its transcript."""
        if not isinstance(prompt_text, str) or not prompt_text.strip():
            raise ValueError(
                f"The {name} needs its transcript (`prompt_text`: what the recording says); "
                f"got {prompt_text!r}."
            )
        if prompt_audio is None:
            raise ValueError(f"The {name} has no audio.")
        rate = self.codec.sample_rate
        waveform = mono_at(prompt_audio, prompt_rate or rate, rate, name)
        codes = self.windowed.encode(waveform, num_levels=self.model.backbone.num_levels + 1)
        if len(codes) < 1:
            raise ValueError(f"The {name} is shorter than one codec frame.")
        self.frontend.symbols(prompt_text)  # a transcript it cannot read is an error now
        return Voice(prompt_text.strip(), codes)

    def codes(self, text, voice, seed, progress=False):
        """`(codes int32 [T, 1 + Q], pieces)` of `text` continuing `voice`."""
        pieces = split_text(text, self.frontend, self.max_piece_symbols)
        bar = progress_bar(len(pieces), progress, "speak", "piece")
        context = voice
        outputs, records, frame = [], [], 0
        for index, piece in enumerate(pieces):
            ids = self.frontend(context.text + " " + piece)
            semantic = self._semantic(ids, context.codes[:, 0], seed + index)
            codes = np.zeros((0, context.codes.shape[1]), "int32")
            if len(semantic):
                tail = context.codes[-self.prompt_frames :]
                acoustic, _ = generate_acoustic(
                    self.model, semantic, tail[:, 0], tail[:, 1:], self.prompt_frames,
                    self.window_frames, seed + index, **self.generate_kwargs,
                )  # fmt: skip
                codes = np.concatenate([semantic[:, None], acoustic], axis=1)
                context = Voice(piece, codes)
            records.append({"text": piece, "start": frame, "end": frame + len(codes)})
            outputs.append(codes)
            frame += len(codes)
            bar.update(1)
        bar.close()
        return np.concatenate(outputs), records

    def _semantic(self, ids, prompt, seed):
        """The text-to-semantic model's new tokens int32 `[N]` for text ids after `prompt`.

        Text and prompt are padded to buckets (their real lengths passed), so
        the compiled decode is reused across pieces; the stop rule (end of
        speech, or 16 tokens per real text id) is the model's own.
        """
        text = _padded(ids, TEXT_BUCKET)
        prompt_ids = _padded(prompt, PROMPT_BUCKET)
        tokens = self.text_to_semantic.generate(
            text[None],
            prompt_semantic=prompt_ids[None],
            text_lengths=[len(ids)],
            prompt_lengths=[len(prompt)],
            seed=seed,
            max_length=TOKENS_PER_TEXT_ID * len(text) + 1,
            **self.sampling,
        )
        return _until_end(np.asarray(tokens)[0])

    def chunks(self, voice, codes):
        """Decoded float32 chunks of `codes` (the end of `voice` decoded before them, then cut)."""
        if not len(codes):
            return
        tail = voice.codes[-self.prompt_frames :]
        skip = len(tail) * self.codec.hop_length
        position = 0
        for chunk in self.windowed.decode_chunks(np.concatenate([tail, codes])):
            begin = max(0, skip - position)
            position += len(chunk)
            if begin < len(chunk):
                yield chunk[begin:]


def speak(
    text_to_semantic,
    model,
    codec,
    text,
    prompt_audio,
    prompt_text,
    prompt_rate=None,
    prompt_seconds=3.0,
    window_seconds=20.0,
    max_piece_symbols=None,
    seed=0,
    temperature=1.0,
    top_k=None,
    top_p=1.0,
    symbol_table=None,
    progress=True,
    **generate_kwargs,
):
    """Says `text` in the voice of `prompt_audio`.

    Args:
        text_to_semantic: a `kss.TextToSemantic` emitting `codec`'s level-1
            tokens (e.g. from `kss.convert.uslm`), with its `symbols`.
        model: a `kss.SoundStorm` generating `codec`'s levels 2.. from level 1.
        codec: a `kss.codecs.SpeechTokenizer`.
        text: what to say (English); split at sentence ends into pieces of at
            most `max_piece_symbols` phoneme symbols.
        prompt_audio: float waveform `[N]` or `[N, channels]` at
            `prompt_rate` (default: the codec's rate): the voice.
        prompt_text: its transcript (required: the text-to-semantic model
            continues the prompt's words).
        prompt_seconds: seconds of the prompt's end used as SoundStorm's
            acoustic prompt (the text-to-semantic model sees the whole prompt,
            which its transcript describes), and of each piece carried into
            the next.
        window_seconds: frames per SoundStorm `generate` call, prompt included.
        max_piece_symbols: phoneme symbols per text piece (default:
            `SYMBOLS_PER_SECOND x (window_seconds - prompt_seconds)`).
        seed: piece k uses `seed + k` (text-to-semantic and SoundStorm).
        temperature, top_k, top_p: the text-to-semantic sampling (USLM: 1,
            none, 1).
        symbol_table: a `kss.text.SymbolTable` (default: the model's `symbols`).
        progress: a tqdm bar over the pieces.
        **generate_kwargs: passed to SoundStorm's `generate` (`steps_per_level`, ...).

    Returns:
        A `Speech`: the waveform at the codec's rate (the prompt removed),
        the codes and the pieces.

    Raises:
        ValueError: empty text, nothing speakable, a prompt without
            transcript, a symbol the table lacks, or models that are not a chain.
    """
    speaker = Speaker(
        text_to_semantic, model, codec, prompt_seconds, window_seconds, max_piece_symbols,
        temperature, top_k, top_p, symbol_table, **generate_kwargs,
    )  # fmt: skip
    check_text(text)
    voice = speaker.voice(prompt_audio, prompt_text, prompt_rate)
    codes, pieces = speaker.codes(text, voice, seed, progress)
    chunks = list(speaker.chunks(voice, codes))
    waveform = np.concatenate(chunks) if chunks else np.zeros(0, "float32")
    return Speech(waveform, codec.sample_rate, codes, pieces, len(waveform))


def speak_files(
    text_to_semantic_preset, model_preset, codec_preset, text, prompt_path, prompt_text,
    output_path, progress=True, **kwargs,
):  # fmt: skip
    """`speak` from presets and a prompt file, streaming the WAV to `output_path`.

    Returns a `Speech` without `waveform` (it is in the file).
    """
    text_to_semantic, model, codec = load_chain(text_to_semantic_preset, model_preset, codec_preset)
    check_text(text)
    seed = kwargs.pop("seed", 0)
    speaker = Speaker(text_to_semantic, model, codec, **kwargs)
    prompt, rate = audio.load(prompt_path)
    voice = speaker.voice(prompt, prompt_text, rate)
    codes, pieces = speaker.codes(text, voice, seed, progress)
    if not len(codes):
        raise ValueError("The text-to-semantic model ended every piece at once: nothing to write.")
    written = 0
    with audio.WavWriter(output_path, codec.sample_rate, clip=True) as writer:
        for chunk in speaker.chunks(voice, codes):
            writer.write(chunk)
            written += len(chunk)
    return Speech(None, codec.sample_rate, codes, pieces, written)


def load_chain(text_to_semantic_preset, model_preset, codec_preset):
    """`(TextToSemantic, SoundStorm, SpeechTokenizer)` from their preset directories."""
    from keras_soundstorm.codecs import SpeechTokenizer
    from keras_soundstorm.models.soundstorm import SoundStorm
    from keras_soundstorm.models.text_to_semantic import TextToSemantic

    return (
        TextToSemantic.from_preset(text_to_semantic_preset),
        SoundStorm.from_preset(model_preset),
        SpeechTokenizer.from_preset(codec_preset),
    )


def check_text(text, name="text"):
    """Raises ValueError unless `text` is a non-empty string."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"`{name}` must be a non-empty string; got {text!r}.")


def text_frontend(text_to_semantic, symbol_table=None):
    """The `TextFrontend` of a text-to-semantic model (its `symbol_table`, or `symbol_table`)."""
    if symbol_table is None:
        symbol_table = getattr(text_to_semantic, "symbol_table", None)
        if symbol_table is None:
            raise ValueError(
                "The text-to-semantic model has no phoneme symbol table (`symbol_table`): convert "
                "it with its symbol table (`kss.convert.uslm`) or pass `symbol_table`."
            )
    if symbol_table.vocabulary_size > text_to_semantic.backbone.text_vocabulary_size:
        raise ValueError(
            f"The symbol table has {symbol_table.vocabulary_size} ids, more than the model's "
            f"text vocabulary ({text_to_semantic.backbone.text_vocabulary_size})."
        )
    return TextFrontend(symbol_table)


def split_text(text, frontend, max_symbols):
    """`text` -> pieces of at most `max_symbols` phoneme symbols, split at sentence ends.

    Sentences are grouped greedily; a longer sentence is split at clause
    punctuation, then between words. Parts with nothing speakable are
    dropped; if nothing is left, a ValueError says so.
    """
    check_text(text)
    units = []
    for sentence in _SENTENCE_BREAK.split(text.strip()):
        units += _fitted(sentence, frontend, max_symbols)
    if not units:
        raise ValueError(f"`text` has nothing speakable: {text!r}.")
    pieces, current, size = [], [], 0
    for part, count in units:
        if current and size + 1 + count > max_symbols:
            pieces.append(" ".join(current))
            current, size = [], 0
        size += count + (1 if current else 0)
        current.append(part)
    pieces.append(" ".join(current))
    return pieces


def _fitted(sentence, frontend, max_symbols):
    """`[(part, symbols)]` of one sentence, each part within `max_symbols` where possible."""
    count = _symbol_count(sentence, frontend)
    if count is None:
        return []
    if count <= max_symbols:
        return [(sentence.strip(), count)]
    clauses = _CLAUSE_BREAK.split(sentence.strip())
    if len(clauses) > 1:
        return [unit for clause in clauses for unit in _fitted(clause, frontend, max_symbols)]
    words = sentence.split()
    if len(words) < 2:
        return [(sentence.strip(), count)]
    parts = math.ceil(count / max_symbols)
    size = math.ceil(len(words) / parts)
    chunks = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    return [unit for chunk in chunks for unit in _fitted(chunk, frontend, max_symbols)]


def _symbol_count(text, frontend):
    """Symbols of `text` (None if nothing speakable; ValueError for a symbol the table lacks)."""
    if not text.strip():
        return None
    try:
        text_to_symbols(text, frontend.language)
    except ValueError:
        return None
    return len(frontend.symbols(text))


def _padded(ids, bucket):
    """int32 `ids` right-padded with zeros to a multiple of `bucket`."""
    ids = np.asarray(ids, "int32")
    return np.pad(ids, (0, (-len(ids)) % bucket))


def _until_end(tokens):
    """Generated tokens up to the first -1 (the end marker of `TextToSemantic.generate`)."""
    ends = np.flatnonzero(tokens < 0)
    return tokens[: ends[0] if len(ends) else len(tokens)].astype("int32")


__all__ = ["Speaker", "Speech", "Voice", "check_text", "load_chain", "speak", "speak_files",
           "split_text", "text_frontend"]  # fmt: skip
