"""eSpeak NG through ctypes: free text in a voice -> audio with frame phonemes.

The eSpeak NG library and its data come from the `espeakng-loader` wheel and
are driven through ctypes (no system package, no `espeak` binary). eSpeak is
one global state machine, so every call holds one lock and loads a private
copy of the library afresh. `synthesize` returns an `Utterance` whose
phonemes, taken from eSpeak's phoneme events, are framed at a given rate;
`text_to_ipa` returns eSpeak's IPA transcription of texts (no audio), which
`keras_soundstorm.text` turns into a checkpoint's phoneme symbols.
"""

import atexit
import ctypes
import dataclasses
import math
import os
import shutil
import tempfile
import threading

import numpy as np

from keras_soundstorm import audio
from keras_soundstorm.data.phonemes import PHONEME_INVENTORY, SILENCE_ID, phoneme_id
from keras_soundstorm.data.voices import Voice


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
        sentence_id: index into `EspeakCorpus.sentences` (`SENTENCES` then
            `TUNING_SENTENCES`), or None for free text.
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
# espeak_TextToPhonemes: UTF-8 in; IPA out, "_" between the phonemes of a word.
_IPA_WITH_UNDERSCORES = 0x02 | ord("_") << 8


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


class _VoiceInfo(ctypes.Structure):
    # espeak_VOICE from speak_lib.h; `languages` is a priority byte, then a
    # NUL-terminated language name (then further pairs).
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
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


def _load_library():
    """A fresh private libespeak-ng handle and its data folder (hold the lock)."""
    library_path, data_path = _library_path()
    return _declare_signatures(ctypes.CDLL(library_path, mode=ctypes.RTLD_LOCAL)), data_path


def _unload_library(library):
    import _ctypes

    library.espeak_Terminate()
    unload = getattr(_ctypes, "dlclose", None) or _ctypes.FreeLibrary
    unload(library._handle)


def _voice_for_language(library, language):
    """The identifier of eSpeak's first (most relevant) voice for a language
    code like "en-us", skipping MBROLA voices (they need an extra program)."""
    voices = library.espeak_ListVoices(None)
    codes = []
    i = 0
    while voices[i]:
        voice = voices[i].contents
        code = voice.languages[1:].decode("utf-8", "replace")
        identifier = voice.identifier.decode("utf-8", "replace")
        if not identifier.replace("\\", "/").startswith("mb/"):
            if code == language:
                return identifier
            codes.append(code)
        i += 1
    raise ValueError(
        f"`language` must be a language code of an eSpeak NG voice, e.g. 'en-us'; got "
        f"{language!r}. Accepted: {', '.join(sorted(set(codes)))}."
    )


def text_to_ipa(texts, language="en-us"):
    """eSpeak NG's IPA transcription of each text, in one library session.

    Args:
        texts: list of str.
        language: an eSpeak NG language code ("en-us").

    Returns:
        A list of str, one per text: the phonemes of each clause eSpeak
        finds, joined by " ", with " " between words and "_" between the
        phonemes of a word, stress marks included (eSpeak's raw output).

    Raises:
        ValueError: unknown language (the message lists the accepted codes).
    """
    results = []
    with _ESPEAK_LOCK:
        library, data_path = _load_library()
        try:
            if library.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), 0) <= 0:
                raise RuntimeError(f"eSpeak NG failed to initialize (data: {data_path}).")
            _remember_version(library)
            if library.espeak_SetVoiceByName(_voice_for_language(library, language).encode()):
                raise RuntimeError(f"eSpeak NG failed to load the voice for {language!r}.")
            for text in texts:
                # espeak_TextToPhonemes reads one clause per call and moves the
                # pointer on, to NULL after the last one.
                buffer = ctypes.create_string_buffer(text.encode("utf-8"))
                pointer = ctypes.c_char_p(ctypes.addressof(buffer))
                clauses = []
                while pointer.value is not None:
                    phonemes = library.espeak_TextToPhonemes(
                        ctypes.byref(pointer), _CHARS_UTF8, _IPA_WITH_UNDERSCORES
                    )
                    if phonemes:
                        clauses.append(phonemes.decode("utf-8"))
                results.append(" ".join(clauses))
        finally:
            _unload_library(library)
    return results


def _espeak_synthesize(text, voice):
    """Speaks `text`; returns (int16 [N] at eSpeak's rate, rate, events).

    `events` is a list of `(milliseconds, mnemonic)` phoneme starts.

    eSpeak keeps synthesis state in function-level statics (e.g. the phase of
    its pitch "flutter"), so consecutive calls in one process differ slightly.
    Loading the library afresh for every utterance (and unloading it after)
    makes the output a pure function of text and voice; it costs ~5 ms.
    """
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
        library, data_path = _load_library()
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
            _unload_library(library)
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
        "espeak_ListVoices": ([ctypes.c_void_p], ctypes.POINTER(ctypes.POINTER(_VoiceInfo))),
        "espeak_TextToPhonemes": (
            [ctypes.POINTER(ctypes.c_char_p), c_int, c_int],
            ctypes.c_char_p,
        ),
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
    hop = check_rates(sample_rate, frame_rate, frame_multiple)
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


def check_rates(sample_rate, frame_rate, frame_multiple):
    """The hop length in samples; ValueError unless the rates are valid."""
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
