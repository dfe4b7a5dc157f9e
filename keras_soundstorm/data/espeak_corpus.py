"""Offline multi-voice English speech from eSpeak NG, with frame-aligned phonemes.

`EspeakCorpus` pairs the built-in `SENTENCES` (and the `TUNING_SENTENCES`)
with the voice grid, splits the
pairs by the fixed held-out rules, and keeps rendered utterances in an
on-disk cache. Each utterance comes with its phoneme sequence at the codec
frame rate, as ids into `PHONEME_INVENTORY`: the conditioning vocabulary of a
SoundStorm model trained on this corpus.

Example:

```python
corpus = EspeakCorpus(sample_rate=16000, frame_rate=50)
pairs = corpus.split("train")  # [(sentence_id, voice_name), ...]
utterance = corpus.utterance(*pairs[0])
utterance.waveform  # float32 [N], N = 320 * T
utterance.phoneme_ids  # int32 [T], one id per 20 ms frame
conditioning = downsample_phonemes(utterance.phoneme_ids, 2)  # 25 Hz
```
"""

import dataclasses
import hashlib
import math
import os
import tempfile
import zipfile

import numpy as np

from keras_soundstorm.data.espeak_engine import Utterance, check_rates, espeak_version, synthesize
from keras_soundstorm.data.phonemes import PHONEME_INVENTORY
from keras_soundstorm.data.sentences import SENTENCES, TUNING_SENTENCES
from keras_soundstorm.data.voices import (
    HELDOUT_SENTENCE_MODULUS,
    HELDOUT_VARIANTS,
    HELDOUT_VOICE_SPLITS,
    TUNING_SPLITS,
    Voice,
    all_voices,
    check_split,
)

_CACHE_FORMAT = 1


def _whole(value):
    """A float with no fractional part as an int (50.0 -> 50); anything else unchanged."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    return value


class EspeakCorpus:
    """Speech synthesized offline by eSpeak NG, with frame-aligned phonemes.

    `len(SENTENCES)` (408) built-in English sentences, and 24 tuning
    sentences (ids 408-431), times `len(voices)` (576)
    voices: 8 English accents x 12 voice variants (7 male, 5 female) x 3
    pitches x 2 speaking rates. Rendering is deterministic (same arguments,
    same bytes), and rendered utterances are cached on disk.

    Splits hold out sentences and voices by fixed rules: a sentence is held
    out iff `sentence_id % 10 == 9`; a voice is held out iff its variant is
    in `HELDOUT_VARIANTS` ("m7", "f5"). `"train"` pairs kept sentences with
    kept voices, `"heldout_sentences"` held-out sentences with kept voices,
    `"heldout_voices"` kept sentences with held-out voices and
    `"heldout_both"` held-out sentences with held-out voices. `"tuning"` and
    `"tuning_heldout_voices"` pair the `TUNING_SENTENCES` (ids from
    `len(SENTENCES)` on, never trained on or tested) with training and
    held-out voices: for choosing decoding settings.

    Args:
        sample_rate: Hz of the waveforms.
        frame_rate: phoneme frames per second (the codec frame rate); must
            divide `sample_rate`. Both are whole numbers (an int, or a float
            such as a codec's `frame_rate` of 50.0).
        frame_multiple: frame counts are rounded up (with silence) to a
            multiple of this, e.g. SoundStorm's `conditioning_rate_ratio`.
        cache_dir: where rendered utterances are kept. Defaults to
            `$XDG_CACHE_HOME/keras_soundstorm/espeak` (`~/.cache/...`); a
            sub-folder per eSpeak version and rates.
        cache: False renders every time and writes nothing.

    Example:

    ```python
    corpus = EspeakCorpus(frame_multiple=2)
    batch = corpus.utterances(corpus.split("heldout_sentences")[:8])
    corpus.phoneme_vocabulary_size  # the conditioning vocabulary size
    ```
    """

    def __init__(
        self,
        sample_rate=16000,
        frame_rate=50,
        frame_multiple=1,
        cache_dir=None,
        cache=True,
    ):
        # A codec's rates may be whole floats (SoundStream.frame_rate is 50.0).
        sample_rate, frame_rate = _whole(sample_rate), _whole(frame_rate)
        self.hop_length = check_rates(sample_rate, frame_rate, frame_multiple)
        self.sample_rate = int(sample_rate)
        self.frame_rate = int(frame_rate)
        self.frame_multiple = int(frame_multiple)
        self.cache = bool(cache)
        if cache_dir is None:
            cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.join(
                os.path.expanduser("~"), ".cache"
            )
            cache_dir = os.path.join(cache_home, "keras_soundstorm", "espeak")
        self.cache_dir = os.fspath(cache_dir)
        self.sentences = SENTENCES + TUNING_SENTENCES
        self.voices = all_voices()
        self.phoneme_inventory = PHONEME_INVENTORY

    @property
    def phoneme_vocabulary_size(self):
        """Number of conditioning ids (`len(PHONEME_INVENTORY)`); 0 = silence/pad."""
        return len(PHONEME_INVENTORY)

    @property
    def voice_names(self):
        return [voice.name for voice in self.voices]

    def split_sentence_ids(self, split):
        """Sentence ids of a split, ascending."""
        if check_split(split) in TUNING_SPLITS:
            return list(range(len(SENTENCES), len(SENTENCES) + len(TUNING_SENTENCES)))
        heldout = split in ("heldout_sentences", "heldout_both")
        return [
            i
            for i in range(len(SENTENCES))
            if (i % HELDOUT_SENTENCE_MODULUS == HELDOUT_SENTENCE_MODULUS - 1) == heldout
        ]

    def split_voices(self, split):
        """Voices of a split, in grid order."""
        heldout = check_split(split) in HELDOUT_VOICE_SPLITS
        return [v for v in self.voices if (v.variant in HELDOUT_VARIANTS) == heldout]

    def split(self, split, voices_per_sentence=4):
        """The `(sentence_id, voice_name)` pairs of a split.

        Every sentence of the split is paired with `voices_per_sentence` of the
        split's voices, dealt round-robin with a stride coprime to the number
        of voices (close to 0.618 of it), so all voices are used about equally
        and consecutive picks differ in accent, variant, pitch and rate. The
        tuning splits continue the deal where the held-out sentences' ends, so
        their voices are not the ones Table 1 evaluates (at one voice per
        sentence, while the split has voices to spare).
        """
        if (
            isinstance(voices_per_sentence, bool)
            or not isinstance(voices_per_sentence, int)
            or voices_per_sentence < 1
        ):
            raise ValueError(
                f"`voices_per_sentence` must be a positive int; got {voices_per_sentence!r}."
            )
        voices = self.split_voices(split)
        count = len(voices)
        voices_per_sentence = min(voices_per_sentence, count)
        stride = int(round(0.618 * count))
        while math.gcd(stride, count) != 1:
            stride += 1
        pairs = []
        start = len(self.split_sentence_ids("heldout_sentences")) if split in TUNING_SPLITS else 0
        for k, sentence_id in enumerate(self.split_sentence_ids(split), start=start):
            for j in range(voices_per_sentence):
                voice = voices[((k * voices_per_sentence + j) * stride) % count]
                pairs.append((sentence_id, voice.name))
        return pairs

    def utterance(self, sentence_id, voice):
        """One built-in sentence in one voice, from the cache or rendered."""
        if (
            isinstance(sentence_id, bool)
            or not isinstance(sentence_id, int | np.integer)
            or not 0 <= sentence_id < len(self.sentences)
        ):
            raise ValueError(
                f"`sentence_id` must be an int in [0, {len(self.sentences)}); got {sentence_id!r}."
            )
        sentence_id = int(sentence_id)
        voice = Voice.parse(voice)
        text = self.sentences[sentence_id]
        path = self._cache_path(sentence_id, voice, text)
        if self.cache and os.path.exists(path):
            cached = self._read_cache(path, sentence_id, voice, text)
            if cached is not None:
                return cached
        utterance = synthesize(text, voice, self.sample_rate, self.frame_rate, self.frame_multiple)
        utterance = dataclasses.replace(utterance, sentence_id=sentence_id)
        if self.cache:
            self._write_cache(path, utterance)
        return utterance

    def utterances(self, pairs, progress=True):
        """`utterance` for many `(sentence_id, voice)` pairs, with a progress bar."""
        from tqdm.auto import tqdm

        pairs = list(pairs)
        return [
            self.utterance(sentence_id, voice)
            for sentence_id, voice in tqdm(
                pairs,
                desc="eSpeak utterances",
                unit="utt",
                disable=not progress or len(pairs) < 2,
            )
        ]

    def synthesize(self, text, voice):
        """Free text in a voice at this corpus's rates (not cached)."""
        return synthesize(text, voice, self.sample_rate, self.frame_rate, self.frame_multiple)

    def _cache_path(self, sentence_id, voice, text):
        folder = (
            f"v{_CACHE_FORMAT}-espeak{espeak_version()}-{self.sample_rate}hz-"
            f"{self.frame_rate}fps-x{self.frame_multiple}"
        )
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]
        slug = voice.name.replace("+", "_").replace("/", "_")
        return os.path.join(self.cache_dir, folder, f"{sentence_id:04d}_{slug}_{digest}.npz")

    def _read_cache(self, path, sentence_id, voice, text):
        try:
            with np.load(path) as stored:
                waveform, phoneme_ids = stored["waveform"], stored["phoneme_ids"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None  # unreadable: render again and overwrite
        return Utterance(
            waveform=waveform,
            sample_rate=self.sample_rate,
            phoneme_ids=phoneme_ids,
            frame_rate=self.frame_rate,
            text=text,
            voice=voice.name,
            sentence_id=sentence_id,
        )

    def _write_cache(self, path, utterance):
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        handle, temp_path = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(file, waveform=utterance.waveform, phoneme_ids=utterance.phoneme_ids)
            os.replace(temp_path, path)
        except BaseException:
            if os.path.exists(temp_path):
                os.remove(temp_path)
            raise
