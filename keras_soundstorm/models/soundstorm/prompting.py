"""Voice-prompted speech: phonemes of new text + a short prompt in a voice -> speech.

The pieces the demo and the Table-1 evaluation share: a fixed-length eSpeak
prompt per voice, the conditioning that spans prompt and new text, and one
call that generates, decodes and times the continuation.
"""

import dataclasses
import time
import zlib

import numpy as np

from keras_soundstorm.data.espeak_engine import Utterance
from keras_soundstorm.data.phonemes import downsample_phonemes
from keras_soundstorm.data.voices import Voice

PROMPT_SECONDS = 3.0


def voice_prompt(corpus, voice, seconds=PROMPT_SECONDS, exclude_sentence_ids=()):
    """A `seconds`-long rendering in `voice` of training sentences: an `Utterance`.

    Training-split sentences (never `exclude_sentence_ids`) are spoken back to
    back until they last `seconds`, then cut to exactly
    `round(seconds * frame_rate)` frames (rounded up to `frame_multiple`). The
    choice of sentences depends only on the voice name, so a voice always gets
    the same prompt.
    """
    voice = Voice.parse(voice).name
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
        raise ValueError(f"`seconds` must be a positive number; got {seconds!r}.")
    frames = int(round(seconds * corpus.frame_rate))
    frames = corpus.frame_multiple * -(-frames // corpus.frame_multiple)
    candidates = [
        i for i in corpus.split_sentence_ids("train") if i not in set(exclude_sentence_ids)
    ]
    start = zlib.crc32(voice.encode()) % len(candidates)
    waveforms, phonemes, texts = [], [], []
    for k in range(len(candidates)):
        utterance = corpus.utterance(candidates[(start + k) % len(candidates)], voice)
        waveforms.append(utterance.waveform)
        phonemes.append(utterance.phoneme_ids)
        texts.append(utterance.text)
        if sum(len(p) for p in phonemes) >= frames:
            break
    hop = corpus.hop_length
    return Utterance(
        waveform=np.concatenate(waveforms)[: frames * hop],
        sample_rate=corpus.sample_rate,
        phoneme_ids=np.concatenate(phonemes)[:frames],
        frame_rate=corpus.frame_rate,
        text=" ".join(texts),
        voice=voice,
    )


@dataclasses.dataclass
class Continuation:
    """What `speak` produced.

    Attributes:
        waveform: float32 `[N]`, the new speech only (prompt cut off).
        codes: int32 `[T, Q]` tokens of the new speech.
        prompt_waveform: float32, the prompt as the codec renders it in the
            same decode (empty without a prompt).
        seconds: wall time of generation + decoding.
        sample_rate: Hz of the waveforms.
    """

    waveform: np.ndarray
    codes: np.ndarray
    prompt_waveform: np.ndarray
    seconds: float
    sample_rate: int

    @property
    def real_time_factor(self):
        """Compute seconds per second of speech produced (< 1: faster than real time)."""
        return self.seconds * self.sample_rate / max(len(self.waveform), 1)


def check_compatible(model, codec, corpus):
    """Raises ValueError unless model, codec and corpus agree on Q, C, rates and vocabulary."""
    backbone = model.backbone
    problems = []
    if backbone.num_levels != codec.num_levels or backbone.codebook_size != codec.codebook_size:
        problems.append(
            f"the model takes {backbone.num_levels} levels of {backbone.codebook_size} codes, "
            f"the codec makes {codec.num_levels} levels of {codec.codebook_size}"
        )
    if codec.sample_rate != corpus.sample_rate or codec.frame_rate != corpus.frame_rate:
        problems.append(
            f"the codec runs at {codec.sample_rate} Hz / {codec.frame_rate} frames/s, the corpus "
            f"at {corpus.sample_rate} Hz / {corpus.frame_rate}"
        )
    if backbone.conditioning_vocabulary_size != corpus.phoneme_vocabulary_size:
        problems.append(
            f"the model's conditioning vocabulary has {backbone.conditioning_vocabulary_size} "
            f"ids, the corpus's phoneme inventory {corpus.phoneme_vocabulary_size}"
        )
    if corpus.frame_multiple % backbone.conditioning_rate_ratio:
        problems.append(
            f"the corpus's frame_multiple ({corpus.frame_multiple}) is not a multiple of the "
            f"model's conditioning_rate_ratio ({backbone.conditioning_rate_ratio})"
        )
    if problems:
        raise ValueError("Model, codec and corpus do not fit together: " + "; ".join(problems))


def speak(model, codec, phoneme_ids, prompt=None, seed=0, **generate_kwargs):
    """Generates speech for frame phonemes `[T]`, continuing `prompt` if given.

    Args:
        model: a conditional `SoundStorm` whose tokens are `codec`'s.
        codec: the `SoundStream` that made its training tokens.
        phoneme_ids: int `[T]` frame phonemes of the new speech at the codec
            frame rate (`T` a multiple of the model's `conditioning_rate_ratio`).
        prompt: None, or an `Utterance` whose waveform and phonemes open the
            sequence (its codes are kept; its phonemes condition it).
        seed, generate_kwargs: passed to `model.generate`.

    Returns: a `Continuation`.
    """
    ratio = model.backbone.conditioning_rate_ratio
    phoneme_ids = np.asarray(phoneme_ids)
    if phoneme_ids.ndim != 1 or len(phoneme_ids) % ratio:
        raise ValueError(
            f"`phoneme_ids` must be [T] with T a multiple of {ratio}; got shape "
            f"{phoneme_ids.shape}."
        )
    start = time.perf_counter()
    prompt_codes, prompt_frames = None, 0
    if prompt is not None:
        prompt_codes = codec.encode(prompt.waveform[None])
        prompt_frames = prompt_codes.shape[1]
        if prompt_frames % ratio or len(prompt.phoneme_ids) != prompt_frames:
            raise ValueError(
                f"The prompt must span a multiple of {ratio} frames with one phoneme per frame; "
                f"got {prompt_frames} frames and {len(prompt.phoneme_ids)} phonemes."
            )
        phoneme_ids = np.concatenate([prompt.phoneme_ids, phoneme_ids])
    conditioning = downsample_phonemes(phoneme_ids, ratio)[None]
    codes = model.generate(
        conditioning=conditioning, prompt_codes=prompt_codes, seed=seed, **generate_kwargs
    )
    audio = codec.decode(codes)[0]
    seconds = time.perf_counter() - start
    split = prompt_frames * codec.hop_length
    return Continuation(
        waveform=audio[split:],
        codes=codes[0, prompt_frames:],
        prompt_waveform=audio[:split],
        seconds=seconds,
        sample_rate=codec.sample_rate,
    )
