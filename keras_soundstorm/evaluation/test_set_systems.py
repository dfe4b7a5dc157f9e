"""The four systems of the test-set Table 1 for one utterance, for either kind of model pair.

- `"semantic"` pair: a SoundStorm generating a codec's levels 2.. from its
  level 1 (the converted SpeechTokenizer-SoundStorm): the conditioning is the
  test utterance's own RVQ-1 tokens (`codec.semantic_tokens`), and the prompt
  is the prompt audio's tokens (level 1 conditions, levels 2.. are kept).
- `"phonemes"` pair: a SoundStorm conditioned on eSpeak phonemes with its
  SoundStream (the shipped eSpeak pair). A recording has no phoneme timing, so
  the conditioning is approximate: eSpeak's frame phonemes of the transcript
  (`REFERENCE_VOICE`), stretched linearly to the recording's length; the
  prompt's phonemes likewise from its own transcripts. For eSpeak speech of
  the same words this follows the spoken timing closely; for real speech only
  roughly (pauses and speaking rate differ), which costs intelligibility that
  a forced aligner would not.

`render_systems` returns, per system, the speech of the utterance and the
prompt as that system renders it (for acoustic consistency).
"""

import numpy as np

from keras_soundstorm.data.espeak_engine import Utterance, synthesize
from keras_soundstorm.data.phonemes import PHONEME_INVENTORY
from keras_soundstorm.models.soundstorm.prompting import speak
from keras_soundstorm.pipelines import check_pair

SYSTEMS = ("original", "codec", "soundstorm, no prompt", "soundstorm, 3 s prompt")
REFERENCE_VOICE = "en-us+m3/p50/r165"
PAIR_KINDS = ("semantic", "phonemes")


def pair_kind(model, codec):
    """`"semantic"` or `"phonemes"` (see the module docstring); ValueError if neither fits."""
    backbone = model.backbone
    if hasattr(codec, "semantic_tokens"):
        check_pair(model, codec)
        return "semantic"
    problems = []
    if backbone.conditioning_vocabulary_size != len(PHONEME_INVENTORY):
        problems.append(
            f"its conditioning vocabulary ({backbone.conditioning_vocabulary_size}) is not the "
            f"eSpeak phoneme inventory ({len(PHONEME_INVENTORY)}) and the codec has no semantic "
            "tokens"
        )
    if backbone.num_levels != codec.num_levels or backbone.codebook_size != codec.codebook_size:
        problems.append(
            f"the model takes {backbone.num_levels} levels of {backbone.codebook_size} codes, "
            f"the codec makes {codec.num_levels} levels of {codec.codebook_size}"
        )
    if problems:
        raise ValueError(
            "This model / codec pair cannot be evaluated on a test set: " + "; ".join(problems)
            + ". Supported: a SpeechTokenizer-SoundStorm pair (conditioning = RVQ level 1) or "
            "an eSpeak-phoneme SoundStorm with its SoundStream."
        )  # fmt: skip
    return "phonemes"


def stretched_phonemes(text, num_frames):
    """eSpeak's frame phonemes of `text`, stretched to `num_frames`: int32 `[num_frames]`."""
    spoken = synthesize(text, REFERENCE_VOICE).phoneme_ids
    positions = (np.arange(num_frames) + 0.5) * len(spoken) / num_frames
    return spoken[np.minimum(positions.astype("int64"), len(spoken) - 1)].astype("int32")


def _frames(codec, num_samples, multiple):
    frames = -(-num_samples // codec.hop_length)
    return multiple * -(-frames // multiple)


def _padded(waveform, num_samples):
    return np.pad(waveform, (0, max(0, num_samples - len(waveform))))[:num_samples]


def build_prompt(codec, pieces, prompt_seconds, multiple):
    """The prompt of an utterance from other utterances of its speaker.

    Args:
        pieces: `(waveform, text)` pairs at the codec's rate, in order of use.
        multiple: prompt frames are a multiple of this (the conditioning ratio).

    Returns `(waveform [P * hop], [(text, frames), ...])`: the pieces joined
    and cut to `prompt_seconds` (fewer frames if they are shorter), and how
    many of each piece's frames it holds.
    """
    target = int(round(prompt_seconds * codec.frame_rate))
    target = multiple * max(1, -(-target // multiple))
    waveforms, parts, total = [], [], 0
    for waveform, text in pieces:
        frames = _frames(codec, len(waveform), 1)
        waveforms.append(_padded(waveform, frames * codec.hop_length))
        parts.append((text, frames))
        total += frames
        if total >= target:
            break
    frames = min(target, multiple * (total // multiple))
    if frames < multiple:
        raise ValueError(
            f"The prompt utterances last {total} frames, fewer than {multiple}: too short."
        )
    waveform = np.concatenate(waveforms)[: frames * codec.hop_length]
    return waveform, parts, frames


def _prompt_phonemes(parts, frames):
    phonemes = np.concatenate([stretched_phonemes(text, n) for text, n in parts])
    return phonemes[:frames]


def render_systems(model, codec, kind, waveform, text, prompt_pieces, prompt_seconds, seed):
    """Every system's speech of one utterance.

    Args:
        kind: `pair_kind(model, codec)`.
        waveform: float32 `[N]` the original, at the codec's rate.
        text: its transcript.
        prompt_pieces: `(waveform, text)` of other utterances of the speaker.

    Returns `(systems, prompt)`: `systems` maps each of `SYSTEMS` to
    `(speech [M], prompt rendering [P * hop])`; `prompt` is the original
    prompt audio (the voice to preserve).
    """
    backbone = model.backbone
    multiple = backbone.conditioning_rate_ratio
    hop = codec.hop_length
    prompt, parts, prompt_frames = build_prompt(codec, prompt_pieces, prompt_seconds, multiple)
    frames = _frames(codec, len(waveform), multiple)
    target = _padded(waveform, frames * hop)
    split = prompt_frames * hop

    if kind == "semantic":
        levels = backbone.num_levels + 1
        both = codec.encode(np.concatenate([prompt, target])[None], num_levels=levels)[0]
        rebuilt = codec.decode(both[None])[0]
        unprompted_semantic = codec.semantic_tokens(target[None])[0]
        generated = model.generate(conditioning=unprompted_semantic[None], seed=seed)[0]
        unprompted = codec.decode(
            np.concatenate([unprompted_semantic[:, None], generated], axis=1)[None]
        )[0]
        conditioning = both[:, 0]
        prompted_codes = model.generate(
            conditioning=conditioning[None], prompt_codes=both[None, :prompt_frames, 1:], seed=seed
        )[0]
        prompted = codec.decode(np.concatenate([conditioning[:, None], prompted_codes], 1)[None])[0]
        prompted_speech, prompted_prompt = prompted[split:], prompted[:split]
    else:
        both = codec.encode(np.concatenate([prompt, target])[None])
        rebuilt = codec.decode(both)[0]
        phonemes = stretched_phonemes(text, frames)
        unprompted = speak(model, codec, phonemes, prompt=None, seed=seed).waveform
        prompt_utterance = Utterance(
            waveform=prompt,
            sample_rate=codec.sample_rate,
            phoneme_ids=_prompt_phonemes(parts, prompt_frames),
            frame_rate=int(codec.frame_rate),
            text=" ".join(t for t, _ in parts),
            voice=REFERENCE_VOICE,
        )
        continuation = speak(model, codec, phonemes, prompt=prompt_utterance, seed=seed)
        prompted_speech, prompted_prompt = continuation.waveform, continuation.prompt_waveform

    n = len(waveform)
    codec_prompt = rebuilt[:split]
    systems = {
        "original": (waveform, prompt),
        "codec": (rebuilt[split:][:n], codec_prompt),
        "soundstorm, no prompt": (unprompted[:n], codec_prompt),
        "soundstorm, 3 s prompt": (prompted_speech[:n], prompted_prompt),
    }
    return systems, prompt
