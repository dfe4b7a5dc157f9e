"""English text -> IPA phonemes, as the USLM checkpoint's training data spells them.

USLM (lifeiteng's VALL-E tokenizer) phonemized LibriTTS with `phonemizer`'s
eSpeak backend (3.2.1, the release current in 2023): language "en-us",
punctuation kept, stress removed, "|" between the phonemes of a word, "_"
between words, no trailing separators (`strip=True`). `phonemize` reproduces
that string from eSpeak NG (shipped by `espeakng-loader`) without phonemizer,
which is GPL and only a test reference:

1. The text is cut at runs of punctuation marks (`PUNCTUATION_MARKS`, with
   the whitespace around them); eSpeak never sees the marks.
2. Each piece goes through eSpeak on its own; in its output the stress marks
   (and hyphens) are dropped, "_" becomes "|" and spaces become "_".
3. The marks are put back between the pieces, their spaces written as "_".

Quirks of the reference are kept on purpose, because the checkpoint was
trained on them: "1.50" is read as "one" "." "fifty" (the point is a mark),
brackets and dashes are not marks (eSpeak drops them silently), and a piece
eSpeak cannot say leaves only its marks.
"""

import re

from keras_soundstorm.data.espeak_engine import text_to_ipa

# phonemizer 3.2's default marks (3.3 added brackets, 3.4 exempted decimal
# points), as in the 2023 release USLM was trained with.
PUNCTUATION_MARKS = ';:,.!?¡¿—…"«»“”'
WORD_SEPARATOR = "_"
PHONE_SEPARATOR = "|"

# Runs of marks with the whitespace around them.
_MARKS_RE = re.compile(rf"(\s*[{re.escape(PUNCTUATION_MARKS)}]+\s*)+")
# Stress marks and the hyphens eSpeak leaves inside words.
_STRESS_RE = re.compile(r"[ˈˌ'-]+")


def phonemize(text, language="en-us"):
    """The phonemes of a text (or of each text in a list), phonemizer-identical.

    Args:
        text: a str, or a list of str (one eSpeak session for all of them).
        language: an eSpeak NG language code; the USLM checkpoint is "en-us".

    Returns:
        A str like "h|ə|l|oʊ,_w|ɜː|l|d!" (or a list of them). Text with nothing
        speakable gives its marks only, or "".

    Raises:
        ValueError: `text` is not a str / list of str, or unknown `language`.
    """
    texts = [text] if isinstance(text, str) else text
    if not isinstance(texts, list | tuple) or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"`text` must be a str or a list of str; got {text!r}.")
    if any("\0" in t for t in texts):
        raise ValueError("`text` must not contain NUL characters.")
    split = [_split_at_marks(t) for t in texts]
    pieces = [piece for pieces, _ in split for piece in pieces]
    ipa = iter(text_to_ipa(pieces, language))
    results = []
    for pieces, marks in split:
        phonemes = [_format_ipa(next(ipa)) for _ in pieces]
        results.append(_join_with_marks(phonemes, marks))
    return results[0] if isinstance(text, str) else results


def _split_at_marks(text):
    """The non-empty pieces between runs of marks, and the runs as
    `(mark, where)` with where "start", "end" or "inside"."""
    matches = list(_MARKS_RE.finditer(text))
    if not matches:
        return ([text] if text else []), []
    if len(matches) == 1 and matches[0].group() == text:
        return [], [(text, "inside")]
    pieces, marks, begin = [], [], 0
    for i, match in enumerate(matches):
        if i == 0 and match.start() == 0:
            where = "start"
        elif i == len(matches) - 1 and match.end() == len(text):
            where = "end"
        else:
            where = "inside"
        marks.append((match.group(), where))
        pieces.append(text[begin : match.start()])
        begin = match.end()
    pieces.append(text[begin:])
    return [piece for piece in pieces if piece], marks


def _format_ipa(ipa):
    """eSpeak's "h_ə_l_ˈoʊ w_ˈɜː_l_d" -> "h|ə|l|oʊ_w|ɜː|l|d"."""
    line = ipa.strip().replace("\n", " ").replace("  ", " ")
    # eSpeak can end a word with extra "_" (espeak-ng issue 694).
    line = re.sub("_+", "_", line)
    line = line.replace("_ ", " ")
    if not line:
        return ""
    words = [_STRESS_RE.sub("", word.strip()) for word in line.split(" ")]
    return WORD_SEPARATOR.join(word.replace("_", PHONE_SEPARATOR) for word in words)


def _join_with_marks(phonemes, marks):
    """Puts the runs of marks back between the phonemized pieces (spaces in a
    run become word separators); returns the first line, as the reference's
    tokenizer uses."""
    lines = []
    for i, (mark, where) in enumerate(marks):
        if not phonemes:
            # Nothing (left) to phonemize: the remaining marks alone.
            lines.append("".join(m for m, _ in marks[i:]).replace(" ", WORD_SEPARATOR))
            break
        mark = mark.replace(" ", WORD_SEPARATOR)
        phonemes[0] = phonemes[0].removesuffix(WORD_SEPARATOR)
        if where == "start":
            phonemes[0] = mark + phonemes[0]
        elif where == "end":
            lines.append(phonemes.pop(0) + mark)
        elif len(phonemes) == 1:
            phonemes[0] += mark
        else:
            phonemes[1] = phonemes[0] + mark + phonemes[1]
            phonemes.pop(0)
    lines += phonemes
    return lines[0] if lines else ""
