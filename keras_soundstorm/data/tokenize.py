"""Audio -> codec tokens -> TFRecords: the examples `write_token_records` takes.

Two sources:
- `espeak_examples`: the offline eSpeak corpus; conditioning = its 50 Hz
  frame-aligned phonemes, downsampled by the rate ratio r.
- `audio_file_examples`: a folder of audio files, unconditional (no
  conditioning tokens exist for arbitrary audio).
"""

import os

import numpy as np

from keras_soundstorm import audio
from keras_soundstorm.data.phonemes import downsample_phonemes
from keras_soundstorm.data.record_writer import write_token_records

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg")


def _aligned(codes, conditioning, rate_ratio):
    """Trims `codes [T, Q]` to a multiple of r frames and `conditioning` to T/r."""
    frames = codes.shape[0] // rate_ratio * rate_ratio
    if frames == 0:
        return None, None
    kept = None if conditioning is None else np.asarray(conditioning)[: frames // rate_ratio]
    return codes[:frames], kept


def espeak_examples(codec, corpus, pairs, rate_ratio=2, progress=True):
    """Yields one record example per `(sentence_id, voice)` pair of `corpus`."""
    if corpus.sample_rate != codec.sample_rate or corpus.frame_rate != codec.frame_rate:
        raise ValueError(
            f"The corpus renders {corpus.sample_rate} Hz / {corpus.frame_rate} frames/s but "
            f"the codec takes {codec.sample_rate} Hz / {codec.frame_rate} frames/s."
        )
    for utterance in corpus.utterances(pairs, progress=progress):
        codes = codec.encode(utterance.waveform[None])[0]
        phonemes = downsample_phonemes(utterance.phoneme_ids, rate_ratio)
        codes, conditioning = _aligned(codes, phonemes, rate_ratio)
        if codes is None:
            continue
        yield {
            "utterance_id": f"{utterance.sentence_id:04d}:{utterance.voice}",
            "codes": codes,
            "conditioning": conditioning,
            "speaker": str(utterance.voice),
            "text": utterance.text,
        }


def audio_file_examples(codec, paths, rate_ratio=1):
    """Yields one unconditional example per audio file (resampled to the codec's rate)."""
    for path in paths:
        waveform, _ = audio.load(path, sample_rate=codec.sample_rate)
        codes, _ = _aligned(codec.encode(waveform[None])[0], None, rate_ratio)
        if codes is None:
            raise ValueError(f"{path} is shorter than {rate_ratio} codec frames.")
        yield {"utterance_id": os.path.relpath(path), "codes": codes}


def find_audio_files(directory):
    """Audio files below `directory`, sorted; ValueError if there are none."""
    found = sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(directory)
        for name in names
        if name.lower().endswith(AUDIO_EXTENSIONS)
    )
    if not found:
        raise ValueError(f"No audio files ({', '.join(AUDIO_EXTENSIONS)}) under {directory!r}.")
    return found


def tokenize_to_records(
    codec, examples, path_prefix, conditioning_vocabulary_size, rate_ratio, **kw
):
    """Writes `examples` (from the functions above) with the codec's metadata."""
    return write_token_records(
        path_prefix,
        examples,
        codebook_size=codec.codebook_size,
        num_levels=codec.num_levels,
        conditioning_vocabulary_size=conditioning_vocabulary_size,
        conditioning_rate_ratio=rate_ratio,
        sample_rate=codec.sample_rate,
        frame_rate=codec.frame_rate,
        **kw,
    )


def espeak_voice_streams(codec, corpus, pairs, rate_ratio=2, progress=True):
    """Yields one record example per voice: all its utterances in `pairs`, back to back.

    Training crops of these streams span sentence boundaries, so a crop's
    prefix (the prompt SoundStorm's masking picks) is often another sentence
    by the same voice: the model learns to carry a voice from a prompt over
    to new text, as in voice-prompted generation. The concatenated waveform is
    encoded at once, as a prompt followed by its continuation would be.
    `corpus.frame_multiple` must be a multiple of `rate_ratio` so that every
    utterance keeps the conditioning aligned.
    """
    if corpus.frame_multiple % rate_ratio:
        raise ValueError(
            f"The corpus's `frame_multiple` ({corpus.frame_multiple}) must be a multiple of "
            f"`rate_ratio` ({rate_ratio}) to concatenate utterances without misaligning "
            "the conditioning."
        )
    by_voice = {}
    for sentence_id, voice in pairs:
        by_voice.setdefault(str(voice), []).append(sentence_id)
    from tqdm.auto import tqdm

    for voice, sentence_ids in tqdm(
        by_voice.items(), desc="voice streams", unit="voice", disable=not progress
    ):
        utterances = [corpus.utterance(i, voice) for i in sentence_ids]
        waveform = np.concatenate([u.waveform for u in utterances])
        phonemes = np.concatenate([u.phoneme_ids for u in utterances])
        codes = codec.encode(waveform[None])[0]
        codes, conditioning = _aligned(codes, downsample_phonemes(phonemes, rate_ratio), rate_ratio)
        yield {
            "utterance_id": voice,
            "codes": codes,
            "conditioning": conditioning,
            "speaker": voice,
            "text": " | ".join(u.text for u in utterances),
        }
