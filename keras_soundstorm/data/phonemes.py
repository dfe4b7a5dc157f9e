"""The phoneme vocabulary that conditions SoundStorm: eSpeak NG phonemes as ids.

`PHONEME_INVENTORY` is fixed (ids must never change); `phoneme_id` maps an
eSpeak phoneme mnemonic to its id and `downsample_phonemes` turns frame
phonemes into conditioning tokens at a lower rate.
"""

import numpy as np

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
