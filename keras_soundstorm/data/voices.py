"""The eSpeak voices: the corpus voice grid and its fixed train/held-out splits.

A `Voice` is a language, variant, pitch and rate; `all_voices` is the grid of
LANGUAGES x VARIANTS x PITCHES x RATES. Sentences and voices are held out by
fixed rules, giving the `SPLITS`; the tuning sentences (`TUNING_SENTENCES`)
form two more, for choosing decoding settings.
"""

import dataclasses
import re

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
# The tuning splits pair the tuning sentences with training / held-out voices.
SPLITS = (
    "train",
    "heldout_sentences",
    "heldout_voices",
    "heldout_both",
    "tuning",
    "tuning_heldout_voices",
)
HELDOUT_VOICE_SPLITS = ("heldout_voices", "heldout_both", "tuning_heldout_voices")
TUNING_SPLITS = ("tuning", "tuning_heldout_voices")

_VOICE_PATTERN = re.compile(r"^([a-z0-9-]+)\+([a-z0-9]+)/p(\d+)/r(\d+)$")


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


def check_split(split):
    """`split` if it is one of `SPLITS`; ValueError otherwise."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; accepted: {SPLITS}.")
    return split
