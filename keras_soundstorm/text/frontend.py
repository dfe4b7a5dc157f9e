"""Text -> the USLM checkpoint's phoneme symbols -> text ids.

`text_to_symbols` splits `phonemize`'s string the way the checkpoint's
tokenizer does: per word (split at "_"), runs of word characters and single
other characters (punctuation) are symbols, "|" is dropped, and "_" is a
symbol between words. `TextFrontend` maps them through a `SymbolTable` and
adds `<bos>` / `<eos>`, as the checkpoint's inference does.
"""

import re
import string

from keras_soundstorm.text.phonemize import (
    PHONE_SEPARATOR,
    PUNCTUATION_MARKS,
    WORD_SEPARATOR,
    phonemize,
)
from keras_soundstorm.text.symbol_table import BOS, EOS, SymbolTable

_SYMBOL_RE = re.compile(r"\w+|[^\w\s]")


def split_symbols(phonemes):
    """A phonemized string -> its symbols: "h|ə|l|oʊ,_w|ɜː|l|d" ->
    ["h", "ə", "l", "oʊ", ",", "_", "w", "ɜː", "l", "d"]."""
    symbols = []
    for word in phonemes.split(WORD_SEPARATOR):
        symbols += [s for s in _SYMBOL_RE.findall(word) if s != PHONE_SEPARATOR]
        symbols.append(WORD_SEPARATOR)
    return symbols[:-1]


def _is_speakable(symbol):
    return any(c.isalnum() for c in symbol)


def text_to_symbols(text, language="en-us"):
    """English text -> the checkpoint's phoneme symbols (a list of str).

    Raises:
        ValueError: `text` is not a str, is empty, or has nothing speakable
            (e.g. only punctuation).
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"`text` must be a non-empty string; got {text!r}.")
    symbols = split_symbols(phonemize(text.strip(), language))
    if not any(_is_speakable(s) for s in symbols):
        raise ValueError(f"`text` has nothing speakable: {text!r} gives the symbols {symbols}.")
    return symbols


class TextFrontend:
    """English text -> int32 text ids `[N + 2]`: `<bos>`, phoneme ids, `<eos>`.

    Args:
        symbol_table: a `SymbolTable`, or a dict `{symbol: id}` (its `to_dict`).
        language: the eSpeak NG language code ("en-us" for USLM).

    A text whose phonemes include a symbol the table lacks is a ValueError
    naming the word and the symbol (no fallback: a substitute phoneme would
    silently say something else).

    Example:
    ```python
    frontend = TextFrontend(SymbolTable.from_file("unique_text_tokens.k2symbols"))
    frontend("Hello, world!")  # int32 [13]: <bos> h ə l oʊ , _ w ɜː l d ! <eos>
    ```
    """

    def __init__(self, symbol_table, language="en-us"):
        if isinstance(symbol_table, dict):
            symbol_table = SymbolTable.from_dict(symbol_table)
        if not isinstance(symbol_table, SymbolTable):
            raise ValueError(
                "`symbol_table` must be a SymbolTable or a dict {symbol: id}; "
                f"got {type(symbol_table).__name__}."
            )
        self.symbol_table = symbol_table
        self.language = language

    def symbols(self, text):
        """The phoneme symbols of `text`, checked against the table."""
        symbols = text_to_symbols(text, self.language)
        missing = [s for s in dict.fromkeys(symbols) if s not in self.symbol_table]
        if missing:
            raise ValueError(self._missing_message(text, missing[0]))
        return symbols

    def __call__(self, text):
        """int32 ids `[N + 2]` of `text`: `<bos>`, its phonemes, `<eos>`."""
        return self.symbol_table.encode([BOS, *self.symbols(text), EOS])

    def _missing_message(self, text, symbol):
        """Names the first word of `text` whose own phonemes hold `symbol`."""
        for word in text.split():
            word = word.strip(string.punctuation + PUNCTUATION_MARKS) or word
            try:
                if symbol in text_to_symbols(word, self.language):
                    return (
                        f"The word {word!r} gives the phoneme symbol {symbol!r}, which the "
                        f"symbol table lacks (in {text!r})."
                    )
            except ValueError:
                continue
        return f"{text!r} gives the phoneme symbol {symbol!r}, which the symbol table lacks."
