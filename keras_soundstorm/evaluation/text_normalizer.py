"""English text normalisation for word error rates, in the manner of Whisper's.

Whisper's papers score WER after normalising both reference and hypothesis so
that spelling conventions are not counted as errors. `normalize_english`
behaves like Whisper's English normaliser for case, punctuation, contractions,
titles and numbers (written for this project; openai-whisper's normalizer was
read to learn which cases matter):

- lower case; text in brackets / parentheses and fillers ("um", "uh") dropped;
- contractions expanded ("won't" -> "will not", "we're" -> "we are", "'s" ->
  " is"), titles spelled out ("mr" -> "mister", "dr" -> "doctor");
- punctuation and symbols become spaces, diacritics are dropped ("café" ->
  "cafe"); "." "%" and currency signs survive only next to digits;
- spelled-out numbers become digits: "twenty one" -> "21", "two hundred and
  five" -> "205", "nineteen sixty" -> "1960", "one oh one" -> "101", "three
  point one four" -> "3.14", "two and a half" -> "2.5", "first" -> "1st",
  "the nineties" -> "the 90s", "double seven" -> "77", "fifty percent" ->
  "50%", "five dollars" -> "$5", "1,000" -> "1000"; a lone "one" stays
  "one" (readability, as in Whisper);
- a few British spellings become American ("colour" -> "color"); Whisper
  uses a list of ~1700, this module a short one (`BRITISH_TO_AMERICAN`).

Known differences from Whisper's: "oh" / "o" count as zero only next to
another number word (Whisper turns every "oh" into "0"), and the spelling
list is short.

Example:

```python
normalize_english("Mr. Smith paid $20, didn't he?")   # "mister smith paid $20 did not he"
normalize_english("It's twenty-one degrees.")          # "it is 21 degrees"
```
"""

import re
import unicodedata
from fractions import Fraction

# === Word tables ===
_UNITS = "zero one two three four five six seven eight nine".split()
_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
SMALL = {word: value for value, word in enumerate(_UNITS + _TEENS)}  # 0..19
TENS = {word: 20 + 10 * k for k, word in enumerate(_TENS)}
SCALES = {"hundred": 100, "thousand": 10**3, "million": 10**6, "billion": 10**9}
SCALES["trillion"] = 10**12
ZERO_WORDS = {"oh", "o"}  # zero only beside another number word

_ORDINAL_IRREGULAR = {
    "first": "one",
    "second": "two",
    "third": "three",
    "fifth": "five",
    "eighth": "eight",
    "ninth": "nine",
    "twelfth": "twelve",
}


def _ordinal_words():
    """`{"first": ("one", "st"), "twentieth": ("twenty", "th"), ...}`."""
    table = {}
    for cardinal in list(SMALL) + list(TENS) + list(SCALES):
        if cardinal == "zero":
            continue
        irregular = {v: k for k, v in _ORDINAL_IRREGULAR.items()}.get(cardinal)
        if irregular:
            word = irregular
        elif cardinal.endswith("y"):
            word = cardinal[:-1] + "ieth"
        else:
            word = cardinal + "th"
        table[word] = (cardinal, "th")  # the suffix follows the final digit
    return table


def _plural_words():
    """`{"twenties": "twenty", "sixes": "six", "hundreds": "hundred", ...}` ("ones" excluded)."""
    table = {}
    for cardinal in list(SMALL) + list(TENS) + list(SCALES):
        if cardinal in ("zero", "one"):
            continue
        if cardinal.endswith("y"):
            table[cardinal[:-1] + "ies"] = cardinal
        elif cardinal.endswith("x"):
            table[cardinal + "es"] = cardinal
        else:
            table[cardinal + "s"] = cardinal
    return table


ORDINALS = _ordinal_words()
PLURALS = _plural_words()
CURRENCIES = {
    "dollar": "$",
    "dollars": "$",
    "pound": "£",
    "pounds": "£",
    "euro": "€",
    "euros": "€",
}
CENTS = {"cent", "cents"}
SIGNS = {"minus": "-", "negative": "-", "plus": "+"}
FILLERS = ("hmm", "mm", "mhm", "mmm", "uh", "um", "er", "erm")

# Whole-word contractions first, then suffix rules (order matters).
CONTRACTIONS = (
    (r"\bwon't\b", "will not"),
    (r"\bcan't\b", "can not"),
    (r"\bshan't\b", "shall not"),
    (r"\blet's\b", "let us"),
    (r"\bain't\b", "aint"),
    (r"\by'all\b", "you all"),
    (r"\bma'am\b", "madam"),
    (r"\bgonna\b", "going to"),
    (r"\bgotta\b", "got to"),
    (r"\bwanna\b", "want to"),
    (r"\b(could|would|should)a\b", r"\1 have"),
    (r"'s (been|gone|got)\b", r" has \1"),
    (r"'d (been|gone|done)\b", r" had \1"),
    (r"n't\b", " not"),
    (r"'re\b", " are"),
    (r"'s\b", " is"),
    (r"'d\b", " would"),
    (r"'ll\b", " will"),
    (r"'ve\b", " have"),
    (r"'m\b", " am"),
)
TITLES = {
    "mr": "mister",
    "mrs": "missus",
    "ms": "miss",
    "dr": "doctor",
    "st": "saint",
    "prof": "professor",
    "jr": "junior",
    "sr": "senior",
    "capt": "captain",
    "lt": "lieutenant",
    "gen": "general",
    "sen": "senator",
    "rev": "reverend",
}
BRITISH_TO_AMERICAN = {
    "colour": "color",
    "colours": "colors",
    "favourite": "favorite",
    "favour": "favor",
    "honour": "honor",
    "neighbour": "neighbor",
    "neighbours": "neighbors",
    "flavour": "flavor",
    "behaviour": "behavior",
    "harbour": "harbor",
    "labour": "labor",
    "centre": "center",
    "centres": "centers",
    "theatre": "theater",
    "metre": "meter",
    "metres": "meters",
    "litre": "liter",
    "grey": "gray",
    "travelled": "traveled",
    "travelling": "traveling",
    "cancelled": "canceled",
    "jewellery": "jewelry",
    "realise": "realize",
    "realised": "realized",
    "organise": "organize",
    "organised": "organized",
    "recognise": "recognize",
    "recognised": "recognized",
    "apologise": "apologize",
    "programme": "program",
    "catalogue": "catalog",
    "defence": "defense",
    "licence": "license",
    "tyre": "tire",
    "tyres": "tires",
    "cheque": "check",
    "aluminium": "aluminum",
    "mum": "mom",
}
_KEEP = ".%$£€¢+-"
_DIACRITIC_LETTERS = {"æ": "ae", "œ": "oe", "ø": "o", "ß": "ss", "đ": "d", "ð": "d", "þ": "th"}
_NUMBER = re.compile(r"^\d+(\.\d+)?$")
_ORDINAL_SUFFIX = {"1": "st", "2": "nd", "3": "rd"}


def _strip_symbols(text):
    """Punctuation and symbols -> spaces (except `_KEEP`); diacritics dropped."""
    out = []
    for char in unicodedata.normalize("NFKD", text):
        if char in _DIACRITIC_LETTERS:
            out.append(_DIACRITIC_LETTERS[char])
        elif char in _KEEP:
            out.append(char)
        elif unicodedata.category(char) == "Mn":
            continue
        elif unicodedata.category(char)[0] in "MSP":
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)


def _is_number_word(word):
    return (
        word in SMALL
        or word in TENS
        or word in SCALES
        or word in ORDINALS
        or word in PLURALS
        or bool(_NUMBER.match(word))
    )


class _Number:
    """One spoken cardinal being parsed: `total` (above 1000s) + `small` (below)."""

    def __init__(self):
        self.total, self.small, self.last = 0, 0, None  # last: kind of the last word
        self.empty = True

    def accepts(self, kind, value):
        """Whether the word continues this cardinal (else it starts a new one)."""
        if self.empty:
            return True
        if kind == "unit":  # 1..9
            return self.last in ("tens", "hundred", "scale")
        if kind in ("teen", "tens"):  # 10..19, 20..90
            return self.last in ("hundred", "scale")
        if kind == "hundred":
            return self.last in ("unit", "teen", "tens") and self.small < 100
        if kind == "scale":
            below = self.total % (value * 1000) if self.total else 0
            return (
                self.last != "scale"
                and below == 0
                and self.total < value * 1000
                or (self.last in ("unit", "teen", "tens", "hundred") and self.total == 0)
            )
        return False

    def add(self, kind, value):
        if kind in ("unit", "teen", "tens"):
            self.small += value
        elif kind == "hundred":
            self.small = max(self.small, 1) * 100  # "a hundred" -> 100
        elif kind == "scale":
            self.total += max(self.small, 1) * value
            self.small = 0
        self.last, self.empty = kind, False

    @property
    def value(self):
        return self.total + self.small


def _kind(word):
    """`(kind, value)` of a cardinal word."""
    if word in SMALL:
        value = SMALL[word]
        return ("unit" if value < 10 else "teen"), value
    if word in TENS:
        return "tens", TENS[word]
    if word == "hundred":
        return "hundred", 100
    return "scale", SCALES[word]


def _spoken_number(words):
    """Cardinal words (no zeros, no suffix) -> a digit string.

    Cardinals that cannot continue each other are written one after the other,
    as speakers mean them: "nineteen sixty" -> "1960", "one two three" -> "123".
    """
    digits, current = "", _Number()
    for word in words:
        kind, value = _kind(word)
        if not current.accepts(kind, value):
            digits += str(current.value)
            current = _Number()
        current.add(kind, value)
    if not current.empty:
        digits += str(current.value)
    return digits


def _scaled(digits, scale):
    """A digit string times a scale word's value ("1.5", "million" -> "1500000")."""
    product = Fraction(digits) * SCALES[scale]
    return str(product.numerator) if product.denominator == 1 else str(float(product))


def _numbers_in(words):
    """Rewrites runs of number words in a word list as digits."""
    out = []
    i = 0
    while i < len(words):
        word = words[i]
        if not _starts_number(words, i):
            out.append(word)
            i += 1
            continue
        digits, suffix, i = _read_number(words, i)
        out.append(digits + suffix)
    return out


def _starts_number(words, i):
    word = words[i]
    if word in ZERO_WORDS:
        return False  # "oh" alone is an interjection; inside a number it is read there
    if word in ("double", "triple"):
        return i + 1 < len(words) and (words[i + 1] in SMALL and SMALL[words[i + 1]] < 10)
    if word == "point":
        return i + 1 < len(words) and (words[i + 1] in SMALL and SMALL[words[i + 1]] < 10)
    return _is_number_word(word)


def _read_number(words, i):
    """Reads one spoken number from `words[i]`: `(digits, suffix, next index)`."""
    digits, pending, suffix = "", [], ""

    def flush():
        nonlocal digits, pending
        if pending:
            digits += _spoken_number(pending)
            pending = []

    while i < len(words):
        word = words[i]
        following = words[i + 1] if i + 1 < len(words) else None
        if word in SMALL or word in TENS or word == "hundred" or word in SCALES:
            if word in SCALES and not pending and digits and "." in digits:
                digits, i = _scaled(digits, word), i + 1  # "one point five million"
                continue
            if word in SCALES and not pending and digits and _NUMBER.match(digits):
                digits, i = _scaled(digits, word), i + 1  # "20 million"
                continue
            if word == "zero" or (word in SMALL and digits.endswith(".") and not pending):
                flush()
                digits += str(SMALL[word])  # decimals and "zero" read digit by digit
            else:
                pending.append(word)
        elif word in ZERO_WORDS and (pending or digits) and following is not None:
            flush()
            digits += "0"
        elif word in ("double", "triple") and following in SMALL and SMALL[following] < 10:
            flush()
            digits += str(SMALL[following]) * (2 if word == "double" else 3)
            i += 1
        elif (
            word == "point"
            and following is not None
            and ((following in SMALL and SMALL[following] < 10) or following in ZERO_WORDS)
        ):
            flush()
            digits = (digits or "0") + "."
        elif (
            word == "and"
            and pending
            and pending[-1] in SCALES
            and following
            in {
                *SMALL,
                *TENS,
                *ORDINALS,
            }
        ):
            pass  # "two hundred and five"
        elif word == "and" and following == "a" and i + 2 < len(words) and words[i + 2] == "half":
            flush()
            digits = str(Fraction(digits or "0") + Fraction(1, 2))
            digits = digits if "/" not in digits else str(float(Fraction(digits)))
            i += 3
            break
        elif word in ORDINALS and not digits.endswith("."):
            cardinal, suffix = ORDINALS[word]
            pending.append(cardinal)
            i += 1
            break
        elif word in PLURALS and not digits.endswith("."):
            pending.append(PLURALS[word])
            suffix = "s"
            i += 1
            break
        elif _NUMBER.match(word) and not pending and (not digits or digits.endswith(".")):
            digits += word
        else:
            break
        i += 1
    flush()
    if suffix and suffix != "s":  # the ordinal suffix of the whole number: 21st, 112th
        last_two = digits[-2:]
        suffix = "th" if last_two in ("11", "12", "13") else _ORDINAL_SUFFIX.get(digits[-1:], "th")
    return digits.rstrip("."), suffix, i


def _units_and_signs(words):
    """Currency, percent and sign words beside numbers -> symbols on the number."""
    out = []
    i = 0
    while i < len(words):
        word = words[i]
        previous = out[-1] if out else ""
        following = words[i + 1] if i + 1 < len(words) else ""
        is_number = bool(re.match(r"^[-+]?[$£€]?\d+(\.\d+)?$", previous))
        if word in CURRENCIES and is_number and not re.match(r"^[-+]?[$£€]", previous):
            sign = previous[0] if previous[0] in "+-" else ""
            out[-1] = sign + CURRENCIES[word] + previous.lstrip("+-")
        elif word in CENTS and is_number and re.match(r"^\d{1,2}$", previous):
            # "five dollars and twenty cents" -> "$5.20"; "fifty cents" -> "¢50"
            if len(out) >= 3 and out[-2] == "and" and re.match(r"^[$£€]\d+$", out[-3]):
                cents = out.pop()
                out.pop()
                out[-1] = f"{out[-1]}.{int(cents):02d}"
            else:
                out[-1] = "¢" + previous
        elif word == "percent" and is_number:
            out[-1] = previous + "%"
        elif word == "per" and following == "cent" and is_number:
            out[-1] = previous + "%"
            i += 1
        elif word in SIGNS and re.match(r"^\d", following or "x"):
            words[i + 1] = SIGNS[word] + following
        else:
            out.append(word)
        i += 1
    return out


def _scale_digits(words):
    """ "20 million" / "$1.5 billion" (digits, then a scale word) -> one number."""
    out = []
    for word in words:
        match = re.match(r"^([-+]?[$£€]?)(\d+(?:\.\d+)?)$", out[-1]) if out else None
        if word in SCALES and word != "hundred" and match:
            out[-1] = match.group(1) + _scaled(match.group(2), word)
        else:
            out.append(word)
    return out


def _clean_symbols(word):
    """Drops symbols that are not attached to digits ("$", "%", ".") from a word."""
    word = re.sub(r"^[.$£€¢%]+(?!\d)", "", word)
    word = re.sub(r"(?<!\d)[$£€¢%]+$", "", word).rstrip(".$£€¢")
    return word


def _half_scales(text):
    """ "half a million" -> "0.5 million"."""
    scales = "|".join(SCALES)
    return re.sub(rf"\b(?:a half|half(?: a)?) ({scales})\b", r"0.5 \1", text)


def normalize_english(text):
    """`text` normalised for WER (see the module docstring): a str of space-separated words."""
    if not isinstance(text, str):
        raise ValueError(f"`text` must be a string; got {type(text).__name__}.")
    text = text.lower()
    text = re.sub(r"[<\[][^>\]]*[>\]]|\([^)]*\)", " ", text)
    text = text.replace("’", "'").replace("‘", "'")
    text = re.sub(r"\s+'", "'", text)
    for pattern, replacement in CONTRACTIONS:
        text = re.sub(pattern, replacement, text)
    text = re.sub(r"(\d),(\d)", r"\1\2", text)
    text = re.sub(r"\.(?!\d)", " ", text)  # periods not in numbers
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)  # "twenty-one", "well-known"
    text = _strip_symbols(text)
    text = re.sub(r"[-+](?!\d)", " ", text)  # signs not before digits
    text = re.sub(r"([a-z])(\d)", r"\1 \2", text)
    text = re.sub(r"(\d)([a-z])", r"\1 \2", text)
    text = re.sub(r"(\d) (st|nd|rd|th|s)\b", r"\1\2", text)  # "1960 s" -> "1960s"
    text = _half_scales(text)
    words = [TITLES.get(word, word) for word in text.split()]
    words = [word for word in words if word not in FILLERS]
    words = _units_and_signs(_numbers_in(_scale_digits(words)))
    words = [BRITISH_TO_AMERICAN.get(word, word) for word in words]
    words = [_clean_symbols(word) for word in " ".join(words).split()]
    text = re.sub(r"(?<![$£€¢.\d])\b1(s?)\b(?![.\d%])", r"one\1", " ".join(words))
    return " ".join(text.split())
