"""Offline multi-voice English speech from eSpeak NG, with frame-aligned phonemes.

The eSpeak NG library and its data come from the `espeakng-loader` wheel and
are driven through ctypes (no system package, no `espeak` binary). Each
utterance comes with its phoneme sequence at the codec frame rate, taken from
eSpeak's phoneme events, as ids into `PHONEME_INVENTORY`: the conditioning
vocabulary of a SoundStorm model trained on this corpus.

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

import atexit
import ctypes
import dataclasses
import hashlib
import math
import os
import re
import shutil
import tempfile
import threading
import zipfile

import numpy as np

from keras_soundstorm import audio
from keras_soundstorm.data.sentences import SENTENCES

# === The conditioning vocabulary (fixed: ids must never change) ===
# Built from eSpeak NG 1.52's phoneme tables `base1` and the English tables
# (`en`, `en-us`, `en-us-nyc`, `en-n`, `en-rp`, `en-sc`, `en-wi`, `en-wm`):
# every consonant-like phoneme, then every vowel bare, with secondary stress
# (",") and with primary stress ("'"), as eSpeak's phoneme events spell them.
# eSpeak's pauses ("_", "_:", ...) are silence. Id 0 is silence, which is also
# the padding id; anything eSpeak emits that is not listed maps to "<unk>".
_SPECIAL_PHONEMES = ("<sil>", "<unk>")
_CONSONANTS = (
    "*", "#X1", "?", "r", ";", "r/", "t", "p", "k", "n", "R", "R2", "R3", 'r"',
    "l", "l/", "j", "w", "l/2", "l/3", "l^", "l.", "L/", "L", "h", "m", "n.",
    "n^", "N", "**", "r.", "b", "d", "d[", "t[", "dZ", "tS", "dZ;", "tS;", "J",
    "c", "g", "B", "f", "v", "v#", "D", "T", "z", "s", "Z", "S", "z.", "s.",
    "z;", "s;", "Z;", "S;", "J^", "C", "Q", "x", "Q^", 'Q"', "q", "l#", "X",
    "t#", "t2", "d#", "z#", "z/2", "w#",
)  # fmt: skip
_VOWELS = (
    "@", "@-", "a", "e", "i", "o", "u", "m-", "n-", "N-", "r-", "l-", "3", "I2",
    "@2", "@5", "U", "@L", "a#", "a2", "aa", "A:", "E", "E#", "E2", "I", "I#",
    "I2#", "0", "0#", "02", "O2", "V", "A@", "A#", "3:", "i:", "O:", "O", "O@",
    "o@", "u:", "aU", "oU", "oU#", "aI", "eI", "OI", "e@", "i@", "i@3", "U@",
    "aI@", "aI3", "aU@", "IR", "VR", "o:", "A~", "O~", "e:", "e#", "a#2", "@#",
    "a/", "aI2",
)  # fmt: skip
PHONEME_INVENTORY = (
    _SPECIAL_PHONEMES
    + _CONSONANTS
    + tuple(stress + vowel for vowel in _VOWELS for stress in ("", ",", "'"))
)
SILENCE_ID = 0  # also the padding id
UNKNOWN_ID = 1
_PHONEME_IDS = {name: i for i, name in enumerate(PHONEME_INVENTORY)}

# === The voices ===
# eSpeak language names ("en" is British English).
LANGUAGES = (
    "en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
    "en-gb-x-gbcwmd", "en-029", "en-us-nyc",
)  # fmt: skip
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
PITCHES = (35, 50, 65)  # eSpeak pitch, 0..99 within the variant's range
RATES = (150, 180)  # words per minute
PITCH_RANGE = (0, 99)
RATE_RANGE = (80, 450)

# === Split rules (fixed) ===
# A sentence is held out iff its id % 10 == 9; a voice is held out iff its
# variant is one of these (so held-out voices have timbres never trained on).
HELDOUT_SENTENCE_MODULUS = 10
HELDOUT_VARIANTS = ("m7", "f5")
SPLITS = ("train", "heldout_sentences", "heldout_voices", "heldout_both")

_VOICE_PATTERN = re.compile(r"^([a-z0-9-]+)\+([a-z0-9]+)/p(\d+)/r(\d+)$")
_CACHE_FORMAT = 1


@dataclasses.dataclass(frozen=True, order=True)
class Voice:
    """An eSpeak voice: language, variant, pitch (0..99) and rate (words/min).

    Its `name` reads like `"en-us+m3/p50/r180"`; `Voice.parse` reverses it.
    """

    language: str
    variant: str
    pitch: int
    rate: int

    @property
    def name(self):
        return f"{self.language}+{self.variant}/p{self.pitch}/r{self.rate}"

    def __str__(self):
        return self.name

    @classmethod
    def parse(cls, voice):
        """A `Voice` from a name or a `Voice`; ValueError if not accepted."""
        if isinstance(voice, Voice):
            parsed = voice
        else:
            match = _VOICE_PATTERN.match(voice) if isinstance(voice, str) else None
            if match is None:
                raise ValueError(f"Unknown voice {voice!r}. {_accepted_voices()}")
            language, variant, pitch, rate = match.groups()
            parsed = cls(language, variant, int(pitch), int(rate))
        if (
            parsed.language not in LANGUAGES
            or parsed.variant not in VARIANTS
            or not PITCH_RANGE[0] <= parsed.pitch <= PITCH_RANGE[1]
            or not RATE_RANGE[0] <= parsed.rate <= RATE_RANGE[1]
        ):
            raise ValueError(f"Unknown voice {parsed.name!r}. {_accepted_voices()}")
        return parsed


def _accepted_voices():
    return (
        "Accepted voices are named LANGUAGE+VARIANT/pPITCH/rRATE with LANGUAGE in "
        f"{LANGUAGES}, VARIANT in {VARIANTS}, PITCH an int in "
        f"[{PITCH_RANGE[0]}, {PITCH_RANGE[1]}] and RATE (words per minute) an int "
        f"in [{RATE_RANGE[0]}, {RATE_RANGE[1]}], e.g. 'en-us+m3/p50/r180'. The "
        f"corpus grid uses PITCH in {PITCHES} and RATE in {RATES}."
    )


def all_voices():
    """The corpus voice grid: LANGUAGES x VARIANTS x PITCHES x RATES (576)."""
    return tuple(
        Voice(language, variant, pitch, rate)
        for language in LANGUAGES
        for variant in VARIANTS
        for pitch in PITCHES
        for rate in RATES
    )


@dataclasses.dataclass(frozen=True, eq=False)
class Utterance:
    """One rendered utterance.

    Attributes:
        waveform: float32 `[N]` in `[-1, 1]`, `N = T * sample_rate / frame_rate`
            (zero-padded at the end to whole frames).
        sample_rate: Hz.
        phoneme_ids: int32 `[T]` ids into `PHONEME_INVENTORY`, one per frame;
            frame `t` covers samples `[t * hop, (t + 1) * hop)`.
        frame_rate: frames per second.
        text: what was said.
        voice: the voice name.
        sentence_id: index into `SENTENCES`, or None for free text.
    """

    waveform: np.ndarray
    sample_rate: int
    phoneme_ids: np.ndarray
    frame_rate: int
    text: str
    voice: str
    sentence_id: int | None = None

    @property
    def phonemes(self):
        """The frame phonemes as names, `[T]` strings."""
        return [PHONEME_INVENTORY[i] for i in self.phoneme_ids]


def downsample_phonemes(phoneme_ids, ratio):
    """Keeps every `ratio`-th frame phoneme: `[..., T] -> [..., ceil(T / ratio)]`.

    With `ratio` = SoundStorm's `conditioning_rate_ratio` this turns 50 Hz
    frame phonemes into its conditioning tokens; `T` should be a multiple of
    `ratio` (see `EspeakCorpus(frame_multiple=...)`).
    """
    if isinstance(ratio, bool) or not isinstance(ratio, int | np.integer) or ratio < 1:
        raise ValueError(f"`ratio` must be a positive int; got {ratio!r}.")
    return np.asarray(phoneme_ids)[..., ::ratio]


def phoneme_id(mnemonic):
    """The vocabulary id of an eSpeak phoneme mnemonic (pauses are silence)."""
    if mnemonic.startswith("_") or mnemonic == "||":
        return SILENCE_ID
    return _PHONEME_IDS.get(mnemonic, UNKNOWN_ID)


# === eSpeak NG through ctypes ===
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAMETER_RATE = 1
_PARAMETER_VOLUME = 2
_PARAMETER_PITCH = 3
_PARAMETER_RANGE = 4
_PARAMETER_PUNCTUATION = 5
_PARAMETER_CAPITALS = 6
_PARAMETER_WORDGAP = 7
_RANDOM_SEED = 1


class _Event(ctypes.Structure):
    # espeak_EVENT from speak_lib.h; `id` is a union, of which phoneme events
    # use the 8-byte mnemonic string.
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms from the start of the synthesis
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)

# eSpeak is one global state machine: every call goes through this lock.
_ESPEAK_LOCK = threading.Lock()
_private_library_path = None
_espeak_version = None


def _library_path():
    """A private copy of libespeak-ng, so that no one else shares its state."""
    global _private_library_path
    if _private_library_path is None:
        try:
            import espeakng_loader
        except ImportError:
            raise ImportError(
                "EspeakCorpus needs the `espeakng-loader` wheel (it ships eSpeak "
                "NG): pip install espeakng-loader"
            ) from None
        folder = tempfile.mkdtemp(prefix="keras-soundstorm-espeak-")
        atexit.register(shutil.rmtree, folder, True)
        path = os.path.join(folder, os.path.basename(espeakng_loader.get_library_path()))
        shutil.copyfile(espeakng_loader.get_library_path(), path)
        _private_library_path = (path, espeakng_loader.get_data_path())
    return _private_library_path


def _espeak_synthesize(text, voice):
    """Speaks `text`; returns (int16 [N] at eSpeak's rate, rate, events).

    `events` is a list of `(milliseconds, mnemonic)` phoneme starts.

    eSpeak keeps synthesis state in function-level statics (e.g. the phase of
    its pitch "flutter"), so consecutive calls in one process differ slightly.
    Loading the library afresh for every utterance (and unloading it after)
    makes the output a pure function of text and voice; it costs ~5 ms.
    """
    import _ctypes

    library_path, data_path = _library_path()
    chunks, events = [], []

    def on_synth(samples, num_samples, event_list):
        if num_samples > 0:
            chunks.append(np.ctypeslib.as_array(samples, (num_samples,)).copy())
        i = 0
        while event_list[i].type != _EVENT_LIST_TERMINATED:
            event = event_list[i]
            if event.type == _EVENT_PHONEME:
                events.append((event.audio_position, event.id.decode("utf-8", "replace")))
            i += 1
        return 0

    callback = _SynthCallback(on_synth)
    encoded = text.encode("utf-8") + b"\0"
    with _ESPEAK_LOCK:
        library = _declare_signatures(ctypes.CDLL(library_path, mode=ctypes.RTLD_LOCAL))
        try:
            rate = library.espeak_Initialize(
                _AUDIO_OUTPUT_SYNCHRONOUS,
                0,
                data_path.encode(),
                _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT,
            )
            if rate <= 0:
                raise RuntimeError(f"eSpeak NG failed to initialize (data: {data_path}).")
            _remember_version(library)
            library.espeak_SetSynthCallback(callback)
            if library.espeak_SetVoiceByName(f"{voice.language}+{voice.variant}".encode()):
                raise ValueError(f"eSpeak NG has no voice {voice.name!r}.")
            for parameter, value in (
                (_PARAMETER_RATE, voice.rate),
                (_PARAMETER_PITCH, voice.pitch),
                (_PARAMETER_RANGE, 50),
                (_PARAMETER_VOLUME, 100),
                (_PARAMETER_PUNCTUATION, 0),
                (_PARAMETER_CAPITALS, 0),
                (_PARAMETER_WORDGAP, 0),
            ):
                library.espeak_SetParameter(parameter, value, 0)
            library.espeak_ng_SetRandSeed(_RANDOM_SEED)
            status = library.espeak_Synth(
                encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            library.espeak_Synchronize()
            if status != 0:
                raise RuntimeError(f"eSpeak NG failed to speak {text!r} (error {status}).")
        finally:
            library.espeak_Terminate()
            unload = getattr(_ctypes, "dlclose", None) or _ctypes.FreeLibrary
            unload(library._handle)
    waveform = np.concatenate(chunks) if chunks else np.zeros([0], "int16")
    return waveform, rate, events


def _declare_signatures(library):
    """C signatures from speak_lib.h, so ctypes passes sizes and pointers right."""
    c_int, c_uint = ctypes.c_int, ctypes.c_uint
    signatures = {
        "espeak_Initialize": ([c_int, c_int, ctypes.c_char_p, c_int], c_int),
        "espeak_SetSynthCallback": ([_SynthCallback], None),
        "espeak_SetVoiceByName": ([ctypes.c_char_p], c_int),
        "espeak_SetParameter": ([c_int, c_int, c_int], c_int),
        "espeak_ng_SetRandSeed": ([ctypes.c_long], c_int),
        "espeak_Synth": (
            [ctypes.c_char_p, ctypes.c_size_t, c_uint, c_int, c_uint, c_uint]
            + [ctypes.POINTER(c_uint), ctypes.c_void_p],
            c_int,
        ),
        "espeak_Synchronize": ([], c_int),
        "espeak_Terminate": ([], c_int),
        "espeak_Info": ([ctypes.c_void_p], ctypes.c_char_p),
    }
    for name, (argtypes, restype) in signatures.items():
        function = getattr(library, name)
        function.argtypes, function.restype = argtypes, restype
    return library


def _remember_version(library):
    global _espeak_version
    if _espeak_version is None:
        _espeak_version = library.espeak_Info(None).decode()


def espeak_version():
    """The eSpeak NG version string, e.g. "1.52.0"."""
    if _espeak_version is None:
        _espeak_synthesize("a", Voice("en-us", "m1", 50, 175))
    return _espeak_version


def synthesize(text, voice, sample_rate=16000, frame_rate=50, frame_multiple=1):
    """Speaks free text in a voice, with frame-aligned phonemes.

    Args:
        text: English text (str).
        voice: a `Voice` or a voice name like `"en-us+m3/p50/r180"`.
        sample_rate: Hz of the returned waveform.
        frame_rate: phoneme frames per second; must divide `sample_rate`.
        frame_multiple: the frame count is rounded up to a multiple of this.

    Returns:
        An `Utterance` (with `sentence_id=None`).

    Raises:
        ValueError: unknown voice (the message lists the accepted ones), or
            text eSpeak cannot speak (empty, or nothing pronounceable).
    """
    voice = Voice.parse(voice)
    hop = _check_rates(sample_rate, frame_rate, frame_multiple)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"`text` must be a non-empty string to speak; got {text!r}.")
    if "\0" in text:
        raise ValueError("`text` must not contain NUL characters.")
    samples, espeak_rate, events = _espeak_synthesize(text, voice)
    spoken = [(ms, name) for ms, name in events if phoneme_id(name) != SILENCE_ID]
    if not spoken or samples.size == 0:
        raise ValueError(f"eSpeak cannot speak {text!r}: it produced no phonemes.")
    waveform = audio.resample(samples.astype("float32") / 32768.0, espeak_rate, sample_rate)
    waveform = np.clip(waveform, -1.0, 1.0)
    duration = waveform.shape[0] / sample_rate
    num_frames = math.ceil(waveform.shape[0] / hop)
    num_frames = frame_multiple * math.ceil(num_frames / frame_multiple)
    waveform = np.pad(waveform, (0, num_frames * hop - waveform.shape[0]))
    phoneme_ids = _frame_phonemes(events, num_frames, frame_rate, duration)
    return Utterance(
        waveform=waveform.astype("float32"),
        sample_rate=sample_rate,
        phoneme_ids=phoneme_ids,
        frame_rate=frame_rate,
        text=text,
        voice=voice.name,
    )


def _frame_phonemes(events, num_frames, frame_rate, duration):
    """The phoneme sounding at each frame's centre: int32 [num_frames].

    A phoneme lasts from its event to the next one; before the first event and
    after the end of the audio there is silence.
    """
    starts = np.array([ms / 1000.0 for ms, _ in events])
    ids = np.array([phoneme_id(name) for _, name in events], "int32")
    centres = (np.arange(num_frames) + 0.5) / frame_rate
    current = np.searchsorted(starts, centres, side="right") - 1
    frame_ids = np.where(current >= 0, ids[np.maximum(current, 0)], SILENCE_ID)
    frame_ids[centres >= duration] = SILENCE_ID
    return frame_ids.astype("int32")


def _check_rates(sample_rate, frame_rate, frame_multiple):
    for name, value in (
        ("sample_rate", sample_rate),
        ("frame_rate", frame_rate),
        ("frame_multiple", frame_multiple),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"`{name}` must be a positive int; got {value!r}.")
    if sample_rate % frame_rate:
        raise ValueError(
            f"`frame_rate` ({frame_rate}) must divide `sample_rate` ({sample_rate}) "
            "so that every frame has a whole number of samples."
        )
    return sample_rate // frame_rate


class EspeakCorpus:
    """Speech synthesized offline by eSpeak NG, with frame-aligned phonemes.

    `len(SENTENCES)` (408) built-in English sentences times `len(voices)` (576)
    voices: 8 English accents x 12 voice variants (7 male, 5 female) x 3
    pitches x 2 speaking rates. Rendering is deterministic (same arguments,
    same bytes), and rendered utterances are cached on disk.

    Splits hold out sentences and voices by fixed rules: a sentence is held
    out iff `sentence_id % 10 == 9`; a voice is held out iff its variant is
    in `HELDOUT_VARIANTS` ("m7", "f5"). `"train"` pairs kept sentences with
    kept voices, `"heldout_sentences"` held-out sentences with kept voices,
    `"heldout_voices"` kept sentences with held-out voices and
    `"heldout_both"` held-out sentences with held-out voices.

    Args:
        sample_rate: Hz of the waveforms.
        frame_rate: phoneme frames per second (the codec frame rate); must
            divide `sample_rate`.
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
        self.hop_length = _check_rates(sample_rate, frame_rate, frame_multiple)
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
        self.sentences = SENTENCES
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
        heldout = _check_split(split) in ("heldout_sentences", "heldout_both")
        return [
            i
            for i in range(len(self.sentences))
            if (i % HELDOUT_SENTENCE_MODULUS == HELDOUT_SENTENCE_MODULUS - 1) == heldout
        ]

    def split_voices(self, split):
        """Voices of a split, in grid order."""
        heldout = _check_split(split) in ("heldout_voices", "heldout_both")
        return [v for v in self.voices if (v.variant in HELDOUT_VARIANTS) == heldout]

    def split(self, split, voices_per_sentence=4):
        """The `(sentence_id, voice_name)` pairs of a split.

        Every sentence of the split is paired with `voices_per_sentence` of the
        split's voices, dealt round-robin with a stride coprime to the number
        of voices (close to 0.618 of it), so all voices are used about equally
        and consecutive picks differ in accent, variant, pitch and rate.
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
        for k, sentence_id in enumerate(self.split_sentence_ids(split)):
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


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; accepted: {SPLITS}.")
    return split
